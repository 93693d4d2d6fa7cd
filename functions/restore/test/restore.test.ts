import { spawn } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createOraDatabase } from '@ora/core/testing';
import {
  bundleRunner,
  bundleRunnerAsync,
  contentHash,
  createKitchenSinkDatabase,
  holdLock,
  missingWriterRows,
  startWriter,
  tableContents,
  tempDir,
} from '@ora/testkit';
import Database from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';

const require = createRequire(import.meta.url);
const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const restore = bundleRunner(root);
const restoreAsync = bundleRunnerAsync(root);
const backup = bundleRunner(join(root, '../backup'));
const archive = bundleRunner(join(root, '../archive'));

let t: ReturnType<typeof tempDir>;
let db: string;
let dir: string;
beforeEach(() => {
  t = tempDir();
  db = t.path('ora.db');
  dir = t.path('backups');
});
afterEach(() => t.cleanup());

const count = (path: string, table = 'workflows') => {
  const raw = new Database(path, { readonly: true });
  try {
    return raw.prepare(`SELECT count(*) FROM ${table}`).pluck().get() as number;
  } finally {
    raw.close();
  }
};

function addWorkflows(path: string, n: number, prefix: string): void {
  const raw = new Database(path);
  const insert = raw.prepare("INSERT INTO workflows (name, status) VALUES (?, 'ok')");
  raw.transaction(() => {
    for (let i = 0; i < n; i++) insert.run(`${prefix}-${i}`);
  })();
  raw.close();
}

/** Leaves committed rows only in the -wal, as a process killed before its checkpoint would. */
async function leaveWalBehind(path: string, n: number): Promise<void> {
  const script = `
    const Database = require(${JSON.stringify(require.resolve('better-sqlite3'))});
    const db = new Database(${JSON.stringify(path)});
    db.pragma('wal_autocheckpoint = 0');
    const ins = db.prepare("INSERT INTO workflows (name, status) VALUES (?, 'wal')");
    db.transaction(() => { for (let i = 0; i < ${n}; i++) ins.run('wal-' + i); })();
    process.stdout.write('done\\n');
    setInterval(() => {}, 1000);`;
  const child = spawn(process.execPath, ['-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
  await new Promise<void>((r) => child.stdout.on('data', (d) => String(d).includes('done') && r()));
  child.kill('SIGKILL');
  await new Promise((r) => child.once('exit', r));
}

describe('restore into the live database', () => {
  it('restores the backup exactly, keeping the replaced database (with its WAL content) as a copy', async () => {
    createOraDatabase(db, 200);
    const id = backup(['--db', db, '--backup-dir', dir, '--json']).json().backupId;
    const backedUp = contentHash(db);
    addWorkflows(db, 5, 'after-backup');
    await leaveWalBehind(db, 7);
    expect(statSync(`${db}-wal`).size).toBeGreaterThan(0);
    const r = restore([id, '--db', db, '--backup-dir', dir, '--json']);
    expect(r.code).toBe(0);
    const result = r.json();
    expect(result).toMatchObject({ status: 'ok', mode: 'live', backupId: id });
    expect(contentHash(db)).toBe(backedUp);
    // The copy holds what was replaced: the 5 later rows and the 7 that were only in the WAL.
    expect(count(result.preRestoreCopy)).toBe(count(db) + 12);
    expect(statSync(result.preRestoreCopy).mode & 0o777).toBe(0o600);
    expect(new Database(db, { readonly: true }).pragma('integrity_check', { simple: true })).toBe('ok');
  });

  it('loses no committed write of a process writing throughout: each is in the restored database or the copy', async () => {
    createOraDatabase(db, 3000);
    const id = backup(['--db', db, '--backup-dir', dir, '--json']).json().backupId;
    const writer = await startWriter(db, { ratePerSecond: 200 });
    await new Promise((r) => setTimeout(r, 300));
    const r = await restoreAsync([id, '--db', db, '--backup-dir', dir, '--json']);
    await new Promise((r) => setTimeout(r, 300));
    const report = await writer.stop();
    expect(r.code).toBe(0);
    expect(report.failures).toBe(0);
    expect(report.commits).toBeGreaterThan(50);
    // Pages through the backup API; the copy was a snapshot plus the WAL frames committed since.
    expect(r.json()).toMatchObject({ method: 'pages', preRestoreCopyMethod: 'snapshot+wal' });
    // Rows committed before the restore are in the copy; rows committed after it are live.
    expect(missingWriterRows([db, r.json().preRestoreCopy], report.names)).toEqual([]);
    const live = missingWriterRows([db], report.names).length;
    expect(live).toBeGreaterThan(0);
    expect(live).toBeLessThan(report.names.length);
  });

  it('keeps the mode of the live database file', async () => {
    createOraDatabase(db, 50);
    chmodSync(db, 0o640);
    const id = backup(['--db', db, '--backup-dir', dir, '--json']).json().backupId;
    expect(restore([id, '--db', db, '--backup-dir', dir]).code).toBe(0);
    expect(statSync(db).mode & 0o777).toBe(0o640);
  });

  it('refuses, leaving the live database as it was, when the backup does not match its manifest', () => {
    createOraDatabase(db, 200);
    const id = backup(['--db', db, '--backup-dir', dir, '--json']).json().backupId;
    addWorkflows(db, 5, 'after-backup');
    const before = contentHash(db);
    // A manifest that promises one row more than the (intact, checksummed) artifact holds: found
    // in the verified copy, before the live database is touched.
    const manifestPath = join(dir, `${id}.json`);
    const manifest = JSON.parse(readFileSync(manifestPath, 'utf8'));
    manifest.snapshot.tables.workflows += 1;
    writeFileSync(manifestPath, JSON.stringify(manifest));
    const r = restore([id, '--db', db, '--backup-dir', dir]);
    expect(r.code).toBe(1);
    expect(r.logs.at(-1)?.code).toBe('BACKUP_INVALID');
    expect(r.logs.at(-1)?.msg).toMatch(
      /does not match its manifest \(row counts differ from the backup\); nothing was restored/,
    );
    expect(readdirSync(t.dir).filter((f) => f.startsWith('ora_before_restore_'))).toEqual([]);
    expect(contentHash(db)).toBe(before);
    expect(new Database(db, { readonly: true }).pragma('integrity_check', { simple: true })).toBe('ok');
  });

  it('restores every kind of schema object exactly: rowids, AUTOINCREMENT counters, WITHOUT ROWID and generated columns, views, triggers, statistics', () => {
    createOraDatabase(db, 50);
    const raw = new Database(db);
    raw.exec(`
      CREATE TABLE extra_ai (id INTEGER PRIMARY KEY AUTOINCREMENT, v TEXT);
      INSERT INTO extra_ai (v) VALUES ('a'), ('b'), ('c'), ('d');
      DELETE FROM extra_ai WHERE id IN (2, 4);
      CREATE TABLE kv (k TEXT PRIMARY KEY, v BLOB) WITHOUT ROWID;
      CREATE TABLE strict_kv (k INTEGER PRIMARY KEY, v TEXT NOT NULL) WITHOUT ROWID, STRICT;
      INSERT INTO strict_kv VALUES (1, 'one'), (2, 'two');
      INSERT INTO kv VALUES ('x', x'00ff'), ('y', NULL);
      CREATE TABLE gen (a INT, b INT GENERATED ALWAYS AS (a * 2) STORED, c INT GENERATED ALWAYS AS (a + 1) VIRTUAL);
      INSERT INTO gen (a) VALUES (1), (2), (3);
      CREATE TABLE plain (x);
      INSERT INTO plain VALUES (1), (2), (3), (4);
      DELETE FROM plain WHERE x = 2;
      CREATE VIEW v_ai AS SELECT v FROM extra_ai;
      CREATE TRIGGER kv_audit AFTER INSERT ON kv BEGIN INSERT INTO extra_ai (v) VALUES ('audit ' || NEW.k); END;
      CREATE INDEX gen_b ON gen (b);
      ANALYZE;
    `);
    raw.close();
    const id = backup(['--db', db, '--backup-dir', dir, '--json']).json().backupId;
    const snapshot = (path: string) => {
      const d = new Database(path, { readonly: true });
      try {
        const schema = d.prepare('SELECT type, name, tbl_name, sql FROM sqlite_schema ORDER BY type, name').all();
        const tables = d.prepare("SELECT name, sql FROM sqlite_schema WHERE type = 'table'").all() as {
          name: string;
          sql: string;
        }[];
        const rows = Object.fromEntries(
          tables.map(({ name, sql }) => [
            name,
            d
              .prepare(
                /WITHOUT ROWID/i.test(sql)
                  ? `SELECT * FROM "${name}" ORDER BY 1`
                  : `SELECT rowid, * FROM "${name}" ORDER BY rowid`,
              )
              .raw()
              .all(),
          ]),
        );
        return { schema, rows, userVersion: d.pragma('user_version', { simple: true }) };
      } finally {
        d.close();
      }
    };
    const expected = snapshot(db);
    // The live database moves on: rows, a new table, a dropped view, another trigger.
    const live = new Database(db);
    live.exec(`
      INSERT INTO extra_ai (v) VALUES ('later');
      INSERT INTO kv VALUES ('z', 1);
      DELETE FROM plain;
      DROP VIEW v_ai;
      CREATE TABLE later_table (q);
      INSERT INTO later_table VALUES (1);
      CREATE TRIGGER plain_trg AFTER DELETE ON plain BEGIN SELECT 1; END;
    `);
    live.close();
    const r = restore([id, '--db', db, '--backup-dir', dir]);
    expect(r.code).toBe(0);
    expect(snapshot(db)).toEqual(expected);
    // The AUTOINCREMENT counter came back too, and the trigger works again.
    const after = new Database(db);
    after.exec("INSERT INTO kv VALUES ('w', 2)");
    expect(after.prepare("SELECT id FROM extra_ai WHERE v = 'audit w'").pluck().get()).toBe(5);
    expect(after.pragma('integrity_check', { simple: true })).toBe('ok');
    expect(after.pragma('foreign_key_check')).toEqual([]);
    after.close();
  });

  it('restores everything a database can hold: FTS5, FTS4 and R*Tree with their shadow tables, STRICT, WITHOUT ROWID, generated columns, AUTOINCREMENT, triggers, views; each table identical and MATCH answering', async () => {
    createKitchenSinkDatabase(db, { rows: 1500 });
    const raw = new Database(db);
    raw.exec(`
      CREATE VIRTUAL TABLE docs_fts4 USING fts4(title, body);
      CREATE VIRTUAL TABLE boxes USING rtree(id, minx, maxx, miny, maxy);
    `);
    const words = ['amber', 'basalt', 'cobalt', 'dune', 'ember'];
    raw.transaction(() => {
      for (let i = 0; i < 400; i++) {
        raw
          .prepare('INSERT INTO docs_fts4 (title, body) VALUES (?, ?)')
          .run(`doc ${i}`, `${words[i % 5]} ${words[(i * 3) % 5]} ${i}`);
        raw.prepare('INSERT INTO boxes VALUES (?, ?, ?, ?, ?)').run(i, i, i + 2, i / 2, i / 2 + 1);
      }
    })();
    raw.close();
    const queries = (path: string) => {
      const d = new Database(path, { readonly: true });
      try {
        return {
          fts5: d
            .prepare("SELECT rowid FROM notes_fts WHERE notes_fts MATCH 'alpha OR delta' ORDER BY rowid")
            .pluck()
            .all(),
          fts4: d.prepare("SELECT docid FROM docs_fts4 WHERE docs_fts4 MATCH 'cobalt' ORDER BY docid").pluck().all(),
          rtree: d.prepare('SELECT id FROM boxes WHERE minx >= 100 AND maxx <= 150 ORDER BY id').pluck().all(),
        };
      } finally {
        d.close();
      }
    };
    const r0 = backup(['--db', db, '--backup-dir', dir, '--json']);
    expect(r0.code).toBe(0);
    const id = r0.json().backupId;
    const expected = tableContents(db);
    const expectedQueries = queries(db);
    expect(expectedQueries.fts5.length).toBeGreaterThan(0);
    expect(expectedQueries.fts4.length).toBeGreaterThan(0);
    expect(expectedQueries.rtree.length).toBe(49);
    // The live database moves on: every kind of object changes, one virtual table goes away.
    const live = new Database(db);
    live.exec(`
      INSERT INTO notes_fts (title, body) VALUES ('later', 'alpha later');
      DELETE FROM notes_fts WHERE rowid IN (SELECT rowid FROM notes_fts LIMIT 10);
      DELETE FROM boxes WHERE id < 200;
      DROP TABLE docs_fts4;
      INSERT INTO events (kind, at) VALUES ('later', '2026-12-01');
      UPDATE tags SET weight = weight + 1 WHERE name IN (SELECT name FROM tags LIMIT 3);
      DROP VIEW tag_counts;
      CREATE TABLE later_table (q);
    `);
    live.close();
    const replaced = tableContents(db);
    const r = await restoreAsync([id, '--db', db, '--backup-dir', dir, '--json']);
    if (r.code !== 0) console.log(r.stderr);
    expect(r.code).toBe(0);
    expect(r.json()).toMatchObject({ method: 'pages', preRestoreCopyMethod: 'snapshot+wal' });
    expect(tableContents(db)).toEqual(expected);
    expect(queries(db)).toEqual(expectedQueries);
    // The copy holds exactly what was replaced.
    expect(tableContents(r.json().preRestoreCopy)).toEqual(replaced);
    const after = new Database(db);
    expect(after.pragma('integrity_check', { simple: true })).toBe('ok');
    after.exec("INSERT INTO notes_fts (notes_fts) VALUES ('integrity-check')");
    after.exec("INSERT INTO docs_fts4 (docs_fts4) VALUES ('integrity-check')");
    expect(after.pragma('page_size', { simple: true })).toBe(8192);
    after.close();
  });

  it('says how many restored orders also sit in the yearly archives, and what to run; archiving again then removes them from the live database', async () => {
    createOraDatabase(db, 400);
    const id = backup(['--db', db, '--backup-dir', dir, '--json']).json().backupId;
    const archived = archive(['--db', db, '--before', '2026-01-01', '--json']);
    expect(archived.code).toBe(0);
    const moved = archived.json().moved.shipped_orders as number;
    expect(moved).toBeGreaterThan(0);
    const r = restore([id, '--db', db, '--backup-dir', dir, '--json']);
    expect(r.code).toBe(0);
    const yearly = join(t.dir, 'ora_archive_2025.db');
    expect(r.json().archivedOrders).toMatchObject({ count: moved, archives: [yearly] });
    const command = r.json().archivedOrders.command as string;
    expect(command).toMatch(/^ora-db archive --db \S+ --before 20\d\d-\d\d-\d\d$/);
    const human = restore([id, '--db', db, '--backup-dir', dir]);
    expect(human.stdout).toContain(`note: ${moved} restored orders also sit in ${yearly}`);
    expect(human.stdout).toContain(`run '${command}'`);
    // The advice works: archiving again (idempotent) removes them from the live database only.
    const again = archive(command.split(' ').slice(2).concat('--json'));
    expect(again.code).toBe(0);
    const inLive = new Database(db, { readonly: true });
    const arch = new Database(yearly, { readonly: true });
    try {
      expect(inLive.prepare("SELECT count(*) FROM shipped_orders WHERE ship_date < '2026-01-01'").pluck().get()).toBe(
        0,
      );
      expect(arch.prepare('SELECT count(*) FROM shipped_orders').pluck().get()).toBe(moved);
    } finally {
      inLive.close();
      arch.close();
    }
    const clean = restore(['latest', '--db', db, '--backup-dir', dir, '--json']);
    expect(clean.json().archivedOrders.count).toBe(moved);
    // With --archive-dir elsewhere (no archive there) nothing is counted; a bad value is refused.
    const other = t.path('elsewhere');
    mkdirSync(other);
    const none = restore(['latest', '--db', db, '--backup-dir', dir, '--archive-dir', other, '--json']);
    expect(none.json().archivedOrders).toMatchObject({ count: 0, archives: [] });
    const bad = restore(['latest', '--db', db, '--backup-dir', dir, '--archive-dir', '']);
    expect(bad.code).toBe(2);
    expect(bad.logs.at(-1)?.code).toBe('INVALID_INPUT');
  });

  it('restores row by row, still in one write lock with the copy, when the live page size differs from the backup', async () => {
    createOraDatabase(db, 100);
    const id = backup(['--db', db, '--backup-dir', dir, '--json']).json().backupId;
    const expected = contentHash(db);
    const raw = new Database(db);
    raw.pragma('journal_mode = DELETE');
    raw.pragma('page_size = 8192');
    raw.exec('VACUUM');
    raw.pragma('journal_mode = WAL');
    raw.close();
    addWorkflows(db, 4, 'after');
    const r = restore([id, '--db', db, '--backup-dir', dir, '--json']);
    expect(r.code).toBe(0);
    expect(r.json()).toMatchObject({ method: 'rows', preRestoreCopyMethod: 'under-lock' });
    expect(contentHash(db)).toBe(expected);
    expect(count(r.json().preRestoreCopy)).toBe(count(db) + 4);
  });

  it('copies the whole database under the lock when the wal-index cannot be read (no head on PATH), still exactly what was replaced', async () => {
    createOraDatabase(db, 200);
    const id = backup(['--db', db, '--backup-dir', dir, '--json']).json().backupId;
    const backedUp = contentHash(db);
    addWorkflows(db, 5, 'after-backup');
    await leaveWalBehind(db, 7);
    const replaced = contentHash(db);
    const r = restore([id, '--db', db, '--backup-dir', dir, '--json'], { PATH: t.path('no-such-dir') });
    expect(r.code).toBe(0);
    expect(r.json()).toMatchObject({ method: 'pages', preRestoreCopyMethod: 'under-lock' });
    expect(contentHash(db)).toBe(backedUp);
    expect(contentHash(r.json().preRestoreCopy)).toBe(replaced);
    expect(statSync(r.json().preRestoreCopy).mode & 0o777).toBe(0o600);
  });

  it('keeps one copy per restore, named after the database, when restores follow each other or share a directory', async () => {
    createOraDatabase(db, 50);
    const other = t.path('ora-eu.db');
    createOraDatabase(other, 20);
    const id = backup(['--db', db, '--backup-dir', dir, '--json']).json().backupId;
    const otherDir = t.path('backups-eu');
    const otherId = backup(['--db', other, '--backup-dir', otherDir, '--json']).json().backupId;
    const runs = await Promise.all([
      restoreAsync([id, '--db', db, '--backup-dir', dir, '--json']),
      restoreAsync([otherId, '--db', other, '--backup-dir', otherDir, '--json']),
    ]);
    runs.push(await restoreAsync([id, '--db', db, '--backup-dir', dir, '--json']));
    for (const r of runs) expect(r.code).toBe(0);
    const copies = runs.map((r) => r.json().preRestoreCopy as string);
    expect(new Set(copies).size).toBe(3);
    expect(copies[0]).toMatch(/ora_before_restore_ora_\d{8}_\d{9}(_\d+)?\.db$/);
    expect(copies[1]).toMatch(/ora_before_restore_ora-eu_\d{8}_\d{9}(_\d+)?\.db$/);
    for (const c of copies) expect(existsSync(c)).toBe(true);
    expect(readdirSync(t.dir).filter((f) => f.startsWith('.ora-restore-'))).toEqual([]);
  });

  it('is seen consistently by a process that keeps the database open', async () => {
    createOraDatabase(db, 100);
    const id = backup(['--db', db, '--backup-dir', dir, '--json']).json().backupId;
    addWorkflows(db, 50, 'later');
    const expected = count(db) - 50;
    const script = `
      const Database = require(${JSON.stringify(require.resolve('better-sqlite3'))});
      const db = new Database(${JSON.stringify(db)});
      const q = db.prepare('SELECT count(*) FROM workflows').pluck();
      process.stdout.write('before ' + q.get() + '\\n');
      process.stdin.on('data', () => { process.stdout.write('after ' + q.get() + ' ' + db.pragma('integrity_check', { simple: true }) + '\\n'); });`;
    const child = spawn(process.execPath, ['-e', script], { stdio: ['pipe', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.on('data', (d) => {
      out += d;
    });
    while (!out.includes('before')) await new Promise((r) => setTimeout(r, 10));
    const r = await restoreAsync([id, '--db', db, '--backup-dir', dir]);
    expect(r.code).toBe(0);
    child.stdin.write('x\n');
    while (!out.includes('after')) await new Promise((r) => setTimeout(r, 10));
    child.kill();
    expect(out).toContain(`before ${expected + 50}`);
    expect(out).toContain(`after ${expected} ok`);
  });

  it('refuses (exit 3) while another process holds a write transaction, changing nothing', async () => {
    createOraDatabase(db, 50);
    const id = backup(['--db', db, '--backup-dir', dir, '--json']).json().backupId;
    addWorkflows(db, 3, 'x');
    const hash = contentHash(db);
    const holder = await holdLock(db, 'write');
    try {
      const r = await restoreAsync([id, '--db', db, '--backup-dir', dir, '--busy-timeout-ms', '300']);
      if (r.code !== 3) console.log(r.stderr);
      expect(r.code).toBe(3);
      expect(r.logs.at(-1)?.code).toBe('DATABASE_LOCKED');
      expect(r.logs.at(-1)?.msg).toMatch(/the restore was refused and the live database was not changed$/);
    } finally {
      await holder.release();
    }
    expect(contentHash(db)).toBe(hash);
  });
});

describe('restore to a new path', () => {
  it('refuses when a stale -wal lies beside the target, and when the target exists', () => {
    createOraDatabase(db, 20);
    expect(backup(['--db', db, '--backup-dir', dir]).code).toBe(0);
    const to = t.path('new.db');
    writeFileSync(`${to}-wal`, Buffer.alloc(4096, 7));
    const r = restore(['latest', '--db', db, '--backup-dir', dir, '--to', to]);
    expect(r.code).toBe(3);
    expect(r.logs.at(-1)?.msg).toBe(
      `refusing to restore to ${to}: a stale new.db-wal lies beside it and SQLite would replay it over the restored data; move it away first`,
    );
    expect(existsSync(to)).toBe(false);
    const exists = restore(['latest', '--db', db, '--backup-dir', dir, '--to', db]);
    expect(exists.code).toBe(3);
    expect(exists.logs.at(-1)?.msg).toMatch(/already exists; restore to a new path/);
  });

  it('works when the live database is gone (disaster recovery), without creating a lock beside it', () => {
    createOraDatabase(db, 20);
    expect(backup(['--db', db, '--backup-dir', dir]).code).toBe(0);
    const hash = contentHash(db);
    const to = t.path('recovered.db');
    const r = restore(['latest', '--db', t.path('gone.db'), '--backup-dir', dir, '--to', to]);
    expect(r.code).toBe(0);
    expect(contentHash(to)).toBe(hash);
    expect(readdirSync(t.dir).filter((f) => f.startsWith('gone.db'))).toEqual([]);
  });
});
