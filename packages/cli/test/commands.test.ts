import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createOraDatabase } from '@ora/core/testing';
import { contentHash, snapshotDir, tempDir } from '@ora/testkit';
import Database from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { oraDb } from './run-cli.js';

let t: ReturnType<typeof tempDir>;
beforeEach(() => {
  t = tempDir();
});
afterEach(() => t.cleanup());

describe('ora-db init', () => {
  it('creates a database with the ORA schema, mode 0600, and is a no-op the second time', async () => {
    const db = t.path('ora.db');
    const first = await oraDb(['init', '--db', db, '--json']);
    expect(first.code).toBe(0);
    expect(first.json()).toMatchObject({ status: 'ok', created: true, schemaVersion: 1, applied: [1] });
    expect(statSync(db).mode & 0o777).toBe(0o600);
    const second = await oraDb(['init', '--db', db, '--json']);
    expect(second.json()).toMatchObject({ status: 'skipped', created: false, applied: [] });
  });

  it('refuses a missing directory and a file holding other tables, changing nothing', async () => {
    const r = await oraDb(['init', '--db', t.path('nodir/ora.db')]);
    expect(r.code).toBe(3);
    expect(r.logs[0]?.msg).toMatch(
      /^cannot create .*nodir\/ora\.db: directory .*nodir does not exist; create it first/,
    );
    const other = t.path('other.db');
    const raw = new Database(other);
    raw.exec('CREATE TABLE notes (x)');
    raw.close();
    const before = snapshotDir(t.dir);
    const refused = await oraDb(['init', '--db', other]);
    expect(refused.code).toBe(3);
    expect(refused.logs[0]?.msg).toMatch(/^refusing to init .*other\.db: it is not an ORA database/);
    expect(snapshotDir(t.dir)).toEqual(before);
  });
});

describe('ora-db seed', () => {
  it('is deterministic for a seed and end date', async () => {
    const a = t.path('a.db');
    const b = t.path('b.db');
    const c = t.path('c.db');
    for (const [db, seed] of [
      [a, '7'],
      [b, '7'],
      [c, '8'],
    ] as const) {
      expect(
        (await oraDb(['seed', '--db', db, '--size', 'tiny', '--seed', seed, '--end-date', '2026-01-31'])).code,
      ).toBe(0);
    }
    const strip = (path: string) => {
      // created_at/last_updated hold the wall clock: compare everything else.
      const raw = new Database(path);
      raw.exec(
        'UPDATE inventory_current SET last_updated = 0; UPDATE inventory_transactions SET created_at = 0; UPDATE workflows SET updated_at = 0; UPDATE system_kpis SET created_at = 0;',
      );
      raw.close();
      return contentHash(path);
    };
    expect(strip(a)).toBe(strip(b));
    expect(strip(a)).not.toBe(strip(c));
  });

  it('writes the requested amount of data and refuses to seed a database with data', async () => {
    const db = t.path('ora.db');
    const r = await oraDb(['seed', '--db', db, '--orders', '120', '--json']);
    expect(r.code).toBe(0);
    expect(r.json()).toMatchObject({ status: 'ok', orders: 120 });
    const raw = new Database(db, { readonly: true });
    expect(raw.prepare('SELECT count(*) FROM shipped_orders').pluck().get()).toBe(120);
    expect(raw.prepare('SELECT count(*) FROM shipped_items').pluck().get()).toBe(r.json().items);
    expect(raw.pragma('foreign_key_check')).toEqual([]);
    raw.close();
    const hash = contentHash(db);
    const again = await oraDb(['seed', '--db', db]);
    expect(again.code).toBe(2);
    expect(again.logs.at(-1)?.msg).toMatch(/^refusing to seed .*ora\.db: it already holds \d+ orders\/inventory rows/);
    expect(contentHash(db)).toBe(hash);
  });

  it('refuses an ORA database at the current version that lacks a table (dropped, or a view in its place), naming it and changing nothing', async () => {
    for (const [change, missing] of [
      ['DROP TABLE inventory_transactions', 'inventory_transactions'],
      ["DROP TABLE workflows; CREATE VIEW workflows AS SELECT 'x' AS name", 'workflows'],
    ] as const) {
      const db = t.path(`${missing}.db`);
      expect((await oraDb(['init', '--db', db])).code).toBe(0);
      const raw = new Database(db);
      raw.exec(change);
      raw.close();
      const before = snapshotDir(t.dir);
      const r = await oraDb(['seed', '--db', db, '--size', 'tiny']);
      expect(r.code, change).toBe(3);
      expect(r.logs.at(-1)?.code, change).toBe('NOT_ORA_SCHEMA');
      expect(r.logs.at(-1)?.msg, change).toMatch(
        new RegExp(
          `^seed needs the ORA table\\(s\\) ${missing}, which .*${missing}\\.db does not have although it records schema version 1`,
        ),
      );
      expect(snapshotDir(t.dir), change).toEqual(before);
    }
  });

  it.each([
    [['--size', 'huge'], 'invalid input: --size="huge": expected one of: tiny, small, medium, large'],
    [['--seed', '-1'], 'invalid input: --seed="-1": expected a whole number from 0 to 4294967295'],
    [
      ['--end-date', '2026-02-30'],
      'invalid input: --end-date="2026-02-30": expected a date as YYYY-MM-DD (a real calendar date)',
    ],
    [['--days', '0'], 'invalid input: --days="0": expected a whole number from 1 to 36500'],
  ])('refuses %j with exit 2 and creates no file', async (args, message) => {
    const r = await oraDb(['seed', '--db', t.path('ora.db'), ...args]);
    expect(r.code).toBe(2);
    expect(r.logs).toHaveLength(1);
    expect(r.logs[0]?.msg).toBe(message);
    expect(readdirSync(t.dir)).toEqual([]);
  });
});

describe('ora-db inventory', () => {
  let db: string;
  beforeEach(() => {
    db = t.path('ora.db');
    createOraDatabase(db);
    const raw = new Database(db);
    raw
      .prepare(
        "INSERT INTO inventory_current (sku, product_name, current_quantity, reorder_point, alert_level) VALUES ('W-1', 'Widget', 10, 4, 'normal')",
      )
      .run();
    raw.close();
  });

  it('receives, ships and adjusts, updating the level and alert', async () => {
    const ship = await oraDb(['inventory', 'ship', 'W-1', '7', '--db', db, '--json']);
    expect(ship.code).toBe(0);
    expect(ship.json()).toMatchObject({ type: 'Ship', quantityBefore: 10, quantityAfter: 3, alertLevel: 'low' });
    const adjust = await oraDb(['inventory', 'adjust', 'W-1', '1', '--direction', 'down', '--db', db, '--json']);
    expect(adjust.json()).toMatchObject({ type: 'Adjust Down', quantityAfter: 2, alertLevel: 'critical' });
    const receive = await oraDb(['inventory', 'receive', 'W-1', '20', '--db', db, '--notes', 'PO-1']);
    expect(receive.code).toBe(0);
    expect(receive.out).toBe('inventory receive: ok — Receive 20 × W-1: 2 → 22 (normal), transaction #3\n');
    const low = await oraDb(['inventory', 'low-stock', '--db', db, '--json']);
    expect(low.json()).toMatchObject({ status: 'ok', count: 0, items: [] });
  });

  it.each([
    [
      ['inventory', 'ship', 'NOPE', '1'],
      2,
      'UNKNOWN_SKU',
      /^unknown SKU 'NOPE': it is not in inventory_current of .*; nothing was recorded/,
    ],
    [
      ['inventory', 'ship', 'W-1', '11'],
      2,
      'INSUFFICIENT_STOCK',
      /^cannot record Ship of 11 for SKU 'W-1': only 10 in stock, the result would be -1; nothing was recorded$/,
    ],
    [['inventory', 'adjust', 'W-1', '11', '--direction', 'down'], 2, 'INSUFFICIENT_STOCK', /only 10 in stock/],
    [
      ['inventory', 'receive', 'W-1', '0'],
      2,
      'INVALID_INPUT',
      /^invalid input: --quantity="0": expected a whole number from 1 to 1000000000 \(a positive quantity\)$/,
    ],
    [['inventory', 'receive', 'W-1', '2.5'], 2, 'INVALID_INPUT', /--quantity="2.5"/],
    [['inventory', 'receive', 'W-1', 'ten'], 2, 'INVALID_INPUT', /--quantity="ten"/],
    [
      ['inventory', 'receive', 'W-1', '1', '--date', '2026-13-01'],
      2,
      'INVALID_INPUT',
      /--date="2026-13-01": expected a date as YYYY-MM-DD/,
    ],
    [
      ['inventory', 'adjust', 'W-1', '1', '--direction', 'sideways'],
      2,
      'INVALID_INPUT',
      /--direction="sideways": expected one of: up, down/,
    ],
    [['inventory', 'adjust', 'W-1', '1'], 2, 'INVALID_INPUT', /--direction is required: expected one of: up, down/],
    [
      ['inventory', 'ship', 'W-1'],
      2,
      'INVALID_INPUT',
      /^invalid command line: missing arguments: this command takes 2, 1 given; see 'ora-db inventory ship --help'$/,
    ],
    [
      ['inventory', 'levels', '--no-limit'],
      2,
      'INVALID_INPUT',
      /^invalid command line: unknown flag --no-limit; see 'ora-db inventory levels --help'$/,
    ],
    [
      ['inventroy', 'levels'],
      2,
      'INVALID_INPUT',
      /^invalid command line: unknown command 'inventroy' \(did you mean 'inventory'\?\); see 'ora-db --help'$/,
    ],
    [
      ['--busy-timeout-ms', '10', 'inventory', 'low-stock', '--nope'],
      2,
      'INVALID_INPUT',
      /^invalid command line: unknown flag --nope; see 'ora-db inventory low-stock --help'$/,
    ],
  ])('refuses %j with exit %i (%s) and records nothing', async (args, exit, code, message) => {
    const hash = contentHash(db);
    const r = await oraDb([...args, '--db', db]);
    expect(r.code).toBe(exit);
    expect(r.logs).toHaveLength(1);
    expect(r.logs[0]?.code).toBe(code);
    expect(r.logs[0]?.msg).toMatch(message);
    expect(contentHash(db)).toBe(hash);
  });

  it('refuses a database without the ORA schema with exit 3', async () => {
    const empty = t.path('plain.db');
    new Database(empty).exec('CREATE TABLE x (y)');
    const r = await oraDb(['inventory', 'levels', '--db', empty]);
    expect(r.code).toBe(3);
    expect(r.logs[0]?.msg).toMatch(
      /^inventory needs the ORA schema, but .*plain\.db is not an ORA database: it has none of the ORA tables/,
    );
  });

  it('lists levels, most severe first', async () => {
    const raw = new Database(db);
    raw.exec(`INSERT INTO inventory_current (sku, product_name, current_quantity, reorder_point, alert_level) VALUES
      ('A', 'a', 0, 5, 'critical'), ('B', 'b', 5, 5, 'low'), ('C', 'c', 100, 5, 'normal')`);
    raw.close();
    const r = await oraDb(['inventory', 'levels', '--db', db, '--json']);
    expect(r.json().items.map((i: { sku: string }) => i.sku)).toEqual(['A', 'B', 'W-1', 'C']);
  });
});

describe('the bundled ora-db CLI', () => {
  const root = join(dirname(fileURLToPath(import.meta.url)), '..');
  const bin = join(root, 'dist/ora-db.mjs');

  it('runs seed and health-check from dist/ora-db.mjs as a child process', () => {
    if (!existsSync(bin)) {
      const built = spawnSync(process.execPath, ['../../scripts/bundle.mjs', 'src/bin.ts', 'dist/ora-db.mjs'], {
        cwd: root,
      });
      expect(built.status).toBe(0);
    }
    mkdirSync(t.path('data'));
    const db = t.path('data/ora.db');
    const env = { PATH: process.env.PATH ?? '', DATABASE_PATH: db };
    const seed = spawnSync(process.execPath, [bin, 'seed', '--size', 'tiny'], { env, encoding: 'utf8' });
    expect(seed.status).toBe(0);
    const check = spawnSync(process.execPath, [bin, 'health-check', '--json'], { env, encoding: 'utf8' });
    expect(check.status).toBe(0);
    expect(JSON.parse(check.stdout)).toMatchObject({ job: 'health-check', status: 'ok', database: db });
  });
});
