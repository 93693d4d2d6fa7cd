import { closeSync, copyFileSync, openSync, readFileSync, writeSync } from 'node:fs';
import { recoverDatabase } from '@ora/core';
import { tempDir } from '@ora/testkit';
import Database from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';

// Cases a review of the streaming salvage found (each failed before its fix).

let t: ReturnType<typeof tempDir>;
beforeEach(() => {
  t = tempDir();
});
afterEach(() => t.cleanup());

const pageSize = (p: string) => {
  const raw = readFileSync(p).readUInt16BE(16);
  return raw === 1 ? 65536 : raw;
};
function writePage(p: string, n: number, buf: Buffer): void {
  const fd = openSync(p, 'r+');
  writeSync(fd, buf, 0, buf.length, (n - 1) * pageSize(p));
  closeSync(fd);
}
/** Rows as SQLite gives them, integers as bigints, so 2 and 2.0 differ. */
function typed(p: string, sql: string): string[] {
  const db = new Database(p, { readonly: true });
  db.defaultSafeIntegers(true);
  try {
    return (db.prepare(sql).raw().all() as unknown[][]).map((r) =>
      JSON.stringify(r, (_k, v) =>
        typeof v === 'bigint' ? `${v}n` : v?.type === 'Buffer' ? `x${Buffer.from(v.data).toString('hex')}` : v,
      ),
    );
  } finally {
    db.close();
  }
}
const recover = (path: string, out = t.path('out.db')) => ({
  r: recoverDatabase({ path, outPath: out, replace: false, force: true }),
  out,
});

describe('recover: cases from review', () => {
  it('keeps INTEGER PRIMARY KEY DESC values (no rowid alias), generated columns, WITHOUT ROWID order, a column named rowid, extreme rowids, ALTER TABLE rows', () => {
    const p = t.path('a.db');
    const db = new Database(p);
    db.exec(`CREATE TABLE t(x INTEGER PRIMARY KEY DESC, y TEXT);
      INSERT INTO t VALUES (100,'a'),(200,'b'),(-5,'c');
      CREATE TABLE u(a, b GENERATED ALWAYS AS (a*2) VIRTUAL, c, d GENERATED ALWAYS AS (a+1) STORED, e);
      INSERT INTO u(a,c,e) VALUES (1,2.0,'e1'),(3,x'00ff',NULL);
      CREATE TABLE w(a TEXT, b INT, c, d GENERATED ALWAYS AS (b*10) VIRTUAL, e REAL, PRIMARY KEY(c, a)) WITHOUT ROWID;
      INSERT INTO w(a,b,c,e) VALUES ('k1', 5, 'z', 2), ('k2', 6, 1.5, 3.25);
      CREATE TABLE r(rowid TEXT, v);
      INSERT INTO r(rowid, v) VALUES ('rid', 1.0), ('r2', 9007199254740993);
      INSERT INTO r(_rowid_, rowid, v) VALUES (-9223372036854775808, 'neg', -1), (9223372036854775807, 'max', 2.5);
      CREATE TABLE al(a INTEGER PRIMARY KEY, b);
      INSERT INTO al VALUES (1, 'x');
      ALTER TABLE al ADD COLUMN c TEXT DEFAULT 'dflt';
      INSERT INTO al VALUES (2, 'y', 'z');`);
    db.close();
    const { out, r } = recover(p);
    expect(r.lostAndFound).toBe(0);
    for (const q of [
      'SELECT rowid, x, y FROM t',
      'SELECT rowid, a, b, c, typeof(c), d, e FROM u',
      'SELECT a, b, c, typeof(c), d, e, typeof(e) FROM w',
      'SELECT _rowid_, rowid, v, typeof(v) FROM r',
      'SELECT *, typeof(c) FROM al',
    ]) {
      expect(typed(out, q)).toEqual(typed(p, q));
    }
  });

  it('never swaps rows between two tables of one shape when a child pointer points into the other tree', () => {
    const p = t.path('a.db');
    const db = new Database(p);
    db.exec('CREATE TABLE a(id INTEGER PRIMARY KEY, v TEXT); CREATE TABLE b(id INTEGER PRIMARY KEY, v TEXT);');
    db.transaction(() => {
      for (let i = 1; i <= 2000; i++) {
        db.prepare('INSERT INTO a VALUES (?, ?)').run(i, `a${'x'.repeat(50)}${i}`);
        db.prepare('INSERT INTO b VALUES (?, ?)').run(100000 + i, `b${'y'.repeat(50)}${i}`);
      }
    })();
    const rootA = db.prepare("SELECT rootpage FROM sqlite_schema WHERE name='a'").pluck().get() as number;
    const leafB = db
      .prepare("SELECT pageno FROM dbstat WHERE name='b' AND pagetype='leaf' ORDER BY path")
      .pluck()
      .all() as number[];
    db.close();
    const size = pageSize(p);
    const root = Buffer.from(readFileSync(p).subarray((rootA - 1) * size, rootA * size));
    root.writeUInt32BE(leafB[3] as number, root.readUInt16BE(12)); // a's first child → one of b's leaves
    writePage(p, rootA, root);
    const { out, r } = recover(p);
    expect(r.integrity?.ok).toBe(true);
    expect(typed(out, 'SELECT count(*) FROM a WHERE id > 100000')).toEqual(['["0n"]']);
    expect(typed(out, 'SELECT count(*) FROM b WHERE id < 100000')).toEqual(['["0n"]']);
    expect(r.lostAndFound).toBeGreaterThan(0); // the contested rows are shown, not guessed
  });

  it('never inserts entries of a damaged index as rows of a damaged WITHOUT ROWID table', () => {
    const p = t.path('a.db');
    const db = new Database(p);
    db.exec(
      'CREATE TABLE w(k TEXT PRIMARY KEY, v INTEGER) WITHOUT ROWID; CREATE TABLE t(id INTEGER PRIMARY KEY, name TEXT); CREATE INDEX t_name ON t(name);',
    );
    db.transaction(() => {
      for (let i = 1; i <= 3000; i++) {
        db.prepare('INSERT INTO w VALUES (?, ?)').run(`key${'k'.repeat(40)}${i}`, i);
        db.prepare('INSERT INTO t VALUES (?, ?)').run(i, `name${'n'.repeat(40)}${i}`);
      }
    })();
    const roots = ['w', 't_name'].map(
      (n) => db.prepare('SELECT rootpage FROM sqlite_schema WHERE name = ?').pluck().get(n) as number,
    );
    db.close();
    for (const root of roots) writePage(p, root, Buffer.alloc(pageSize(p), 0xa5));
    const { out } = recover(p);
    expect(typed(out, "SELECT count(*) FROM w WHERE k LIKE 'name%'")).toEqual(['["0n"]']);
    expect(typed(out, 'SELECT count(*) FROM t')).toEqual(['["3000n"]']);
  });

  it('takes user_version and application_id from the newest page 1 (in the WAL)', () => {
    const p = t.path('a.db');
    const db = new Database(p);
    db.pragma('journal_mode = WAL');
    db.exec('CREATE TABLE t(a); INSERT INTO t VALUES (1);');
    db.pragma('wal_checkpoint(TRUNCATE)');
    db.pragma('wal_autocheckpoint = 0');
    db.exec(
      'PRAGMA user_version = 7; PRAGMA application_id = 42; ALTER TABLE t ADD COLUMN b; INSERT INTO t VALUES (2, 3);',
    );
    const q = t.path('crash.db');
    copyFileSync(p, q);
    copyFileSync(`${p}-wal`, `${q}-wal`);
    db.close();
    const { out } = recover(q);
    const o = new Database(out, { readonly: true });
    try {
      expect(o.pragma('user_version', { simple: true })).toBe(7);
      expect(o.pragma('application_id', { simple: true })).toBe(42);
    } finally {
      o.close();
    }
    expect(typed(out, 'SELECT * FROM t')).toEqual(['["1n",null]', '["2n","3n"]']);
  });

  it('reads no page past the size the last WAL commit gives the database (stale pages of a shrink)', () => {
    const p = t.path('a.db');
    const db = new Database(p);
    db.pragma('auto_vacuum = FULL');
    db.pragma('journal_mode = WAL');
    db.exec('CREATE TABLE a(id INTEGER PRIMARY KEY, v TEXT); CREATE TABLE b(id INTEGER PRIMARY KEY, v TEXT);');
    db.transaction(() => {
      for (let i = 1; i <= 2000; i++) db.prepare('INSERT INTO a VALUES (?, ?)').run(i, `a${'x'.repeat(50)}${i}`);
    })();
    db.transaction(() => {
      for (let i = 1; i <= 2000; i++)
        db.prepare('INSERT INTO b VALUES (?, ?)').run(100000 + i, `deleted${'y'.repeat(50)}${i}`);
    })();
    db.pragma('wal_checkpoint(TRUNCATE)');
    const rootA = db.prepare("SELECT rootpage FROM sqlite_schema WHERE name='a'").pluck().get() as number;
    db.pragma('wal_autocheckpoint = 0');
    db.exec('DELETE FROM b');
    const q = t.path('crash.db');
    copyFileSync(p, q);
    copyFileSync(`${p}-wal`, `${q}-wal`);
    db.close();
    writePage(q, rootA, Buffer.alloc(pageSize(q), 0xa5));
    const { out } = recover(q);
    expect(typed(out, "SELECT count(*) FROM a WHERE v LIKE 'deleted%'")).toEqual(['["0n"]']);
    expect(typed(out, 'SELECT count(*) FROM b')).toEqual(['["0n"]']);
  });

  it('attributes no stray leaf when the schema tree itself is damaged (a lost entry hides a whole table)', () => {
    const p = t.path('a.db');
    const db = new Database(p);
    db.exec('CREATE TABLE y(id INTEGER PRIMARY KEY, v TEXT);');
    for (let i = 0; i < 60; i++) db.exec(`CREATE TABLE pad${i}(a /* ${'c'.repeat(200)} */)`);
    db.exec('CREATE TABLE x(id INTEGER PRIMARY KEY, v TEXT);');
    db.transaction(() => {
      for (let i = 1; i <= 2000; i++) {
        db.prepare('INSERT INTO y VALUES (?, ?)').run(i, `y${'y'.repeat(50)}${i}`);
        db.prepare('INSERT INTO x VALUES (?, ?)').run(100000 + i, `x${'x'.repeat(50)}${i}`);
      }
    })();
    const rootY = db.prepare("SELECT rootpage FROM sqlite_schema WHERE name='y'").pluck().get() as number;
    const leaves = db
      .prepare("SELECT pageno FROM dbstat WHERE name='sqlite_schema' AND pagetype='leaf' ORDER BY path")
      .pluck()
      .all() as number[];
    db.close();
    writePage(p, leaves.at(-1) as number, Buffer.alloc(pageSize(p), 0xa5)); // the leaf with x's entry
    writePage(p, rootY, Buffer.alloc(pageSize(p), 0xa5));
    const { out, r } = recover(p);
    expect(typed(out, "SELECT count(*) FROM y WHERE v LIKE 'x%'")).toEqual(['["0n"]']);
    expect(r.lostAndFound).toBeGreaterThanOrEqual(2000);
  });

  it('recovers rows whose text and NULL columns vary row by row exactly (bounded statement cache)', () => {
    const p = t.path('a.db');
    const db = new Database(p);
    const cols = Array.from({ length: 20 }, (_, i) => `c${i}`);
    db.exec(`CREATE TABLE t(id INTEGER PRIMARY KEY, ${cols.map((c) => `${c} TEXT`).join(', ')})`);
    const ins = db.prepare(`INSERT INTO t VALUES (NULL, ${cols.map(() => '?').join(', ')})`);
    let s = 7;
    const rnd = () => {
      s = (s * 1103515245 + 12345) & 0x7fffffff;
      return s / 0x7fffffff;
    };
    // Text, NULL, integers and blobs in the same TEXT-typed columns: many patterns.
    const pick = (i: number) => {
      const x = rnd();
      return x < 0.3 ? null : x < 0.5 ? i : x < 0.6 ? Buffer.from([i & 255]) : `v${i}`;
    };
    db.transaction(() => {
      for (let r = 0; r < 3000; r++) ins.run(cols.map((_, i) => pick(r + i)));
    })();
    db.close();
    const { out } = recover(p);
    const q = `SELECT rowid, ${cols.map((c) => `${c}, typeof(${c})`).join(', ')} FROM t`;
    expect(typed(out, q)).toEqual(typed(p, q));
  });
});
