import {
  closeSync,
  existsSync,
  openSync,
  readFileSync,
  rmSync,
  statSync,
  truncateSync,
  writeFileSync,
  writeSync,
} from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { recoverDatabase } from '@ora/core';
import { createOraDatabase } from '@ora/core/testing';
import { bundleRunner, copyChinook, createKitchenSinkDatabase, tableContents, tempDir } from '@ora/testkit';
import Database from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const recover = bundleRunner(root);

let t: ReturnType<typeof tempDir>;
beforeEach(() => {
  t = tempDir();
});
afterEach(() => t.cleanup());

const pageSizeOf = (path: string) => {
  const raw = readFileSync(path).readUInt16BE(16);
  return raw === 1 ? 65536 : raw;
};

/** Overwrites pages (1-based) with bytes that are no b-tree page. */
function garble(path: string, pages: number[], byte = 0xa5): void {
  const size = pageSizeOf(path);
  const fd = openSync(path, 'r+');
  try {
    for (const p of pages) writeSync(fd, Buffer.alloc(size, byte), 0, size, (p - 1) * size);
  } finally {
    closeSync(fd);
  }
}

/** Pages of a table's tree, by kind, from dbstat (the file must be checkpointed). */
function pagesOf(path: string, name: string, type: 'leaf' | 'internal' | 'overflow'): number[] {
  const db = new Database(path, { readonly: true });
  try {
    return db
      .prepare('SELECT pageno FROM dbstat WHERE name = ? AND pagetype = ? ORDER BY path')
      .pluck()
      .all(name, type) as number[];
  } finally {
    db.close();
  }
}

/** Every row of `table` (rowid included when it has one), as comparable strings. */
function rowsOf(path: string, table: string, withRowid = true): Set<string> {
  const db = new Database(path, { readonly: true });
  try {
    const q = `"${table.replaceAll('"', '""')}"`;
    const sql = withRowid ? `SELECT rowid AS __r, * FROM ${q}` : `SELECT * FROM ${q}`;
    return new Set(
      (db.prepare(sql).raw().all() as unknown[][]).map((r) =>
        JSON.stringify(r, (_k, v) =>
          typeof v === 'bigint' ? `${v}n` : v?.type === 'Buffer' ? Buffer.from(v.data).toString('hex') : v,
        ),
      ),
    );
  } finally {
    db.close();
  }
}

function checkpointed(path: string): void {
  const db = new Database(path);
  db.pragma('wal_checkpoint(TRUNCATE)');
  db.pragma('journal_mode = DELETE');
  db.close();
}

describe('recover on any schema', () => {
  it('recovers a healthy kitchen-sink database (FTS5, WITHOUT ROWID, STRICT, generated columns, AUTOINCREMENT, odd names, un-checkpointed WAL) table for table', () => {
    const sink = createKitchenSinkDatabase(t.path('sink.db'), { rows: 1500 });
    expect(sink.walBytes).toBeGreaterThan(0);
    const before = tableContents(sink.path);
    const out = t.path('out.db');
    const r = recoverDatabase({ path: sink.path, outPath: out, replace: false, force: true });
    expect(r.healthy).toBe(true);
    expect(r.emergencyCopy[0]).toMatch(/ora_before_recover_sink_/);
    expect(r.integrity?.ok).toBe(true);
    expect(r.lostAndFound).toBe(0);
    expect(r.notRecreated).toEqual([]);
    expect(r.virtualTables).toEqual([{ name: 'notes_fts', module: 'fts5', status: 'ok' }]);
    expect(tableContents(out)).toEqual(before);
    for (const table of ['readings', 'events', 'attachments', '"odd name; table"'.slice(1, -1)]) {
      expect(rowsOf(out, table)).toEqual(rowsOf(sink.path, table));
    }
    const db = new Database(out, { readonly: true });
    try {
      expect(db.pragma('page_size', { simple: true })).toBe(8192);
      expect(db.pragma('auto_vacuum', { simple: true })).toBe(2);
      // The full-text index answers, views and triggers are back.
      const orig = new Database(sink.path, { readonly: true });
      const q = "SELECT rowid FROM notes_fts WHERE notes_fts MATCH 'run AND charlie' ORDER BY rowid";
      expect(db.prepare(q).pluck().all()).toEqual(orig.prepare(q).pluck().all());
      expect((db.prepare(q).pluck().all() as number[]).length).toBeGreaterThan(10);
      const objects =
        "SELECT type, name, sql FROM sqlite_schema WHERE type IN ('view', 'trigger', 'index') ORDER BY name";
      expect(db.prepare(objects).all()).toEqual(orig.prepare(objects).all());
      expect(db.prepare('SELECT * FROM sqlite_sequence').all()).toEqual(
        orig.prepare('SELECT * FROM sqlite_sequence').all(),
      );
      orig.close();
    } finally {
      db.close();
    }
  });

  it('recovers the Chinook sample (--force) table for table, and salvages it after a garbled leaf', () => {
    const path = copyChinook(t.dir);
    const before = tableContents(path);
    const healthy = t.path('healthy.db');
    const r1 = recoverDatabase({ path, outPath: healthy, replace: false, force: true });
    expect(r1.integrity?.ok).toBe(true);
    expect(r1.notRecreated).toEqual([]);
    expect(tableContents(healthy)).toEqual(before);
    const original = t.path('orig.db');
    writeFileSync(original, readFileSync(path));
    garble(path, [pagesOf(path, 'InvoiceLine', 'leaf')[5] as number]);
    const out = t.path('out.db');
    const r2 = recoverDatabase({ path, outPath: out, replace: false, force: false });
    expect(r2.integrity?.ok).toBe(true);
    const got = rowsOf(out, 'InvoiceLine');
    const want = rowsOf(original, 'InvoiceLine');
    for (const row of got) expect(want.has(row)).toBe(true);
    expect(want.size - got.size).toBeGreaterThan(0);
    expect(want.size - got.size).toBeLessThan(200);
    for (const table of ['Artist', 'Album', 'Track', 'Invoice', 'Customer']) {
      expect(rowsOf(out, table)).toEqual(rowsOf(original, table));
    }
  });

  it('salvages a damaged kitchen-sink database: every intact row equal, none invented, the FTS index answering', () => {
    const sink = createKitchenSinkDatabase(t.path('sink.db'), { rows: 3000 });
    checkpointed(sink.path);
    const original = t.path('original.db');
    writeFileSync(original, readFileSync(sink.path));
    // A leaf of the STRICT table with generated columns, an interior page of the FTS5 data
    // table, a leaf of a WITHOUT ROWID table and one of the oddly named table.
    const readingsLeaf = pagesOf(sink.path, 'readings', 'leaf')[3] as number;
    const ftsInterior = pagesOf(sink.path, 'notes_fts_content', 'internal')[0];
    const tagLeaf = pagesOf(sink.path, 'reading_tags', 'leaf')[2] as number;
    const damaged = [readingsLeaf, tagLeaf, ...(ftsInterior ? [ftsInterior] : [])];
    garble(sink.path, damaged);
    const out = t.path('out.db');
    const r = recoverDatabase({ path: sink.path, outPath: out, replace: false, force: false });
    expect(r.healthy).toBe(false);
    expect(r.integrity?.ok).toBe(true);
    const fts = r.virtualTables.find((v) => v.name === 'notes_fts');
    expect(['ok', 'rebuilt']).toContain(fts?.status);
    // Every recovered row is an original row of the same table (rowid and content).
    for (const table of ['readings', 'sensors', 'events', 'attachments', 'odd name; table', 'notes_fts_content']) {
      const got = rowsOf(out, table);
      const want = rowsOf(original, table);
      for (const row of got) expect(want.has(row)).toBe(true);
    }
    for (const table of ['tags', 'reading_tags']) {
      const got = rowsOf(out, table, false);
      const want = rowsOf(original, table, false);
      for (const row of got) expect(want.has(row)).toBe(true);
    }
    // Only the rows on the garbled leaves are gone: tables untouched by the damage are whole.
    for (const table of ['sensors', 'events', 'attachments', 'odd name; table', 'tags', 'notes_fts_content']) {
      expect(rowsOf(out, table, table !== 'tags').size).toBe(rowsOf(original, table, table !== 'tags').size);
    }
    const lostReadings = rowsOf(original, 'readings').size - rowsOf(out, 'readings').size;
    expect(lostReadings).toBeGreaterThan(0);
    expect(lostReadings).toBeLessThan(300); // one leaf's rows
    expect(r.tables.find((x) => x.name === 'readings')?.unreadablePages).toBe(1);
    expect(r.lostAndFound).toBe(0); // pointer-map pages (auto_vacuum) are no rows
    const db = new Database(out, { readonly: true });
    const orig = new Database(original, { readonly: true });
    try {
      const q = "SELECT rowid FROM notes_fts WHERE notes_fts MATCH 'run AND charlie' ORDER BY rowid";
      expect(db.prepare(q).pluck().all()).toEqual(orig.prepare(q).pluck().all());
      // The generated columns are computed again on the recovered rows.
      const bad = db.prepare("SELECT count(*) FROM readings WHERE label IS NOT 'r-' || id || '-' || sensor_id").pluck();
      expect(bad.get()).toBe(0);
    } finally {
      db.close();
      orig.close();
    }
  });

  it('recreates FTS4 and R*Tree tables with their shadow tables, and rebuilds a full-text index whose shadow pages are lost', () => {
    const path = t.path('vt.db');
    const db = new Database(path);
    db.exec(`CREATE VIRTUAL TABLE docs USING fts4(title, body);
      CREATE VIRTUAL TABLE boxes USING rtree(id, minx, maxx, miny, maxy);
      CREATE TABLE plain (id INTEGER PRIMARY KEY, v TEXT)`);
    db.transaction(() => {
      for (let i = 1; i <= 3000; i++) {
        db.prepare('INSERT INTO docs (docid, title, body) VALUES (?, ?, ?)').run(
          i,
          `doc ${i}`,
          `words about item${i % 17} and more text ${i}`,
        );
        db.prepare('INSERT INTO boxes VALUES (?, ?, ?, ?, ?)').run(i, i, i + 1.5, -i, -i + 2);
        db.prepare('INSERT INTO plain (v) VALUES (?)').run(`p${i}`);
      }
    })();
    db.close();
    const original = t.path('vt-orig.db');
    writeFileSync(original, readFileSync(path));
    const healthy = t.path('healthy.db');
    const r1 = recoverDatabase({ path, outPath: healthy, replace: false, force: true });
    expect(r1.virtualTables.map((v) => `${v.name}:${v.module}:${v.status}`).sort()).toEqual([
      'boxes:rtree:ok',
      'docs:fts4:ok',
    ]);
    expect(tableContents(healthy)).toEqual(tableContents(original));
    // Lose leaves of the FTS4 index's segments: its own check fails, and it is rebuilt from its content.
    const segments = pagesOf(path, 'docs_segments', 'leaf');
    garble(path, segments.slice(0, Math.max(1, Math.floor(segments.length / 2))));
    const out = t.path('out.db');
    const r2 = recoverDatabase({ path, outPath: out, replace: false, force: false });
    expect(r2.integrity?.ok).toBe(true);
    expect(r2.virtualTables.find((v) => v.name === 'docs')?.status).toBe('rebuilt');
    const a = new Database(out, { readonly: true });
    const b = new Database(original, { readonly: true });
    try {
      const q = "SELECT docid FROM docs WHERE docs MATCH 'item5' ORDER BY docid";
      expect(a.prepare(q).pluck().all()).toEqual(b.prepare(q).pluck().all());
      const box = 'SELECT id FROM boxes WHERE minx > 100 AND maxx < 200 ORDER BY id';
      expect(a.prepare(box).pluck().all()).toEqual(b.prepare(box).pluck().all());
    } finally {
      a.close();
      b.close();
    }
  });

  it.each([512, 1024, 2048, 16384, 32768, 65536])('salvages a database of page size %i with a garbled leaf', (size) => {
    const path = t.path(`p${size}.db`);
    const db = new Database(path);
    db.pragma(`page_size = ${size}`);
    db.exec('CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT NOT NULL, n INTEGER)');
    const ins = db.prepare('INSERT INTO t (v, n) VALUES (?, ?)');
    db.transaction(() => {
      for (let i = 0; i < 6000; i++) ins.run(`value ${i} ${'x'.repeat(i % 90)}`, i);
    })();
    db.close();
    const original = t.path(`p${size}-orig.db`);
    writeFileSync(original, readFileSync(path));
    const leaves = pagesOf(path, 't', 'leaf');
    garble(path, [leaves[Math.floor(leaves.length / 2)] as number]);
    const out = t.path(`p${size}-out.db`);
    const r = recoverDatabase({ path, outPath: out, replace: false, force: false });
    expect(r.integrity?.ok).toBe(true);
    const got = rowsOf(out, 't');
    const want = rowsOf(original, 't');
    for (const row of got) expect(want.has(row)).toBe(true);
    expect(want.size - got.size).toBeGreaterThan(0);
    expect(want.size - got.size).toBeLessThan(leaves.length > 1 ? want.size / 2 : want.size + 1);
    const check = new Database(out, { readonly: true });
    expect(check.pragma('page_size', { simple: true })).toBe(size);
    check.close();
  });

  it('skips the pointer-map pages of an auto_vacuum=FULL database (nothing from them in lost_and_found)', () => {
    const path = t.path('av.db');
    const db = new Database(path);
    db.pragma('auto_vacuum = FULL');
    db.exec('CREATE TABLE a (id INTEGER PRIMARY KEY, v TEXT); CREATE TABLE b (id INTEGER PRIMARY KEY, w BLOB)');
    db.transaction(() => {
      for (let i = 0; i < 20000; i++) {
        db.prepare('INSERT INTO a (v) VALUES (?)').run(`a${i}`);
        if (i % 10 === 0) db.prepare('INSERT INTO b (w) VALUES (?)').run(Buffer.alloc(300, i & 255));
      }
    })();
    db.exec('DELETE FROM a WHERE id % 3 = 0');
    db.close();
    const original = t.path('av-orig.db');
    writeFileSync(original, readFileSync(path));
    const interior = pagesOf(path, 'a', 'internal');
    garble(path, [interior[interior.length - 1] as number]);
    const out = t.path('av-out.db');
    const r = recoverDatabase({ path, outPath: out, replace: false, force: false });
    expect(r.integrity?.ok).toBe(true);
    expect(r.lostAndFound).toBe(0);
    expect(rowsOf(out, 'a')).toEqual(rowsOf(original, 'a'));
    expect(rowsOf(out, 'b')).toEqual(rowsOf(original, 'b'));
    const check = new Database(out, { readonly: true });
    expect(check.pragma('auto_vacuum', { simple: true })).toBe(1);
    check.close();
  });

  it('infers the page size when page 1 is destroyed, and takes the schema from the migrations (ORA)', () => {
    const path = t.path('ora.db');
    createOraDatabase(path, 300);
    checkpointed(path);
    const original = t.path('orig.db');
    writeFileSync(original, readFileSync(path));
    garble(path, [1], 0x00);
    const out = t.path('out.db');
    const r = recoverDatabase({ path, outPath: out, replace: false, force: false });
    expect(r.schemaSource).toBe('migrations');
    expect(r.integrity?.ok).toBe(true);
    for (const table of ['shipped_orders', 'shipped_items']) {
      const got = rowsOf(out, table);
      const want = rowsOf(original, table);
      expect(got.size).toBe(want.size);
      for (const row of got) expect(want.has(row)).toBe(true);
    }
  });

  it('brings back no row deleted before page 1 was destroyed: the freelist is found by its trunks', () => {
    const path = t.path('ora.db');
    createOraDatabase(path, 18000);
    const db = new Database(path);
    db.exec('DELETE FROM shipped_items WHERE rowid % 3 = 0 OR rowid > 2000');
    db.close();
    checkpointed(path);
    const check = new Database(path, { readonly: true });
    const freed = Number(check.pragma('freelist_count', { simple: true }));
    check.close();
    // More than one trunk page (4096-byte pages: 1022 leaves a trunk).
    expect(freed).toBeGreaterThan(1100);
    const original = t.path('orig.db');
    writeFileSync(original, readFileSync(path));
    garble(path, [1], 0x00);
    const out = t.path('out.db');
    const r = recover(['--db', path, '--out', out, '--json']);
    expect(r.code, r.stderr).toBe(0);
    const result = r.json();
    expect(result.schemaSource).toBe('migrations');
    for (const table of ['shipped_orders', 'shipped_items']) {
      const got = rowsOf(out, table);
      const want = rowsOf(original, table);
      const back = [...got].filter((row) => !want.has(row));
      expect(back.length, `${table}: rows that are not in the original (deleted ones back)`).toBe(0);
      expect(got.size).toBe(want.size);
    }
    expect(result.freelistPages).toBe(freed);
    const lost = new Database(out, { readonly: true });
    expect(lost.prepare("SELECT count(*) FROM sqlite_schema WHERE name = 'lost_and_found'").pluck().get()).toBe(0);
    lost.close();
  });

  it('does not bring back rows deleted into the freelist when a freelist trunk is damaged', () => {
    const path = t.path('free.db');
    const db = new Database(path);
    db.exec('CREATE TABLE keep (id INTEGER PRIMARY KEY, v TEXT); CREATE TABLE gone (id INTEGER PRIMARY KEY, v TEXT)');
    db.transaction(() => {
      for (let i = 1; i <= 4000; i++) {
        db.prepare('INSERT INTO keep (v) VALUES (?)').run(`keep ${i} ${'k'.repeat(30)}`);
        db.prepare('INSERT INTO gone (v) VALUES (?)').run(`gone ${i} ${'g'.repeat(30)}`);
      }
    })();
    db.exec('DELETE FROM gone WHERE id > 100');
    const trunk = Number(db.pragma('freelist_count', { simple: true })) > 0 ? readFileSync(path).readUInt32BE(32) : 0;
    db.close();
    expect(trunk).toBeGreaterThan(0);
    garble(path, [trunk]);
    const out = t.path('out.db');
    const r = recoverDatabase({ path, outPath: out, replace: false, force: true });
    expect(r.integrity?.ok).toBe(true);
    const check = new Database(out, { readonly: true });
    try {
      expect(check.prepare('SELECT count(*) FROM gone').pluck().get()).toBe(100);
      expect(check.prepare('SELECT count(*) FROM keep').pluck().get()).toBe(4000);
      // Stale rows of freed pages are shown in lost_and_found, never put back into a table.
      expect(check.prepare("SELECT count(*) FROM gone WHERE v LIKE 'gone 1__ %'").pluck().get()).toBe(1);
    } finally {
      check.close();
    }
  });

  it('loses only the row whose overflow chain is cut midway', () => {
    const path = t.path('blobs.db');
    const db = new Database(path);
    db.exec('CREATE TABLE b (id INTEGER PRIMARY KEY, data BLOB NOT NULL, tag TEXT)');
    for (let i = 1; i <= 40; i++)
      db.prepare('INSERT INTO b (data, tag) VALUES (?, ?)').run(Buffer.alloc(30_000, i), `t${i}`);
    db.close();
    const overflow = pagesOf(path, 'b', 'overflow');
    garble(path, [overflow[Math.floor(overflow.length / 2)] as number], 0x00);
    const out = t.path('out.db');
    const r = recoverDatabase({ path, outPath: out, replace: false, force: true });
    expect(r.integrity?.ok).toBe(true);
    const check = new Database(out, { readonly: true });
    try {
      const rows = check.prepare('SELECT id, data, tag FROM b').all() as { id: number; data: Buffer; tag: string }[];
      expect(rows.length).toBe(39);
      for (const row of rows) {
        expect(row.data.equals(Buffer.alloc(30_000, row.id))).toBe(true);
        expect(row.tag).toBe(`t${row.id}`);
      }
      expect(r.tables.find((x) => x.name === 'b')?.unreadableCells).toBe(1);
    } finally {
      check.close();
    }
  });

  it('applies the committed WAL frames and ignores a torn last frame', () => {
    const path = t.path('wal.db');
    const db = new Database(path);
    db.pragma('journal_mode = WAL');
    db.pragma('wal_autocheckpoint = 0');
    db.exec('CREATE TABLE w (id INTEGER PRIMARY KEY, v TEXT)');
    db.pragma('wal_checkpoint(TRUNCATE)');
    for (let i = 1; i <= 5; i++) db.prepare('INSERT INTO w (v) VALUES (?)').run(`commit ${i}`);
    const wal = `${path}-wal`;
    const copy = t.path('wal-copy.db');
    writeFileSync(copy, readFileSync(path));
    writeFileSync(`${copy}-wal`, readFileSync(wal));
    db.close();
    // The last commit's frame torn: cut the WAL in the middle of its last frame.
    const size = statSync(`${copy}-wal`).size;
    truncateSync(`${copy}-wal`, size - 1000);
    const out = t.path('out.db');
    const r = recoverDatabase({ path: copy, outPath: out, replace: false, force: true });
    expect(r.walPagesApplied).toBeGreaterThan(0);
    const check = new Database(out, { readonly: true });
    try {
      expect(check.prepare('SELECT v FROM w ORDER BY id').pluck().all()).toEqual([
        'commit 1',
        'commit 2',
        'commit 3',
        'commit 4',
      ]);
    } finally {
      check.close();
    }
  });

  it('leaves no -wal or -shm beside a damaged WAL-mode file that had none', () => {
    const path = t.path('walmode.db');
    const db = new Database(path);
    db.pragma('journal_mode = WAL');
    db.exec('CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)');
    for (let i = 0; i < 3000; i++) db.prepare('INSERT INTO t (v) VALUES (?)').run(`v${i}`);
    db.close(); // the last connection checkpoints and removes its -wal and -shm
    const leaf = pagesOf(path, 't', 'leaf')[2] as number;
    // That read-only look left an empty -wal and its -shm, as a read-only connection does.
    rmSync(`${path}-wal`, { force: true });
    rmSync(`${path}-shm`, { force: true });
    garble(path, [leaf]);
    const r = recoverDatabase({ path, outPath: t.path('out.db'), replace: false, force: false });
    expect(r.healthy).toBe(false);
    expect(existsSync(`${path}-wal`)).toBe(false);
    expect(existsSync(`${path}-shm`)).toBe(false);
  });

  it('salvages a file cut short whose header still counts the old pages (CLI, exit 0 with warn)', () => {
    const path = t.path('ora.db');
    createOraDatabase(path, 800);
    checkpointed(path);
    const original = t.path('orig.db');
    writeFileSync(original, readFileSync(path));
    const size = statSync(path).size;
    truncateSync(path, Math.floor((size * 0.75) / 4096) * 4096);
    // The header's page count (offset 28) is above what the file now holds.
    expect(readFileSync(path).readUInt32BE(28)).toBeGreaterThan(statSync(path).size / 4096);
    const r = recover(['--db', path, '--out', t.path('out.db'), '--json']);
    expect(r.stderr).not.toMatch(/DATABASE_TRUNCATED/);
    expect(r.code).toBe(0);
    const result = r.json();
    expect(result.status).toBe('warn');
    expect(result.integrity.ok).toBe(true);
    expect(result.tables.find((x: { name: string }) => x.name === 'shipped_items').recovered).toBeGreaterThan(100);
    // Every recovered row is an original row of the same table and rowid.
    for (const table of ['shipped_orders', 'shipped_items']) {
      const want = rowsOf(original, table);
      for (const row of rowsOf(t.path('out.db'), table)) expect(want.has(row), `${table} ${row}`).toBe(true);
    }
  });
});
