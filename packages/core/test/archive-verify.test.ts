import { tempDir } from '@ora/testkit';
import Database from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { archivePathFor, archiveRows, nextBatchSize } from '../src/archive/archive.js';
import { openDatabase } from '../src/connection/connection.js';
import { createOraDatabase } from '../src/testing/index.js';

let t: ReturnType<typeof tempDir>;
let path: string;
beforeEach(() => {
  t = tempDir();
  path = t.path('ora.db');
  createOraDatabase(path, 400);
});
afterEach(() => t.cleanup());

const options = {
  table: 'shipped_orders' as const,
  cutoff: '2030-01-01',
  batchSize: 50,
  maxLockMs: 50,
  copyOnly: false,
  dryRun: false,
  busyTimeoutMs: 2000,
};
const rows = (file: string, sql: string) => {
  const db = new Database(file, { readonly: true });
  try {
    return db.prepare(sql).all();
  } finally {
    db.close();
  }
};

describe('archive verification', () => {
  it('moves every row unchanged when nothing else writes (the content check may be skipped)', async () => {
    const before = rows(path, 'SELECT * FROM shipped_orders ORDER BY id');
    const live = openDatabase(path);
    const report = await archiveRows(live, options);
    live.close();
    expect(report.moved.shipped_orders).toBe(before.length);
    const archived = report.archives.flatMap((a) => rows(a, 'SELECT * FROM shipped_orders'));
    expect(archived.sort((a, b) => (a as { id: number }).id - (b as { id: number }).id)).toEqual(before);
    expect(rows(path, 'SELECT count(*) AS n FROM shipped_items')).toEqual([{ n: 0 }]);
  });

  it('never deletes a row whose archived copy differs (a different row already there under its id)', async () => {
    const first = rows(path, 'SELECT id, ship_date FROM shipped_orders ORDER BY ship_date, id LIMIT 1')[0] as {
      id: number;
      ship_date: string;
    };
    const nextDay = new Date(Date.parse(`${first.ship_date}T00:00:00Z`) + 86_400_000).toISOString().slice(0, 10);
    const live = openDatabase(path);
    // Archive the first day, then put a different row back under one of its ids in the live database.
    await archiveRows(live, { ...options, cutoff: nextDay });
    live
      .prepare(
        "INSERT INTO shipped_orders (id, order_number, ship_date, customer) VALUES (?, 'PLANTED', ?, 'someone else')",
      )
      .run(first.id, first.ship_date);
    await expect(archiveRows(live, options)).rejects.toThrow(/keep changing/);
    live.close();
    expect(rows(path, `SELECT count(*) AS n FROM shipped_orders WHERE id = ${first.id}`)).toEqual([{ n: 1 }]);
  });

  it('rechecks row by row when the copy skipped a child already archived under the same id', async () => {
    const first = rows(path, 'SELECT ship_date FROM shipped_orders ORDER BY ship_date, id LIMIT 1')[0] as {
      ship_date: string;
    };
    const nextDay = new Date(Date.parse(`${first.ship_date}T00:00:00Z`) + 86_400_000).toISOString().slice(0, 10);
    const live = openDatabase(path);
    await archiveRows(live, { ...options, cutoff: nextDay });
    const archived = rows(
      archivePathFor(path, first.ship_date.slice(0, 4)),
      'SELECT id FROM shipped_items LIMIT 1',
    )[0] as {
      id: number;
    };
    // A new old order whose item reuses an archived item's id: the parent copies, the child is skipped.
    live.prepare("INSERT INTO shipped_orders (order_number, ship_date) VALUES ('SO-NEW', ?)").run(first.ship_date);
    live
      .prepare(
        "INSERT INTO shipped_items (id, ship_date, base_sku, quantity_shipped, order_number) VALUES (?, ?, 'X', 1, 'SO-NEW')",
      )
      .run(archived.id, first.ship_date);
    await expect(archiveRows(live, { ...options, cutoff: nextDay })).rejects.toThrow(/keep changing/);
    live.close();
    expect(rows(path, "SELECT count(*) AS n FROM shipped_items WHERE order_number = 'SO-NEW'")).toEqual([{ n: 1 }]);
    expect(rows(path, "SELECT count(*) AS n FROM shipped_orders WHERE order_number = 'SO-NEW'")).toEqual([{ n: 1 }]);
  });
});

describe('nextBatchSize', () => {
  it('aims at a third of the bound from the measured time per row', () => {
    // 100 rows in 10 ms: 0.1 ms a row; a third of 60 ms is 200 rows (growth capped at 2x).
    expect(nextBatchSize(100, 100, 10, 60)).toBe(200);
    expect(nextBatchSize(500, 500, 10, 60)).toBe(1000);
    expect(nextBatchSize(1000, 1000, 10, 45)).toBe(1500);
  });

  it('after an overrun shrinks at once to what fits, and to at most a quarter', () => {
    expect(nextBatchSize(1000, 1000, 200, 50)).toBe(83); // 0.2 ms a row: 16.7 ms / 0.2
    expect(nextBatchSize(1000, 1000, 60, 50)).toBe(250); // fits 277, but a quarter at most
  });

  it('stays within 1 and 10 000', () => {
    expect(nextBatchSize(1, 1, 500, 50)).toBe(1);
    expect(nextBatchSize(10_000, 10_000, 0, 50)).toBe(10_000);
  });
});
