import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { copyFileSync, existsSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';

const require = createRequire(import.meta.url);

export interface KitchenSinkOptions {
  /** Rows in the main STRICT table (default 2000); the other tables scale with it. */
  rows?: number;
  /** Leave committed transactions in the `-wal` file, not checkpointed into the main file (default true). */
  walContent?: boolean;
  /** Delete some rows so the file has free pages for a vacuum to reclaim (default true). */
  freePages?: boolean;
}

export interface KitchenSinkDatabase {
  path: string;
  /** Every table (ordinary, WITHOUT ROWID, STRICT, virtual and FTS5 shadow) the file holds. */
  tables: string[];
  /** Bytes in the `-wal` file after creation (> 0 with `walContent`). */
  walBytes: number;
}

/**
 * The schema of the kitchen-sink database: everything a generic job must cope with on a
 * database it did not design. `page_size` and `auto_vacuum` are set before the first table.
 */
const KITCHEN_SINK_SCHEMA = `
  CREATE TABLE sensors (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    kind TEXT NOT NULL CHECK (kind IN ('temp', 'humidity', 'pressure'))
  ) STRICT;
  CREATE TABLE readings (
    id INTEGER PRIMARY KEY,
    sensor_id INTEGER NOT NULL REFERENCES sensors(id),
    kelvin REAL NOT NULL,
    raw BLOB,
    note TEXT,
    celsius REAL GENERATED ALWAYS AS (round(kelvin - 273.15, 3)) VIRTUAL,
    label TEXT GENERATED ALWAYS AS ('r-' || id || '-' || sensor_id) STORED
  ) STRICT;
  CREATE TABLE tags (name TEXT PRIMARY KEY, weight INTEGER NOT NULL DEFAULT 1) WITHOUT ROWID;
  CREATE TABLE reading_tags (
    reading_id INTEGER NOT NULL REFERENCES readings(id) ON DELETE CASCADE,
    tag TEXT NOT NULL REFERENCES tags(name),
    PRIMARY KEY (reading_id, tag)
  ) WITHOUT ROWID;
  CREATE TABLE events (id INTEGER PRIMARY KEY AUTOINCREMENT, kind TEXT NOT NULL, reading_id INTEGER, at TEXT NOT NULL);
  CREATE TABLE attachments (id INTEGER PRIMARY KEY, name TEXT NOT NULL, data BLOB NOT NULL);
  CREATE TABLE "odd name; table" ("select" TEXT, "a""quote" INTEGER, [bracket col] REAL);
  CREATE VIRTUAL TABLE notes_fts USING fts5(title, body, tokenize = 'porter unicode61');
  CREATE INDEX readings_hot ON readings(kelvin) WHERE kelvin > 300;
  CREATE INDEX readings_note_lower ON readings(lower(note));
  CREATE INDEX readings_sensor ON readings(sensor_id, kelvin DESC);
  CREATE INDEX events_kind ON events(kind) WHERE kind <> 'insert';
  CREATE TRIGGER readings_audit AFTER INSERT ON readings BEGIN
    INSERT INTO events (kind, reading_id, at) VALUES ('insert', NEW.id, '2026-01-01T00:00:00Z');
  END;
  CREATE TRIGGER readings_hot_alert AFTER UPDATE OF kelvin ON readings WHEN NEW.kelvin > 330 BEGIN
    INSERT INTO events (kind, reading_id, at) VALUES ('hot', NEW.id, '2026-01-01T00:00:00Z');
  END;
  CREATE VIEW hot_readings AS
    SELECT r.id, s.name AS sensor, r.celsius FROM readings r JOIN sensors s ON s.id = r.sensor_id WHERE r.kelvin > 300;
  CREATE VIEW tag_counts AS SELECT tag, count(*) AS n FROM reading_tags GROUP BY tag;
`;

/** The child script that fills it (argv: path, first id, row count, 'kill'), deterministic: no randomness, no clock. */
const FILL_SCRIPT = `
    const Database = require(${JSON.stringify(require.resolve('better-sqlite3'))});
    const [path, first, count, kill] = process.argv.slice(1);
    const db = new Database(path, { fileMustExist: true });
    db.pragma('wal_autocheckpoint = 0');
    db.pragma('foreign_keys = ON');
    const f = Number(first), n = Number(count);
    const words = ['alpha', 'bravo', 'charlie', 'delta', 'echo', 'foxtrot', 'golf', 'hotel', 'india', 'juliet'];
    db.transaction(() => {
      const sensor = db.prepare('INSERT OR IGNORE INTO sensors (id, name, kind) VALUES (?, ?, ?)');
      for (let s = 1; s <= 20; s++) sensor.run(s, 'sensor-' + s, ['temp', 'humidity', 'pressure'][s % 3]);
      const tag = db.prepare('INSERT OR IGNORE INTO tags (name, weight) VALUES (?, ?)');
      for (let t = 0; t < words.length; t++) tag.run(words[t], t + 1);
      const reading = db.prepare('INSERT INTO readings (id, sensor_id, kelvin, raw, note) VALUES (?, ?, ?, ?, ?)');
      const rt = db.prepare('INSERT INTO reading_tags (reading_id, tag) VALUES (?, ?)');
      const fts = db.prepare('INSERT INTO notes_fts (rowid, title, body) VALUES (?, ?, ?)');
      const odd = db.prepare('INSERT INTO "odd name; table" VALUES (?, ?, ?)');
      for (let i = f; i < f + n; i++) {
        const raw = i % 7 === 0 ? null : Buffer.from(Array.from({ length: 16 + (i % 48) }, (_, k) => (i * 31 + k) & 255));
        const note = i % 5 === 0 ? null : words[i % 10] + ' ' + words[(i * 3) % 10] + ' reading ' + i;
        reading.run(i, 1 + (i % 20), 250 + ((i * 7919) % 10000) / 100, raw, note);
        rt.run(i, words[i % 10]);
        if (i % 3 === 0) rt.run(i, words[(i + 4) % 10]);
        fts.run(i, 'Note ' + i + ' ' + words[i % 10], words.slice(0, 1 + (i % 10)).join(' ') + ' running runs ran ' + i);
        if (i % 50 === 0) odd.run("it's " + i, i, i / 8);
      }
      db.prepare('UPDATE readings SET kelvin = kelvin + 40 WHERE id % 97 = 0 AND id >= ?').run(f);
      const att = db.prepare('INSERT INTO attachments (name, data) VALUES (?, ?)');
      for (let a = 0; a < Math.max(4, Math.floor(n / 100)); a++) {
        const size = 20000 + ((f + a) * 4099) % 60000;
        const data = Buffer.alloc(size);
        for (let k = 0; k < size; k++) data[k] = (k * 13 + a + f) & 255;
        att.run('file-' + (f + a) + '.bin', data);
      }
    })();
    if (kill === 'kill') { process.stdout.write('committed\\n'); process.kill(process.pid, 'SIGKILL'); }
    db.close();
  `;

function runFill(path: string, first: number, count: number, kill: boolean): void {
  const r = spawnSync(process.execPath, ['-e', FILL_SCRIPT, path, String(first), String(count), kill ? 'kill' : ''], {
    encoding: 'utf8',
  });
  const ok = kill ? r.signal === 'SIGKILL' && r.stdout.includes('committed') : r.status === 0;
  if (!ok) throw new Error(`kitchen-sink fill failed (${r.status ?? r.signal}): ${r.stderr}`);
}

/**
 * Creates a database at `path` (which must not exist) with everything a generic job must handle on
 * a schema it did not design: STRICT tables, WITHOUT ROWID tables (one with a composite key),
 * virtual (VIRTUAL) and STORED generated columns, an FTS5 table and its shadow tables,
 * AUTOINCREMENT (`sqlite_sequence`), partial and expression indexes, triggers, views, foreign keys,
 * blobs large enough to live on overflow pages, an awkwardly quoted table name, `page_size` 8192,
 * `auto_vacuum = INCREMENTAL`, free pages and — with `walContent` — committed transactions still
 * in the `-wal` file (a writer killed with SIGKILL before any checkpoint), so a job that copies the
 * main file alone would miss rows.
 *
 * ### Examples
 * ```ts
 * const sink = createKitchenSinkDatabase(t.path('sink.db'));
 * const before = tableContents(sink.path);
 * // … run a job …
 * expect(tableContents(sink.path)).toEqual(before);
 * ```
 */
export function createKitchenSinkDatabase(path: string, options: KitchenSinkOptions = {}): KitchenSinkDatabase {
  if (existsSync(path)) throw new Error(`createKitchenSinkDatabase: ${path} already exists`);
  const rows = options.rows ?? 2000;
  const db = new Database(path);
  try {
    db.pragma('page_size = 8192');
    db.pragma('auto_vacuum = INCREMENTAL');
    db.pragma('journal_mode = WAL');
    db.exec(KITCHEN_SINK_SCHEMA);
  } finally {
    db.close();
  }
  const walRows = options.walContent === false ? 0 : Math.max(10, Math.floor(rows / 10));
  runFill(path, 1, rows - walRows, false);
  if (options.freePages !== false) {
    const d = new Database(path);
    try {
      d.pragma('foreign_keys = ON');
      d.exec('DELETE FROM attachments WHERE id % 2 = 0');
      d.pragma('wal_checkpoint(TRUNCATE)');
    } finally {
      d.close();
    }
  }
  if (walRows > 0) runFill(path, rows - walRows + 1, walRows, true);
  const check = new Database(path, { readonly: true });
  let tables: string[];
  try {
    tables = check
      .prepare("SELECT name FROM sqlite_schema WHERE type = 'table' ORDER BY name")
      .pluck()
      .all() as string[];
  } finally {
    check.close();
  }
  const wal = `${path}-wal`;
  return { path, tables, walBytes: existsSync(wal) ? statSync(wal).size : 0 };
}

/**
 * A SHA-256 of each table's rows, keyed by table name: every table in `sqlite_schema` (ordinary,
 * WITHOUT ROWID, virtual, FTS5 shadow tables, `sqlite_sequence`), rows ordered by all their
 * columns so page layout does not matter. `sqlite_stat*` (which ANALYZE rewrites) is left out.
 * Compare before/after a job to prove it changed no table's content. Opens read-only, so
 * un-checkpointed WAL content counts.
 */
export function tableContents(path: string): Record<string, string> {
  const db = new Database(path, { readonly: true, fileMustExist: true });
  try {
    const tables = db
      .prepare("SELECT name FROM sqlite_schema WHERE type = 'table' AND name NOT LIKE 'sqlite_stat%' ORDER BY name")
      .pluck()
      .all() as string[];
    const out: Record<string, string> = {};
    for (const t of tables) {
      const q = `"${t.replaceAll('"', '""')}"`;
      const columns = (db.prepare(`SELECT * FROM ${q} LIMIT 0`).columns() as unknown[]).length;
      const order = Array.from({ length: columns }, (_, i) => i + 1).join(', ');
      const hash = createHash('sha256');
      let n = 0;
      for (const row of db.prepare(`SELECT * FROM ${q} ORDER BY ${order}`).raw().iterate() as Iterable<unknown[]>) {
        n++;
        for (const v of row) {
          if (Buffer.isBuffer(v)) hash.update(`b${v.length}:`).update(v);
          else hash.update(`${v === null ? 'n' : typeof v}:${String(v)}|`);
        }
        hash.update('\n');
      }
      out[t] = `${n}:${hash.digest('hex').slice(0, 16)}`;
    }
    return out;
  } finally {
    db.close();
  }
}

/** The committed Chinook sample database (see `fixtures/README.md`). Never open it in place. */
export const CHINOOK_FIXTURE = fileURLToPath(new URL('../fixtures/Chinook_Sqlite.sqlite', import.meta.url));

/** Copies the Chinook sample database to `dir/name` (default `chinook.db`) and returns its path. */
export function copyChinook(dir: string, name = 'chinook.db'): string {
  const target = join(dir, name);
  copyFileSync(CHINOOK_FIXTURE, target);
  return target;
}
