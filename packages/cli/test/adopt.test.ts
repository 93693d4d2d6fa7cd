import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { tempDir } from '@ora/testkit';
import Database from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { oraDb } from './run-cli.js';

// `migrate` adopting an ORA database the ORA automation made itself (SPEC §5): written here by
// Python's sqlite3 (python3 is on every machine that can build better-sqlite3: node-gyp needs it),
// with the columns the operations guide's own statements use, `user_version` 0, one table missing
// (inventory_transactions), one extra column, extra indexes, DATE/TIMESTAMP declared types and
// AUTOINCREMENT keys as ORMs write them, and journal_mode DELETE (Python's default).

let t: ReturnType<typeof tempDir>;
beforeEach(() => {
  t = tempDir();
});
afterEach(() => t.cleanup());

const GUIDE_SHAPED = `
import sqlite3, sys
conn = sqlite3.connect(sys.argv[1])
variant = sys.argv[2]
ship_date = 'INTEGER' if variant == 'unbridgeable' else 'DATE'
base_sku = '' if variant == 'unbridgeable' else 'base_sku TEXT,'
conn.executescript(f"""
CREATE TABLE inventory_current (
  sku TEXT PRIMARY KEY, product_name TEXT NOT NULL, current_quantity INTEGER DEFAULT 0,
  reorder_point INTEGER DEFAULT 0, alert_level TEXT DEFAULT 'normal',
  last_updated TIMESTAMP DEFAULT CURRENT_TIMESTAMP, warehouse TEXT);
CREATE TABLE workflows (name TEXT PRIMARY KEY, status TEXT, details TEXT, updated_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP);
CREATE TABLE shipped_orders (
  id INTEGER PRIMARY KEY AUTOINCREMENT, order_number TEXT UNIQUE NOT NULL, ship_date {ship_date},
  customer TEXT, carrier TEXT, tracking_number TEXT);
CREATE TABLE shipped_items (
  id INTEGER PRIMARY KEY AUTOINCREMENT, ship_date DATE, sku_lot TEXT, {base_sku}
  quantity_shipped INTEGER, order_number TEXT REFERENCES shipped_orders(order_number));
CREATE TABLE system_kpis (
  id INTEGER PRIMARY KEY AUTOINCREMENT, snapshot_date DATE UNIQUE, orders_today INTEGER,
  shipments_sent INTEGER, system_status TEXT, created_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP);
CREATE INDEX idx_items_date ON shipped_items (ship_date);
CREATE INDEX idx_orders_customer ON shipped_orders (customer);
CREATE INDEX idx_inventory_alert ON inventory_current (alert_level, current_quantity);
""")
with conn:
    for i in range(1, 41):
        conn.execute("INSERT INTO inventory_current (sku, product_name, current_quantity, reorder_point, alert_level, warehouse) VALUES (?, ?, ?, ?, ?, ?)",
                     (f"SKU-{i:03}", f"Product {i}", i * 7 % 50, 20, 'low' if i * 7 % 50 <= 20 else 'normal', 'east' if i % 2 else None))
    conn.execute("INSERT INTO workflows (name, status, details) VALUES ('nightly-sync', 'ok', 'from python')")
    for o in range(1, 201):
        conn.execute("INSERT INTO shipped_orders (order_number, ship_date, customer, carrier, tracking_number) VALUES (?, ?, ?, ?, ?)",
                     (f"ORD-{o:05}", f"2025-{1 + o % 12:02}-{1 + o % 28:02}", f"Customer {o % 17}", 'UPS', f"1Z{o:08}"))
        cols = "(ship_date, sku_lot, base_sku, quantity_shipped, order_number)" if base_sku else "(ship_date, sku_lot, quantity_shipped, order_number)"
        vals = (f"2025-{1 + o % 12:02}-{1 + o % 28:02}", f"SKU-{1 + o % 40:03}-L1", f"SKU-{1 + o % 40:03}", 1 + o % 5, f"ORD-{o:05}")
        conn.execute(f"INSERT INTO shipped_items {cols} VALUES ({', '.join('?' * (5 if base_sku else 4))})", vals if base_sku else vals[:2] + vals[3:])
    for d in range(1, 31):
        conn.execute("INSERT INTO system_kpis (snapshot_date, orders_today, shipments_sent, system_status) VALUES (?, ?, ?, 'ok') ON CONFLICT(snapshot_date) DO UPDATE SET orders_today = excluded.orders_today",
                     (f"2025-06-{d:02}", d * 3, d * 2))
conn.close()
`;

function pythonDatabase(path: string, variant: 'adoptable' | 'unbridgeable'): void {
  const r = spawnSync('python3', ['-c', GUIDE_SHAPED, path, variant], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`python3 failed: ${r.stderr}`);
}

/** Every row of every table, restricted to the columns the table had before (new columns are additions). */
function rowsOf(
  path: string,
  columnsOf?: Record<string, string[]>,
): Record<string, { columns: string[]; rows: unknown[] }> {
  const db = new Database(path, { readonly: true });
  try {
    const out: Record<string, { columns: string[]; rows: unknown[] }> = {};
    const tables = db
      .prepare("SELECT name FROM sqlite_schema WHERE type = 'table' ORDER BY name")
      .pluck()
      .all() as string[];
    for (const table of tables) {
      const columns =
        columnsOf?.[table] ??
        (db.prepare(`PRAGMA table_info("${table}")`).all() as { name: string }[]).map((c) => c.name);
      if (columnsOf && !columnsOf[table]) continue;
      const rows = db
        .prepare(`SELECT ${columns.map((c) => `"${c}"`).join(', ')} FROM "${table}" ORDER BY rowid`)
        .raw()
        .all();
      out[table] = { columns, rows };
    }
    return out;
  } finally {
    db.close();
  }
}

const sha = (path: string) => createHash('sha256').update(readFileSync(path)).digest('hex');

describe('migrate adopts an ORA database made by another program', () => {
  it('dry run shows the plan; migrate adds only what is missing after a verified backup, rewrites no row, and inventory works', async () => {
    const db = t.path('ora.db');
    const backups = t.path('backups');
    pythonDatabase(db, 'adoptable');
    const before = rowsOf(db);
    const beforeColumns = Object.fromEntries(Object.entries(before).map(([k, v]) => [k, v.columns]));

    // Before: inventory refuses with what to run; health-check advises migrate (it will succeed).
    const refused = await oraDb(['inventory', 'levels', '--db', db]);
    expect(refused.code).toBe(3);
    expect(refused.logs.at(-1)?.msg).toMatch(
      /schema version 0 \(created by another program\); run 'ora-db migrate --dry-run/,
    );
    const health = await oraDb(['health-check', '--db', db, '--json']);
    expect(health.json().checks.find((c: { name: string }) => c.name === 'schema-version').message).toMatch(
      /^ORA tables at schema version 0 \(made by another program\): adopt them with 'ora-db migrate' \(\d+ addition/,
    );

    const fileBefore = sha(db);
    const dry = await oraDb(['migrate', '--db', db, '--backup-dir', backups, '--dry-run', '--json']);
    expect(dry.code).toBe(0);
    const plan = dry.json();
    expect(plan).toMatchObject({
      status: 'ok',
      dryRun: true,
      mode: 'adopt',
      fromVersion: 0,
      toVersion: 1,
      backupId: null,
    });
    const steps = plan.steps.map(
      (s: { kind: string; table: string; name: string }) => `${s.kind} ${s.table}.${s.name}`,
    );
    expect(steps).toEqual([
      'create-table inventory_transactions.inventory_transactions',
      'create-index inventory_transactions.idx_inventory_transactions_sku_date',
      'create-index shipped_orders.idx_shipped_orders_ship_date',
      'create-index shipped_items.idx_shipped_items_order_number',
      'add-column system_kpis.pending_uploads',
    ]);
    expect(plan.kept).toEqual(
      expect.arrayContaining([
        'inventory_current.warehouse: extra column (kept)',
        expect.stringMatching(/^shipped_orders\.ship_date: is declared DATE \(NUMERIC affinity\)/),
      ]),
    );
    const human = await oraDb(['migrate', '--db', db, '--backup-dir', backups, '--dry-run']);
    expect(human.out).toMatch(
      /^migrate: dry run — would adopt the ORA database at schema version 0 as version 1: 5 addition\(s\), no row rewritten; nothing changed/,
    );
    expect(human.out).toContain(
      'would run: ALTER TABLE "system_kpis" ADD COLUMN pending_uploads INTEGER NOT NULL DEFAULT 0',
    );
    expect(sha(db)).toBe(fileBefore);
    expect(existsSync(backups)).toBe(false);

    const adopted = await oraDb(['migrate', '--db', db, '--backup-dir', backups, '--json']);
    expect(adopted.code).toBe(0);
    const r = adopted.json();
    expect(r).toMatchObject({ status: 'ok', mode: 'adopt', fromVersion: 0, toVersion: 1, journalMode: 'delete' });
    expect(r.backupId).toMatch(/\d/);
    expect(r.rollback).toContain(`ora-db restore ${r.backupId}`);
    const verify = await oraDb(['backup', 'verify', r.backupId, '--backup-dir', backups, '--json']);
    expect(verify.code).toBe(0);

    // Every existing row unchanged (in the columns it had), nothing dropped, version recorded.
    expect(rowsOf(db, beforeColumns)).toEqual(before);
    const check = new Database(db, { readonly: true });
    try {
      expect(check.pragma('user_version', { simple: true })).toBe(1);
      expect(check.pragma('journal_mode', { simple: true })).toBe('delete');
      expect(check.prepare('SELECT DISTINCT pending_uploads FROM system_kpis').pluck().all()).toEqual([0]);
      const indexes = check
        .prepare("SELECT name FROM sqlite_schema WHERE type = 'index' AND sql IS NOT NULL ORDER BY name")
        .pluck()
        .all();
      expect(indexes).toEqual(
        expect.arrayContaining([
          'idx_items_date',
          'idx_orders_customer',
          'idx_inventory_alert',
          'idx_shipped_items_order_number',
        ]),
      );
      expect(indexes).not.toContain('idx_shipped_items_ship_date'); // idx_items_date already covers it
    } finally {
      check.close();
    }

    // The domain commands work on it now.
    const receive = await oraDb(['inventory', 'receive', 'SKU-003', '12', '--db', db, '--json']);
    expect(receive.code).toBe(0);
    const ship = await oraDb(['inventory', 'ship', 'SKU-003', '2', '--db', db, '--json']);
    expect(ship.code).toBe(0);
    const levels = await oraDb(['inventory', 'levels', '--db', db, '--json']);
    expect(levels.code).toBe(0);
    expect(JSON.stringify(levels.json())).toContain('SKU-003');
    expect((await oraDb(['inventory', 'low-stock', '--db', db])).code).toBe(0);
    const after = new Database(db, { readonly: true });
    try {
      expect(after.prepare("SELECT current_quantity FROM inventory_current WHERE sku = 'SKU-003'").pluck().get()).toBe(
        21 + 10,
      );
      expect(after.prepare('SELECT count(*) FROM inventory_transactions').pluck().get()).toBe(2);
    } finally {
      after.close();
    }
    const again = await oraDb(['migrate', '--db', db, '--backup-dir', backups, '--json']);
    expect(again.json()).toMatchObject({ status: 'skipped' });
    const healthAfter = await oraDb(['health-check', '--db', db, '--json']);
    expect(healthAfter.json().checks.map((c: { name: string }) => c.name)).not.toContain('schema-version');
  });

  it('refuses a difference it cannot bridge with a per-table, per-column report, and changes nothing', async () => {
    const db = t.path('ora.db');
    const backups = t.path('backups');
    pythonDatabase(db, 'unbridgeable');
    const fileBefore = sha(db);
    for (const args of [[], ['--dry-run']]) {
      const r = await oraDb(['migrate', '--db', db, '--backup-dir', backups, ...args, '--json']);
      expect(r.code).toBe(3);
      const error = r.json().error;
      expect(error.code).toBe('SCHEMA_MISMATCH');
      expect(error.message).toMatch(
        /^refusing to adopt .*ora\.db: its ORA tables differ from the ORA schema in 2 way\(s\) that cannot be bridged safely/,
      );
      expect(error.message).toContain(
        'shipped_orders.ship_date: is INTEGER (INTEGER affinity), the ORA schema needs TEXT (TEXT)',
      );
      expect(error.message).toContain('shipped_items.base_sku: is missing and is NOT NULL without a default');
      expect(error.message).toMatch(/nothing was changed/);
      expect(error.differences).toEqual([
        { table: 'shipped_orders', column: 'ship_date', problem: expect.stringMatching(/^is INTEGER/) },
        { table: 'shipped_items', column: 'base_sku', problem: expect.stringMatching(/^is missing and is NOT NULL/) },
      ]);
    }
    expect(sha(db)).toBe(fileBefore);
    expect(existsSync(backups)).toBe(false);
    expect(existsSync(`${db}-wal`)).toBe(false);
    // health-check does not advise a migrate that would fail; init refuses it too.
    const health = await oraDb(['health-check', '--db', db, '--json']);
    const schema = health.json().checks.find((c: { name: string }) => c.name === 'schema-version');
    expect(schema.message).toMatch(/cannot bridge: shipped_orders\.ship_date/);
    expect(schema.message).not.toMatch(/adopt them with/);
    const init = await oraDb(['init', '--db', db]);
    expect(init.code).toBe(3);
    expect(init.logs.at(-1)?.msg).toMatch(/differ from the ORA schema in ways 'ora-db migrate' cannot bridge/);
    expect(sha(db)).toBe(fileBefore);
  });
});
