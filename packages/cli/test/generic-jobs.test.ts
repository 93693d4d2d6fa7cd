import { copyChinook, createKitchenSinkDatabase, snapshotDir, tableContents, tempDir } from '@ora/testkit';
import Database from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { oraDb } from './run-cli.js';

// SPEC §6: every generic job on databases this toolkit did not design — the public Chinook sample
// (DELETE journal mode, page size 4096, foreign keys) and the generated kitchen sink (FTS5,
// WITHOUT ROWID, STRICT, generated columns, triggers, views, overflow blobs, page size 8192,
// auto_vacuum=INCREMENTAL, committed rows still in the WAL). Each job must leave every table's
// content identical, and the journal mode as it was.

let t: ReturnType<typeof tempDir>;
beforeEach(() => {
  t = tempDir();
});
afterEach(() => t.cleanup());

function journalMode(path: string): string {
  const db = new Database(path, { readonly: true });
  try {
    return String(db.pragma('journal_mode', { simple: true }));
  } finally {
    db.close();
  }
}

/** Adds free pages without changing any table's content: a scratch table, filled and dropped. */
function addFreePages(path: string): void {
  const db = new Database(path);
  try {
    db.exec(
      'CREATE TABLE scratch (b BLOB); WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 400) INSERT INTO scratch SELECT zeroblob(3000) FROM n;',
    );
    db.exec('DROP TABLE scratch');
  } finally {
    db.close();
  }
}

/** The schema objects (tables, indexes, views, triggers) and their statements, by name. */
function schemaOf(path: string): unknown[] {
  const db = new Database(path, { readonly: true });
  try {
    return db
      .prepare(
        "SELECT type, name, tbl_name, sql FROM sqlite_schema WHERE name NOT LIKE 'sqlite_stat%' ORDER BY type, name",
      )
      .all();
  } finally {
    db.close();
  }
}

/**
 * The kitchen sink in a rollback journal (DELETE mode, as Python's sqlite3 and the sqlite3 shell
 * leave a file), with an FTS4 and an R*Tree table besides its FTS5 index: a live restore takes the
 * row-by-row path there, which must bring every virtual table back with its shadow tables.
 */
function rollbackKitchenSink(dir: string): string {
  const path = createKitchenSinkDatabase(`${dir}/sink.db`, { walContent: false }).path;
  const db = new Database(path);
  try {
    db.pragma('journal_mode = DELETE');
    db.exec(`
      CREATE VIRTUAL TABLE docs_fts4 USING fts4(title, body);
      CREATE VIRTUAL TABLE boxes USING rtree(id, minx, maxx, miny, maxy);
    `);
    const words = ['amber', 'basalt', 'cobalt', 'dune', 'ember'];
    const doc = db.prepare('INSERT INTO docs_fts4 (title, body) VALUES (?, ?)');
    const box = db.prepare('INSERT INTO boxes VALUES (?, ?, ?, ?, ?)');
    db.transaction(() => {
      for (let i = 0; i < 300; i++) {
        doc.run(`doc ${i}`, `${words[i % 5]} ${words[(i * 3) % 5]} ${i}`);
        box.run(i, i, i + 2, i / 2, i / 2 + 1);
      }
    })();
  } finally {
    db.close();
  }
  return path;
}

/** The kitchen sink's later changes: every kind of table, a view and a virtual table's rows. */
const SINK_CHANGES = `
  INSERT INTO notes_fts (title, body) VALUES ('later', 'alpha later');
  DELETE FROM notes_fts WHERE rowid IN (SELECT rowid FROM notes_fts LIMIT 10);
  INSERT INTO events (kind, at) VALUES ('later', '2026-12-01');
  UPDATE tags SET weight = weight + 1 WHERE name IN (SELECT name FROM tags LIMIT 3);
  DELETE FROM attachments WHERE id IN (SELECT id FROM attachments LIMIT 2);
  DROP VIEW tag_counts;
  CREATE TABLE later_table (q);
  INSERT INTO later_table VALUES (1);
`;

const databases = [
  {
    name: 'Chinook',
    make: (dir: string) => {
      const path = copyChinook(dir);
      addFreePages(path);
      return path;
    },
    journal: 'delete',
    fkFailure: 'DELETE FROM Artist WHERE ArtistId = 1',
    select: 'SELECT * FROM Track WHERE Composer LIKE ?',
    params: '["%Mercury%"]',
    vacuumMode: 'full',
    changes: `
      INSERT INTO Artist (Name) VALUES ('later');
      UPDATE Track SET Composer = 'later' WHERE TrackId < 20;
      DELETE FROM PlaylistTrack WHERE PlaylistId = 1;
      CREATE TABLE later_table (q);
    `,
    restoreMethod: 'rows',
    queries: ["SELECT TrackId FROM Track WHERE Composer LIKE '%Mercury%' ORDER BY TrackId"],
  },
  {
    name: 'kitchen sink',
    make: (dir: string) => createKitchenSinkDatabase(`${dir}/sink.db`).path,
    journal: 'wal',
    fkFailure: 'DELETE FROM sensors WHERE id = 1',
    select: "SELECT rowid, title FROM notes_fts WHERE notes_fts MATCH 'charlie'",
    params: undefined,
    vacuumMode: 'incremental',
    changes: SINK_CHANGES,
    restoreMethod: 'pages',
    queries: ["SELECT rowid FROM notes_fts WHERE notes_fts MATCH 'alpha OR delta' ORDER BY rowid"],
  },
  {
    name: 'kitchen sink in DELETE mode with FTS4 and R*Tree',
    make: rollbackKitchenSink,
    journal: 'delete',
    fkFailure: 'DELETE FROM sensors WHERE id = 1',
    select: "SELECT docid FROM docs_fts4 WHERE docs_fts4 MATCH 'cobalt'",
    params: undefined,
    vacuumMode: 'incremental',
    changes: `${SINK_CHANGES}
      DELETE FROM boxes WHERE id < 100;
      DROP TABLE docs_fts4;
    `,
    restoreMethod: 'rows',
    queries: [
      "SELECT rowid FROM notes_fts WHERE notes_fts MATCH 'alpha OR delta' ORDER BY rowid",
      "SELECT docid FROM docs_fts4 WHERE docs_fts4 MATCH 'cobalt' ORDER BY docid",
      'SELECT id FROM boxes WHERE minx >= 100 AND maxx <= 150 ORDER BY id',
    ],
  },
] as const;

/** What each of `queries` answers on the database at `path`. */
function answers(path: string, queries: readonly string[]): unknown[][] {
  const db = new Database(path, { readonly: true });
  try {
    return queries.map((q) => db.prepare(q).pluck().all());
  } finally {
    db.close();
  }
}

describe.each(databases)('generic jobs on the $name database', (d) => {
  it('health-check, maintenance, vacuum, metrics, diagnose and explain leave every table and the journal mode as they were', async () => {
    const db = d.make(t.dir);
    const before = tableContents(db);
    expect(journalMode(db)).toBe(d.journal);

    // The free pages made for weekly-vacuum below are no alarm here.
    const health = await oraDb([
      'health-check',
      '--db',
      db,
      '--full',
      '--free-warn-pct',
      '90',
      '--free-critical-pct',
      '95',
      '--json',
    ]);
    expect(health.code).toBe(0);
    const h = health.json();
    expect(h).toMatchObject({ status: 'ok', schemaKind: 'foreign', journalMode: d.journal, integrity: { ok: true } });
    expect(JSON.stringify(h.checks)).not.toMatch(/migrate|init/);

    const maintenance = await oraDb(['daily-maintenance', '--db', db, '--json']);
    expect(maintenance.code).toBe(0);
    expect(maintenance.json()).toMatchObject({
      status: 'ok',
      journalMode: d.journal,
      journal: { before: d.journal, after: d.journal, changed: false },
      integrity: { ok: true },
    });
    expect(tableContents(db)).toEqual(before);

    const vacuum = await oraDb(['weekly-vacuum', '--db', db, '--force', '--vacuum-threshold-pct', '1', '--json']);
    expect(vacuum.code).toBe(0);
    const v = vacuum.json();
    expect(v).toMatchObject({ status: 'ok', mode: d.vacuumMode, journalMode: d.journal, integrity: { ok: true } });
    expect(v.vacuum.pagesFreed).toBeGreaterThan(0);
    expect(tableContents(db)).toEqual(before);

    const metrics = await oraDb(['metrics', '--db', db, '--json']);
    expect(metrics.code).toBe(0);
    const m = metrics.json();
    expect(m.knownQueriesSkipped).toMatch(/^not an ORA database/);
    expect(m.indexUsage.errors).toEqual([]);
    expect(m.tables.length).toBeGreaterThan(5);
    expect(metrics.logs.filter((l) => l.code === 'UNEXPECTED')).toEqual([]);
    const human = await oraDb(['metrics', '--db', db]);
    expect(human.out).toMatch(/note: not an ORA database .*the ORA known queries were skipped/);

    const locks = await oraDb(['diagnose', 'locks', '--db', db, '--json']);
    expect(locks.code).toBe(0);
    expect(locks.json()).toMatchObject({ journalMode: d.journal, writeLock: { available: true } });
    expect((await oraDb(['diagnose', 'locks', '--db', db])).out).toContain(`journal mode ${d.journal} (unchanged)`);

    const fk = await oraDb(['diagnose', 'fk', '--db', db, '--json']);
    expect(fk.code).toBe(0);

    const explain = await oraDb([
      'explain',
      d.select,
      '--db',
      db,
      ...(d.params ? ['--params', d.params] : []),
      '--json',
    ]);
    expect(explain.code).toBe(0);
    expect(explain.json().rows).toBeGreaterThan(0);

    // A FOREIGN KEY failure of the operator's own statement is a clear error, not an unexpected one.
    const failing = await oraDb(['explain', d.fkFailure, '--db', db, '--allow-write']);
    expect(failing.code).toBe(2);
    expect(failing.logs.at(-1)?.code).toBe('INVALID_INPUT');
    expect(failing.logs.at(-1)?.msg).toMatch(
      /^the statement failed: FOREIGN KEY constraint failed \(SQLITE_CONSTRAINT_FOREIGNKEY\); it ran inside a transaction that was rolled back, nothing changed/,
    );
    const missing = await oraDb(['explain', 'SELECT * FROM no_such_table', '--db', db]);
    expect(missing.code).toBe(2);
    expect(missing.logs.at(-1)?.msg).toMatch(/^invalid SQL: no such table: no_such_table/);

    expect(tableContents(db)).toEqual(before);
    expect(journalMode(db)).toBe(d.journal);
  });

  // Five CLI runs in a row: 30 s was too short once with the suites side by side on two loaded cores.
  it('backup, list, verify and restore --to give back every table unchanged', { timeout: 120_000 }, async () => {
    const db = d.make(t.dir);
    const before = tableContents(db);
    const dir = t.path('backups');
    const backup = await oraDb(['backup', '--db', db, '--backup-dir', dir, '--json']);
    expect(backup.code).toBe(0);
    const id = backup.json().backupId ?? backup.json().manifest?.id;
    const list = await oraDb(['backup', 'list', '--backup-dir', dir, '--json']);
    expect(list.json()).toMatchObject({ count: 1 });
    const verify = await oraDb(['backup', 'verify', 'latest', '--backup-dir', dir, '--json']);
    expect(verify.code).toBe(0);
    const target = t.path('restored.db');
    const restore = await oraDb(['restore', 'latest', '--db', db, '--backup-dir', dir, '--to', target, '--json']);
    expect(restore.code).toBe(0);
    expect(tableContents(target)).toEqual(before);
    expect(tableContents(db)).toEqual(before);
    expect(journalMode(db)).toBe(d.journal);
    expect(id).toBeTruthy();
  });

  // SPEC §6: the live restore and recover on a schema this toolkit did not design. The live
  // database moves on after the backup (rows of every kind, a view, a table added, a virtual
  // table's rows); the restore must give back exactly the backup and keep what it replaced.
  it('a live restore and recover --force give back every table, index, view and trigger unchanged, the journal mode kept', {
    timeout: 120_000,
  }, async () => {
    const db = d.make(t.dir);
    const before = tableContents(db);
    const schema = schemaOf(db);
    const expected = answers(db, d.queries);
    for (const a of expected) expect(a.length).toBeGreaterThan(0);
    const dir = t.path('backups');
    expect((await oraDb(['backup', '--db', db, '--backup-dir', dir, '--json'])).code).toBe(0);
    const live = new Database(db);
    live.exec(d.changes);
    live.close();
    const replaced = tableContents(db);
    expect(replaced).not.toEqual(before);

    const restore = await oraDb(['restore', 'latest', '--db', db, '--backup-dir', dir, '--json']);
    expect(restore.code).toBe(0);
    const r = restore.json();
    expect(r).toMatchObject({ mode: 'live', method: d.restoreMethod });
    expect(r.archivedOrders).toBeUndefined(); // not an ORA database: nothing to count
    expect(tableContents(db)).toEqual(before);
    expect(schemaOf(db)).toEqual(schema);
    expect(answers(db, d.queries)).toEqual(expected);
    expect(tableContents(r.preRestoreCopy)).toEqual(replaced);
    expect(journalMode(db)).toBe(d.journal);
    const check = new Database(db);
    try {
      expect(check.pragma('integrity_check', { simple: true })).toBe('ok');
      expect(check.pragma('foreign_key_check')).toEqual([]);
    } finally {
      check.close();
    }

    // A healthy file salvaged on request: its copy is not called corrupted, the output is whole.
    const recovered = await oraDb(['recover', '--db', db, '--force', '--json']);
    expect(recovered.code).toBe(0);
    const rec = recovered.json();
    expect(rec.emergencyCopy[0]).toMatch(/\/ora_before_recover_[^/]+\.db$/);
    expect(JSON.stringify(rec)).not.toContain('ora_corrupted_');
    expect(tableContents(rec.output)).toEqual(before);
    expect(schemaOf(rec.output)).toEqual(schema);
    expect(answers(rec.output, d.queries)).toEqual(expected);
    expect(tableContents(db)).toEqual(before);
  });

  it('the ORA commands refuse it with one line naming what is missing, and change nothing on disk', async () => {
    const db = d.make(t.dir);
    const backups = t.path('backups');
    const files = () => {
      const { [`${db.split('/').pop()}.ora-job-lock`]: _lock, ...rest } = snapshotDir(t.dir, {
        ignoreCompanions: true,
      });
      return rest;
    };
    const before = files();
    const cases: [string[], RegExp][] = [
      [
        ['archive', '--db', db, '--before', '2020-01-01'],
        /^archive needs the ORA schema, but .* is not an ORA database: it has none of the ORA tables \(inventory_current, .*shipped_orders.*\)/,
      ],
      [['archive', '--db', db, '--before', '2020-01-01', '--dry-run'], /^archive needs the ORA schema/],
      [['archive', '--db', db, '--before', '2020-01-01', '--export', 'csv'], /^archive needs the ORA schema/],
      [['inventory', 'levels', '--db', db], /^inventory needs the ORA schema, but .* is not an ORA database/],
      [['inventory', 'receive', 'SKU-1', '5', '--db', db], /^inventory needs the ORA schema/],
      [
        ['migrate', '--db', db, '--backup-dir', backups],
        /^migrate needs the ORA schema, but .* is not an ORA database/,
      ],
      [['migrate', '--db', db, '--backup-dir', backups, '--dry-run'], /^migrate needs the ORA schema/],
      [['init', '--db', db], /^refusing to init .*: it is not an ORA database/],
      [['seed', '--db', db, '--size', 'tiny'], /^refusing to init .*: it is not an ORA database/],
    ];
    for (const [args, message] of cases) {
      const r = await oraDb(args);
      expect(r.code, args.join(' ')).toBe(3);
      const error = r.logs.at(-1);
      expect(error?.code, args.join(' ')).toMatch(/^NOT_ORA_SCHEMA$/);
      expect(error?.msg, args.join(' ')).toMatch(message);
      expect(files(), args.join(' ')).toEqual(before);
    }
    expect(tableContents(db)).toBeTruthy();
  });
});
