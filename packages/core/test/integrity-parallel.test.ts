import { closeSync, openSync, readFileSync, writeSync } from 'node:fs';
import { damagePage, rootPage, tempDir } from '@ora/testkit';
import Database from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { openDatabase } from '../src/connection/connection.js';
import { checkIntegrity, checkIntegrityParallel } from '../src/integrity/integrity.js';
import { createOraDatabase } from '../src/testing/index.js';

let t: ReturnType<typeof tempDir>;
let path: string;
beforeEach(() => {
  t = tempDir();
  path = t.path('ora.db');
  createOraDatabase(path, 300);
});
afterEach(() => t.cleanup());

const both = async () => {
  const db = openDatabase(path, { readonly: true });
  try {
    return { serial: checkIntegrity(db, { full: true }), parallel: await checkIntegrityParallel(db) };
  } finally {
    db.close();
  }
};

describe('checkIntegrityParallel: integrity_check over two threads, same guarantee', () => {
  it('passes a healthy database', async () => {
    const { serial, parallel } = await both();
    expect(serial.ok).toBe(true);
    expect(parallel).toMatchObject({ mode: 'full', ok: true, problems: [], truncated: false });
  });

  it('finds an index that no longer matches its table (what quick_check alone misses)', async () => {
    // Rewrite one index entry behind SQLite's back: the page stays well-formed, the content is wrong.
    const raw = new Database(path);
    raw.unsafeMode(true);
    raw.pragma('writable_schema = ON');
    raw.exec(
      "UPDATE sqlite_schema SET sql = 'CREATE INDEX idx_shipped_items_ship_date ON shipped_items(sku_lot)' WHERE name = 'idx_shipped_items_ship_date'",
    );
    raw.close();
    const { serial, parallel } = await both();
    expect(serial.ok).toBe(false);
    expect(parallel.ok).toBe(false);
    expect(new Set(parallel.problems)).toEqual(new Set(serial.problems));
    const quick = openDatabase(path, { readonly: true });
    expect(checkIntegrity(quick, { full: false }).ok).toBe(true);
    quick.close();
  });

  it('finds pages no table uses (what a per-table integrity_check alone misses)', async () => {
    // Free some pages, then cut the freelist off the header: those pages are now used by nothing.
    const raw = new Database(path);
    raw.exec('DELETE FROM shipped_items WHERE id % 2 = 0');
    raw.pragma('wal_checkpoint(TRUNCATE)');
    raw.close();
    const header = readFileSync(path).subarray(0, 100);
    expect(header.readUInt32BE(36)).toBeGreaterThan(0); // freelist count
    const fd = openSync(path, 'r+');
    writeSync(fd, Buffer.alloc(8), 0, 8, 32); // first freelist trunk page and freelist count
    closeSync(fd);
    const perTable = new Database(path, { readonly: true });
    const tables = perTable.prepare("SELECT name FROM sqlite_schema WHERE type = 'table'").pluck().all() as string[];
    for (const name of tables)
      expect(perTable.prepare(`PRAGMA integrity_check("${name}")`).pluck().all()).toEqual(['ok']);
    perTable.close();
    const { serial, parallel } = await both();
    expect(serial.ok).toBe(false);
    expect(serial.problems.some((p) => /never used/.test(p))).toBe(true);
    expect(parallel.ok).toBe(false);
    expect(new Set(parallel.problems)).toEqual(new Set(serial.problems));
  });

  it('reports a damaged table page like the serial check, and caps the list', async () => {
    damagePage(path, rootPage(path, 'shipped_orders'));
    const db = openDatabase(path, { readonly: true });
    try {
      const serial = checkIntegrity(db, { full: true, maxProblems: 5 });
      const parallel = await checkIntegrityParallel(db, { maxProblems: 5 });
      expect(serial.ok).toBe(false);
      expect(parallel.ok).toBe(false);
      expect(parallel.problems.length).toBeLessThanOrEqual(5);
      expect(parallel.problems.length).toBeGreaterThan(0);
    } finally {
      db.close();
    }
  });
});
