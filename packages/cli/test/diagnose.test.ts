import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createOraDatabase } from '@ora/core/testing';
import { contentHash, holdLock, snapshotDir, tempDir } from '@ora/testkit';
import Database from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { oraDb } from './run-cli.js';

let t: ReturnType<typeof tempDir>;
let db: string;
beforeEach(() => {
  t = tempDir();
  db = t.path('ora.db');
});
afterEach(() => t.cleanup());

describe('ora-db schema', () => {
  it('matches the committed docs/DATABASE_SCHEMA.md (regenerate with: pnpm -s ora-db schema --markdown > docs/DATABASE_SCHEMA.md)', async () => {
    const committed = readFileSync(
      join(dirname(fileURLToPath(import.meta.url)), '../../../docs/DATABASE_SCHEMA.md'),
      'utf8',
    );
    const r = await oraDb(['schema', '--markdown']);
    expect(r.code).toBe(0);
    expect(r.out).toBe(committed);
    expect(committed).toContain('- `idx_shipped_items_ship_date` on (ship_date)');
    expect(committed).toContain('| order_number | TEXT | yes |  | FK → shipped_orders(order_number) |');
  });
});

describe('ora-db diagnose locks', () => {
  it('takes and releases the write lock when it is free, and changes nothing', async () => {
    createOraDatabase(db, 20);
    const hash = contentHash(db);
    const r = await oraDb(['diagnose', 'locks', '--db', db, '--json']);
    expect(r.code).toBe(0);
    expect(r.json()).toMatchObject({
      status: 'ok',
      writeLock: { available: true },
      checkpoint: { mode: 'PASSIVE', busy: false },
    });
    expect(contentHash(db)).toBe(hash);
  });

  it('reports a writer holding the lock, with its pid and command line', async () => {
    createOraDatabase(db, 20);
    const holder = await holdLock(db, 'write');
    try {
      const r = await oraDb(['diagnose', 'locks', '--db', db, '--wait-ms', '100', '--json']);
      expect(r.code).toBe(0);
      const result = r.json();
      expect(result.status).toBe('warn');
      expect(result.writeLock.available).toBe(false);
      expect(result.writeLock.message).toMatch(/^no write lock within 100 ms: another connection is writing/);
      const mine = result.holders.find((h: { pid: number }) => h.pid === holder.child.pid);
      expect(mine.files).toContain('db');
      expect(mine.command).toContain('node');
    } finally {
      await holder.release();
    }
  });

  it('refuses a bad --wait-ms with exit 2', async () => {
    createOraDatabase(db);
    const r = await oraDb(['diagnose', 'locks', '--db', db, '--wait-ms', '-1']);
    expect(r.code).toBe(2);
    expect(r.logs[0]?.msg).toBe(
      'invalid input: --wait-ms="-1": expected a whole number from 0 to 600000 (milliseconds)',
    );
  });
});

describe('ora-db diagnose fk', () => {
  it('lists orphan rows with the parent key they point at, and exits 1', async () => {
    createOraDatabase(db, 5);
    const raw = new Database(db);
    raw.pragma('foreign_keys = OFF');
    raw
      .prepare(
        "INSERT INTO shipped_items (ship_date, base_sku, quantity_shipped, order_number) VALUES ('2026-01-01', 'X', 1, 'SO-GONE')",
      )
      .run();
    raw.close();
    const r = await oraDb(['diagnose', 'fk', '--db', db, '--json']);
    expect(r.code).toBe(1);
    expect(r.json()).toMatchObject({
      status: 'failed',
      total: 1,
      violations: [
        {
          table: 'shipped_items',
          parentTable: 'shipped_orders',
          key: [{ column: 'order_number', value: 'SO-GONE', parentColumn: 'order_number' }],
        },
      ],
    });
    const clean = t.path('clean.db');
    createOraDatabase(clean, 5);
    expect((await oraDb(['diagnose', 'fk', '--db', clean])).code).toBe(0);
  });
});

describe('ora-db explain', () => {
  beforeEach(() => createOraDatabase(db, 300));

  it('shows the plan, time and rows of a query that uses an index', async () => {
    const r = await oraDb([
      'explain',
      'SELECT * FROM shipped_items WHERE order_number = ?',
      '--params',
      '["SO-0000001"]',
      '--db',
      db,
      '--json',
    ]);
    expect(r.code).toBe(0);
    const result = r.json();
    expect(result.status).toBe('ok');
    expect(result.plan[0].detail).toBe(
      'SEARCH shipped_items USING INDEX idx_shipped_items_order_number (order_number=?)',
    );
    expect(result.rows).toBeGreaterThan(0);
    expect(result.warnings).toEqual([]);
  });

  it('warns about a full scan of a large table', async () => {
    const r = await oraDb([
      'explain',
      "SELECT * FROM shipped_items WHERE base_sku = 'SKU-0001'",
      '--db',
      db,
      '--large-table-rows',
      '100',
      '--json',
    ]);
    expect(r.code).toBe(0);
    expect(r.json().status).toBe('warn');
    expect(r.json().warnings[0]).toMatch(/^full scan of shipped_items \(\d+ rows\) without an index/);
  });

  it('runs a write only with --allow-write, and rolls it back', async () => {
    const hash = contentHash(db);
    const refused = await oraDb(['explain', 'DELETE FROM shipped_items', '--db', db]);
    expect(refused.code).toBe(2);
    expect(refused.logs[0]?.msg).toBe(
      'refusing to run a statement that writes (DELETE …); pass --allow-write to run it inside a transaction that is rolled back',
    );
    const allowed = await oraDb(['explain', 'DELETE FROM shipped_items', '--allow-write', '--db', db, '--json']);
    expect(allowed.code).toBe(0);
    expect(allowed.json()).toMatchObject({ rolledBack: true, readonly: false });
    expect(allowed.json().rows).toBeGreaterThan(0);
    expect(contentHash(db)).toBe(hash);
  });

  it.each([
    [['SELEC * FROM x'], /^invalid SQL: near "SELEC": syntax error/],
    [['SELECT * FROM no_such_table'], /^invalid SQL: no such table: no_such_table/],
    [['SELECT 1; SELECT 2'], /^invalid SQL: The supplied SQL string contains more than one statement/],
    [['SELECT * FROM workflows WHERE name = ?'], /^invalid SQL: Too few parameter values were provided/],
    [['SELECT 1', '--params', '{nope'], /^--params is not valid JSON/],
    [['SELECT 1', '--params', '42'], /^--params must be a JSON array/],
    [[''], /^invalid input: --sql="": expected an SQL statement/],
    [['UPDATE workflows SET status = 1'], /^refusing to run a statement that writes \(UPDATE …\)/],
    [['SELECT 1', '--large-table-rows', '0'], /^invalid input: --large-table-rows="0"/],
  ])('refuses %j with exit 2 and changes nothing', async (args, message) => {
    const before = snapshotDir(t.dir);
    const r = await oraDb(['explain', ...args, '--db', db]);
    expect(r.code).toBe(2);
    expect(r.logs).toHaveLength(1);
    expect(r.logs[0]?.msg).toMatch(message);
    expect(snapshotDir(t.dir, { ignoreCompanions: true })).toEqual(before);
  });
});
