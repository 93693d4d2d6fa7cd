import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { enableSlowQueryLog, openDatabase } from '@ora/core';
import { createOraDatabase } from '@ora/core/testing';
import { bundleRunner, bundleRunnerAsync, snapshotDir, startWriter, tempDir } from '@ora/testkit';
import Database from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const run = bundleRunner(root);
const runAsync = bundleRunnerAsync(root);

let t: ReturnType<typeof tempDir>;
let db: string;
beforeEach(() => {
  t = tempDir();
  db = t.path('ora.db');
});
afterEach(() => t.cleanup());

describe('metrics', () => {
  it("reports the guide's metrics and real row counts equal to count(*) for every table", () => {
    createOraDatabase(db, 400);
    const r = run(['--db', db, '--json']);
    expect(r.code).toBe(0);
    const result = r.json();
    expect(result).toMatchObject({
      status: 'ok',
      journalMode: 'wal',
      foreignKeys: true,
      cacheSizeKib: 20000,
      freePct: 0,
    });
    expect(result.sizeMb).toBeGreaterThan(0);
    const raw = new Database(db, { readonly: true });
    try {
      const tables = raw
        .prepare("SELECT name FROM sqlite_schema WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name")
        .pluck()
        .all() as string[];
      expect(result.tables.map((x: { name: string }) => x.name)).toEqual(tables);
      for (const table of result.tables) {
        expect(table.rows).toBe(raw.prepare(`SELECT count(*) FROM "${table.name}"`).pluck().get());
        expect(table.bytes).toBeGreaterThan(0);
      }
      const items = result.tables.find((x: { name: string }) => x.name === 'shipped_items');
      expect(items.indexes.map((i: { name: string; columns: string[] }) => [i.name, i.columns])).toEqual([
        ['idx_shipped_items_order_number', ['order_number']],
        ['idx_shipped_items_ship_date', ['ship_date']],
      ]);
    } finally {
      raw.close();
    }
  });

  it('summarises the slow-statement log and names an index the logged query uses and one it does not', () => {
    createOraDatabase(db, 300);
    const log = t.path('slow.ndjson');
    const app = openDatabase(db);
    enableSlowQueryLog(app, { file: log, thresholdMs: 0, maxBytes: 1_000_000 });
    const byDate = app.prepare('SELECT count(*) FROM shipped_orders WHERE ship_date >= ?');
    for (let i = 0; i < 5; i++) byDate.get('2026-06-01');
    app.prepare("SELECT * FROM inventory_current WHERE product_name LIKE '%Honey%'").all();
    app.close();
    const r = run(['--db', db, '--slow-query-log', log, '--json']);
    expect(r.code).toBe(0);
    const { slowQueries, indexUsage } = r.json();
    expect(slowQueries.entries).toBe(6);
    expect(
      slowQueries.top.find((q: { sql: string }) => q.sql.startsWith('SELECT count(*) FROM shipped_orders')),
    ).toMatchObject({
      sql: 'SELECT count(*) FROM shipped_orders WHERE ship_date >= ?',
      count: 5,
    });
    const totals = slowQueries.top.map((q: { totalMs: number }) => q.totalMs);
    expect(totals).toEqual([...totals].sort((a: number, b: number) => b - a));
    const logged = indexUsage.queries.find((q: { sql: string }) =>
      q.sql.startsWith('SELECT count(*) FROM shipped_orders'),
    );
    expect(logged.indexes).toEqual(['idx_shipped_orders_ship_date']);
    expect(indexUsage.used).toContain('idx_shipped_orders_ship_date');
    expect(indexUsage.unused).toContain('idx_inventory_transactions_sku_date');
    const like = slowQueries.top.findIndex((q: { sql: string }) => q.sql.includes('LIKE'));
    expect(indexUsage.fullScans).toContainEqual({ query: `slow.${like + 1}`, table: 'inventory_current' });
  });

  it('writes per-table Prometheus gauges', () => {
    createOraDatabase(db, 50);
    const prom = t.path('ora.prom');
    expect(run(['--db', db, '--metrics-file', prom]).code).toBe(0);
    const text = readFileSync(prom, 'utf8');
    expect(text).toMatch(
      /ora_table_rows\{ora_job="metrics",database=".*ora\.db",ora_host="[^"]+",table="shipped_orders"\} 50/,
    );
    expect(text).toMatch(
      /ora_index_used\{ora_job="metrics",database=".*",ora_host="[^"]+",index="idx_shipped_items_order_number"\} 1/,
    );
    expect(text).toMatch(/ora_db_free_pages_percent\{.*\} 0/);
  });

  it('never holds a writer off: 100 commits/s keep committing while it runs', async () => {
    createOraDatabase(db, 3000);
    const writer = await startWriter(db, { ratePerSecond: 100 });
    const results = [];
    for (let i = 0; i < 3; i++) results.push(await runAsync(['--db', db]));
    const report = await writer.stop();
    expect(results.map((r) => r.code)).toEqual([0, 0, 0]);
    expect(report.failures).toBe(0);
    expect(report.maxMs).toBeLessThan(200);
  });

  it.each([
    [['--top', '0'], 'invalid input: --top="0": expected a whole number from 1 to 1000'],
    [
      ['--slow-query-log', ''],
      'invalid input: --slow-query-log="": expected a file path (1 to 4096 characters, no NUL bytes)',
    ],
    [
      ['--busy-timeout-ms', '1e9'],
      'invalid input: --busy-timeout-ms="1e9": expected a whole number from 0 to 600000 (milliseconds)',
    ],
  ])('refuses %j with exit 2 and changes nothing', (args, message) => {
    createOraDatabase(db, 10);
    const before = snapshotDir(t.dir);
    const r = run(['--db', db, ...args]);
    expect(r.code).toBe(2);
    expect(r.logs).toHaveLength(1);
    expect(r.logs[0]?.msg).toBe(message);
    expect(snapshotDir(t.dir)).toEqual(before);
  });
});
