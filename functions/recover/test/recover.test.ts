import { spawnSync } from 'node:child_process';
import {
  chmodSync,
  copyFileSync,
  existsSync,
  readdirSync,
  readFileSync,
  statSync,
  truncateSync,
  writeFileSync,
} from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { openPageSource, parsePageHeader, readLeafCell, recoverDatabase } from '@ora/core';
import { createOraDatabase } from '@ora/core/testing';
import { bundleRunner, bundleRunnerAsync, contentHash, damagePage, holdLock, tempDir } from '@ora/testkit';
import Database from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const recover = bundleRunner(root);
const recoverAsync = bundleRunnerAsync(root);
const TABLES = [
  'inventory_current',
  'inventory_transactions',
  'workflows',
  'shipped_orders',
  'shipped_items',
  'system_kpis',
];

let t: ReturnType<typeof tempDir>;
let db: string;
beforeEach(() => {
  t = tempDir();
  db = t.path('ora.db');
});
afterEach(() => t.cleanup());

const key = (table: string, rowid: unknown) => `${table}:${rowid}`;
const norm = (v: unknown) => JSON.stringify(v, (_k, x) => (typeof x === 'bigint' ? Number(x) : x));

/** Every row of the clean file, by table and rowid, as SQLite reads it. */
function sqliteRows(path: string): Map<string, string> {
  const raw = new Database(path, { readonly: true });
  const out = new Map<string, string>();
  for (const table of TABLES) {
    const cols = raw.prepare('SELECT name, pk, type FROM pragma_table_info(?)').all(table) as {
      name: string;
      pk: number;
      type: string;
    }[];
    for (const row of raw.prepare(`SELECT rowid AS __rowid, * FROM ${table}`).all() as Record<string, unknown>[]) {
      out.set(key(table, row.__rowid), norm(cols.map((c) => row[c.name])));
    }
  }
  raw.close();
  return out;
}

/** For the clean file: which table leaf page holds which rows (read with the recovery reader). */
function leafMap(path: string): {
  pages: Map<number, string[]>;
  leafPages: Record<string, number[]>;
  interiorPages: number[];
  indexPages: number[];
} {
  const raw = new Database(path, { readonly: true });
  const stat = raw.prepare('SELECT name, pageno, pagetype FROM dbstat').all() as {
    name: string;
    pageno: number;
    pagetype: string;
  }[];
  raw.close();
  const source = openPageSource(path);
  if (!source) throw new Error('unreadable');
  const pages = new Map<number, string[]>();
  const leafPages: Record<string, number[]> = {};
  for (const s of stat) {
    if (!TABLES.includes(s.name) || s.pagetype !== 'leaf') continue;
    leafPages[s.name] = [...(leafPages[s.name] ?? []), s.pageno];
    const page = source.page(s.pageno) as Buffer;
    const header = parsePageHeader(page, s.pageno, source.usableSize);
    pages.set(
      s.pageno,
      (header?.cells ?? []).map((c) => key(s.name, readLeafCell(page, c, source.usableSize, source.page)?.rowid)),
    );
  }
  source.close();
  return {
    pages,
    leafPages,
    interiorPages: stat.filter((s) => TABLES.includes(s.name) && s.pagetype === 'internal').map((s) => s.pageno),
    indexPages: stat
      .filter((s) => s.name.startsWith('idx_') || s.name.startsWith('sqlite_autoindex'))
      .map((s) => s.pageno),
  };
}

function recoveredRows(path: string): Map<string, string> {
  return sqliteRows(path);
}

/** `.dump` with its final ROLLBACK turned into COMMIT, the guide's recipe at its best: rows it gets back. */
function dumpBaseline(path: string): string {
  if (spawnSync('sh', ['-c', 'command -v sqlite3']).status !== 0) return 'sqlite3 CLI not installed';
  const out = t.path('dump.db');
  const r = spawnSync('sh', ['-c', `sqlite3 "${path}" .dump | sed 's/^ROLLBACK;/COMMIT;/' | sqlite3 "${out}"`]);
  if (!existsSync(out)) return `.dump recovered nothing (${String(r.stderr).split('\n')[0]})`;
  const raw = new Database(out, { readonly: true });
  const counts = TABLES.map((tb) => {
    try {
      return `${tb} ${raw.prepare(`SELECT count(*) FROM ${tb}`).pluck().get()}`;
    } catch {
      return `${tb} -`;
    }
  });
  raw.close();
  return `.dump: ${counts.join(', ')}`;
}

type Damage = (path: string, map: ReturnType<typeof leafMap>) => number[];

const cases: [string, Damage][] = [
  [
    'a garbage table leaf page',
    (p, m) => {
      const page = (m.leafPages.shipped_items as number[])[3] as number;
      damagePage(p, page);
      return [page];
    },
  ],
  [
    'several leaf pages',
    (p, m) => {
      const pages = [
        (m.leafPages.shipped_items as number[])[1],
        (m.leafPages.shipped_items as number[])[7],
        (m.leafPages.shipped_orders as number[])[2],
      ] as number[];
      for (const page of pages) damagePage(p, page);
      return pages;
    },
  ],
  [
    'a garbage interior page',
    (p, m) => {
      damagePage(p, m.interiorPages[0] as number);
      return [];
    },
  ],
  [
    'every interior page',
    (p, m) => {
      for (const page of m.interiorPages) damagePage(p, page);
      return [];
    },
  ],
  [
    'a zeroed run of pages',
    (p, m) => {
      const start = (m.leafPages.shipped_items as number[])[5] as number;
      const run = Array.from({ length: 8 }, (_, i) => start + i);
      for (const page of run) damagePage(p, page, 0);
      return run;
    },
  ],
  [
    'index pages only',
    (p, m) => {
      for (const page of m.indexPages) damagePage(p, page);
      return [];
    },
  ],
  [
    'a truncated file',
    (p) => {
      const size = statSync(p).size;
      const keep = Math.floor((size * 0.7) / 4096) * 4096;
      truncateSync(p, keep);
      return Array.from({ length: size / 4096 - keep / 4096 }, (_, i) => keep / 4096 + 1 + i);
    },
  ],
  [
    'damaged header fields',
    (p) => {
      const buf = readFileSync(p);
      Buffer.alloc(100, 0xa5).copy(buf, 0); // the whole 100-byte header, magic and page size included
      writeFileSync(p, buf);
      return [];
    },
  ],
];

describe('recover', () => {
  /** Two tables of the same shape, 2000 rows each; the interior pages of `damaged` zeroed. */
  function twins(damaged: string[]): void {
    const raw = new Database(db);
    raw.exec('CREATE TABLE twin_a (x INTEGER, y TEXT); CREATE TABLE twin_b (x INTEGER, y TEXT)');
    const insert = (table: string, tag: string) => {
      const stmt = raw.prepare(`INSERT INTO ${table} VALUES (?, ?)`);
      raw.transaction(() => {
        for (let i = 0; i < 2000; i++) stmt.run(i, `${tag}-${i}-${'x'.repeat(40)}`);
      })();
    };
    insert('twin_a', 'a');
    insert('twin_b', 'b');
    raw.pragma('wal_checkpoint(TRUNCATE)');
    const interior = damaged.flatMap(
      (name) =>
        raw.prepare("SELECT pageno FROM dbstat WHERE name = ? AND pagetype = 'internal'").pluck().all(name) as number[],
    );
    raw.close();
    expect(interior.length).toBeGreaterThanOrEqual(damaged.length);
    for (const page of interior) damagePage(db, page, 0x00);
  }

  it('gives a stray leaf to the one damaged table it fits, never to an intact table of the same shape', () => {
    twins(['twin_a']);
    const r = recoverDatabase({ path: db, outPath: t.path('out.db'), replace: false, force: true });
    expect(r.integrity?.ok).toBe(true);
    const out = new Database(t.path('out.db'), { readonly: true });
    try {
      // twin_b's tree is intact, so it reached all its leaves: a stray leaf cannot be its own.
      expect(out.prepare("SELECT count(*) FROM twin_b WHERE y LIKE 'b-%'").pluck().get()).toBe(2000);
      expect(out.prepare("SELECT count(*) FROM twin_b WHERE y LIKE 'a-%'").pluck().get()).toBe(0);
      expect(
        out.prepare("SELECT count(*) FROM twin_a WHERE y = 'a-' || x || '-' || ?").pluck().get('x'.repeat(40)),
      ).toBe(2000);
      expect(r.lostAndFound).toBe(0);
      expect(r.tables.find((x) => x.name === 'twin_a')?.fromScan).toBe(2000);
    } finally {
      out.close();
    }
  });

  it('puts rows whose table is ambiguous in lost_and_found, never into the wrong table', () => {
    // Both trees damaged: an orphaned leaf page of either fits both.
    twins(['twin_a', 'twin_b']);
    const r = recoverDatabase({ path: db, outPath: t.path('out.db'), replace: false, force: true });
    expect(r.integrity?.ok).toBe(true);
    const out = new Database(t.path('out.db'), { readonly: true });
    try {
      // Neither table gets a row of the other; the orphaned rows are in lost_and_found with their origin.
      expect(out.prepare("SELECT count(*) FROM twin_b WHERE y LIKE 'a-%'").pluck().get()).toBe(0);
      expect(out.prepare("SELECT count(*) FROM twin_a WHERE y LIKE 'b-%'").pluck().get()).toBe(0);
      const lost = out
        .prepare('SELECT source_page, source_rowid, source_table, column_count, values_json FROM lost_and_found')
        .all() as {
        source_page: number;
        source_rowid: number;
        source_table: null;
        column_count: number;
        values_json: string;
      }[];
      expect(r.lostAndFound).toBe(lost.length);
      const kept = out
        .prepare('SELECT (SELECT count(*) FROM twin_a) + (SELECT count(*) FROM twin_b)')
        .pluck()
        .get() as number;
      expect(lost.length + kept).toBe(4000);
      expect(lost.length).toBeGreaterThan(3000);
      for (const row of lost) {
        expect(row.source_table).toBeNull();
        expect(row.column_count).toBe(2);
        expect(row.source_page).toBeGreaterThan(1);
        const [x, y] = JSON.parse(row.values_json) as [number, string];
        expect([`a-${x}-${'x'.repeat(40)}`, `b-${x}-${'x'.repeat(40)}`]).toContain(y);
      }
    } finally {
      out.close();
    }
  });

  it('keeps the copies and outputs of two databases recovered at once in one directory apart', async () => {
    const a = t.path('a.db');
    const b = t.path('b.db');
    createOraDatabase(a, 300, 1);
    createOraDatabase(b, 200, 2);
    const [ra, rb] = await Promise.all([
      recoverAsync(['--db', a, '--force', '--json']),
      recoverAsync(['--db', b, '--force', '--json']),
    ]);
    expect(ra.code).toBe(0);
    expect(rb.code).toBe(0);
    expect(ra.json().emergencyCopy[0]).toMatch(/ora_before_recover_a_\d{8}_\d{9}\.db$/);
    expect(rb.json().emergencyCopy[0]).toMatch(/ora_before_recover_b_\d{8}_\d{9}\.db$/);
    expect(contentHash(ra.json().emergencyCopy[0])).toBe(contentHash(a));
    expect(contentHash(rb.json().emergencyCopy[0])).toBe(contentHash(b));
    expect(contentHash(ra.json().output)).toBe(contentHash(a));
    expect(contentHash(rb.json().output)).toBe(contentHash(b));
    expect(readdirSync(t.dir).filter((f) => f.startsWith('.ora-recover-'))).toEqual([]);
  });

  it('reads a clean file exactly as SQLite does', () => {
    createOraDatabase(db, 1500);
    const r = recoverDatabase({ path: db, outPath: t.path('out.db'), replace: false, force: true });
    expect(r.integrity?.ok).toBe(true);
    expect(recoveredRows(t.path('out.db'))).toEqual(sqliteRows(db));
  });

  it.each(cases)('salvages every row of every undamaged page after %s, inventing nothing', (name, damage) => {
    createOraDatabase(db, 1500);
    const original = sqliteRows(db);
    const map = leafMap(db);
    const damaged = new Set(damage(db, map));
    const lost = new Set([...map.pages.entries()].filter(([page]) => damaged.has(page)).flatMap(([, rows]) => rows));
    console.log(`${name}: ${dumpBaseline(db)}`);
    const r = recoverDatabase({ path: db, outPath: t.path('out.db'), replace: false, force: false });
    expect(r.healthy).toBe(false);
    expect(r.integrity?.ok).toBe(true);
    const got = recoveredRows(t.path('out.db'));
    // Nothing invented, nothing in the wrong table, every value exact.
    for (const [k, v] of got) expect(original.get(k), k).toBe(v);
    // Every row not on a damaged page is back.
    const missing = [...original.keys()].filter((k) => !got.has(k) && !lost.has(k));
    expect(missing).toEqual([]);
    console.log(`${name}: recovered ${got.size} of ${original.size} rows (${lost.size} were on damaged pages)`);
  });
});

describe('recover job', () => {
  it('reports nothing to do on a healthy database, and touches nothing', () => {
    createOraDatabase(db, 50);
    const r = recover(['--db', db, '--json']);
    expect(r.code).toBe(0);
    expect(r.json()).toMatchObject({ status: 'skipped', healthy: true });
    expect(readdirSync(t.dir).filter((f) => f.startsWith('ora_'))).toEqual([]);
  });

  it('keeps an emergency copy, and --replace swaps the verified result in', () => {
    createOraDatabase(db, 500);
    const map = leafMap(db);
    damagePage(db, map.interiorPages[0] as number);
    chmodSync(db, 0o640);
    const damagedCopy = t.path('damaged.bak');
    copyFileSync(db, damagedCopy);
    const r = recover(['--db', db, '--replace', '--json']);
    expect(r.code).toBe(0);
    const result = r.json();
    expect(result).toMatchObject({ replaced: true, integrity: { ok: true } });
    expect(result.emergencyCopy[0]).toMatch(/ora_corrupted_ora_\d{8}_\d{9}\.db$/);
    expect(Buffer.compare(readFileSync(result.emergencyCopy[0]), readFileSync(damagedCopy))).toBe(0);
    const check = new Database(db, { readonly: true });
    expect(check.pragma('integrity_check', { simple: true })).toBe('ok');
    check.close();
    expect(statSync(db).mode & 0o777).toBe(0o640);
    expect(statSync(result.emergencyCopy[0]).mode & 0o777).toBe(0o600);
    expect(readdirSync(t.dir).filter((f) => f.startsWith('.ora-recover-'))).toEqual([]);
  });

  it('refuses --replace (exit 3) while another process has the database open, leaving it in place', async () => {
    createOraDatabase(db, 300);
    damagePage(db, leafMap(db).interiorPages[0] as number);
    const before = readFileSync(db);
    const holder = await holdLock(db, 'write');
    try {
      const r = recover(['--db', db, '--replace']);
      expect(r.code).toBe(3);
      expect(r.logs.at(-1)?.msg).toMatch(
        new RegExp(`^refusing to replace .*ora\\.db: pid ${holder.child.pid} .* still has it open`),
      );
    } finally {
      await holder.release();
    }
    expect(readFileSync(db).equals(before)).toBe(true);
  });

  it.each([
    [['--out', 'EXISTING'], 2, /already exists; choose another --out/],
    [['--replace=maybe'], 2, /--replace="maybe": expected true or false/],
  ])('refuses %j with exit %i', (args, code, message) => {
    createOraDatabase(db, 50);
    writeFileSync(t.path('existing.db'), 'x');
    const r = recover(['--db', db, '--force', ...args.map((a) => (a === 'EXISTING' ? t.path('existing.db') : a))]);
    expect(r.code).toBe(code);
    expect(r.logs.at(-1)?.msg).toMatch(message);
  });

  it('exits 3 for a missing database and creates nothing', () => {
    const r = recover(['--db', t.path('missing.db')]);
    expect(r.code).toBe(3);
    expect(readdirSync(t.dir)).toEqual([]);
  });
});
