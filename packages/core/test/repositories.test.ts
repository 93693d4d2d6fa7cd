import { contentHash, tempDir } from '@ora/testkit';
import fc from 'fast-check';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { type OraDatabase, openDatabase } from '../src/connection/connection.js';
import { InsufficientStockError, InvalidInputError, UnknownSkuError } from '../src/errors/errors.js';
import {
  listInventoryLevels,
  listLowStock,
  recordInventoryTransaction,
  upsertInventoryItem,
} from '../src/repositories/inventory.js';
import { upsertDailyKpis } from '../src/repositories/kpis.js';
import { insertShipments } from '../src/repositories/shipments.js';
import { updateWorkflowStatus } from '../src/repositories/workflows.js';
import { createOraDatabase } from '../src/testing/index.js';

let t: ReturnType<typeof tempDir>;
let path: string;
let db: OraDatabase;
beforeEach(() => {
  t = tempDir();
  path = t.path('ora.db');
  createOraDatabase(path);
  db = openDatabase(path);
});
afterEach(() => {
  db.close();
  t.cleanup();
});

const expectedLevel = (qty: number, reorder: number) =>
  qty === 0 || qty * 2 <= reorder ? 'critical' : qty <= reorder ? 'low' : 'normal';

describe('inventory', () => {
  beforeEach(() => {
    upsertInventoryItem(db, { sku: 'A', productName: 'Apple', reorderPoint: 10, quantity: 0 });
    upsertInventoryItem(db, { sku: 'B', productName: 'Bean', reorderPoint: 10, quantity: 8 });
    upsertInventoryItem(db, { sku: 'C', productName: 'Corn', reorderPoint: 10, quantity: 50 });
    upsertInventoryItem(db, { sku: 'D', productName: 'Date', reorderPoint: 10, quantity: 3 });
  });

  it('lists levels most severe first, then lowest quantity', () => {
    expect(listInventoryLevels(db).map((i) => [i.sku, i.alertLevel])).toEqual([
      ['A', 'critical'],
      ['D', 'critical'],
      ['B', 'low'],
      ['C', 'normal'],
    ]);
  });

  it('lists low stock with its shortage, most severe and shortest first', () => {
    expect(listLowStock(db).map((i) => [i.sku, i.shortage])).toEqual([
      ['A', 10],
      ['D', 7],
      ['B', 2],
    ]);
  });

  it('records a movement, its new quantity and alert level in one transaction', () => {
    const r = recordInventoryTransaction(db, {
      sku: 'C',
      quantity: 45,
      type: 'Ship',
      date: '2026-11-02',
      notes: 'SO-1',
    });
    expect(r).toMatchObject({ sku: 'C', quantityBefore: 50, quantityAfter: 5, alertLevel: 'critical' });
    const row = db.prepare('SELECT * FROM inventory_transactions WHERE id = ?').get(r.transactionId);
    expect(row).toMatchObject({ sku: 'C', quantity: 45, transaction_type: 'Ship', date: '2026-11-02', notes: 'SO-1' });
    expect(db.prepare("SELECT current_quantity, alert_level FROM inventory_current WHERE sku = 'C'").get()).toEqual({
      current_quantity: 5,
      alert_level: 'critical',
    });
  });

  it.each([
    [{ sku: 'NOPE', quantity: 1, type: 'Receive' }, UnknownSkuError, /^unknown SKU 'NOPE'/],
    [
      { sku: 'B', quantity: 9, type: 'Ship' },
      InsufficientStockError,
      /only 8 in stock, the result would be -1; nothing was recorded$/,
    ],
    [
      { sku: 'B', quantity: 0, type: 'Receive' },
      InvalidInputError,
      /^invalid inventory transaction: quantity: expected a whole number from 1/,
    ],
    [{ sku: 'B', quantity: -1, type: 'Receive' }, InvalidInputError, /quantity: expected a whole number/],
    [{ sku: 'B', quantity: 1.5, type: 'Receive' }, InvalidInputError, /quantity: expected a whole number/],
    [{ sku: 'B', quantity: 'abc', type: 'Receive' }, InvalidInputError, /quantity: expected a whole number/],
    [
      { sku: 'B', quantity: 1, type: 'Steal' },
      InvalidInputError,
      /type: expected one of: Receive, Ship, Adjust Up, Adjust Down/,
    ],
    [
      { sku: 'B', quantity: 1, type: 'Receive', date: '2025-02-30' },
      InvalidInputError,
      /date: expected a date as YYYY-MM-DD \(a real calendar date\)/,
    ],
    [{ sku: 'B', quantity: 1, type: 'Receive', extra: 1 }, InvalidInputError, /Unrecognized key/],
  ])('refuses %j and writes nothing', (input, kind, message) => {
    const hash = contentHash(path);
    let error: unknown;
    try {
      recordInventoryTransaction(db, input as never);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(kind);
    expect((error as { exitStatus: number }).exitStatus).toBe(2);
    expect((error as Error).message).toMatch(message);
    expect(contentHash(path)).toBe(hash);
  });

  it('keeps quantity equal to the accepted movements, never negative, with the right alert level (property)', () => {
    const movement = fc.record({
      quantity: fc.integer({ min: 1, max: 30 }),
      type: fc.constantFrom('Receive', 'Ship', 'Adjust Up', 'Adjust Down'),
    });
    let run = 0;
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 40 }),
        fc.integer({ min: 0, max: 40 }),
        fc.array(movement, { maxLength: 25 }),
        (start, reorder, moves) => {
          const sku = `P-${run++}`;
          upsertInventoryItem(db, { sku, productName: 'Prop', reorderPoint: reorder, quantity: start });
          let expected = start;
          for (const m of moves) {
            const delta = m.type === 'Receive' || m.type === 'Adjust Up' ? m.quantity : -m.quantity;
            if (expected + delta < 0) {
              expect(() => recordInventoryTransaction(db, { sku, ...m } as never)).toThrow(InsufficientStockError);
            } else {
              expected += delta;
              recordInventoryTransaction(db, { sku, ...m } as never);
            }
            const row = db
              .prepare('SELECT current_quantity AS q, alert_level AS a FROM inventory_current WHERE sku = ?')
              .get(sku) as {
              q: number;
              a: string;
            };
            expect(row.q).toBe(expected);
            expect(row.a).toBe(expectedLevel(expected, reorder));
          }
        },
      ),
      { numRuns: 50 },
    );
  });
});

describe('workflows, shipments and KPIs', () => {
  it('registers a new workflow and updates an existing one', () => {
    updateWorkflowStatus(db, { name: 'sync', status: 'running' });
    updateWorkflowStatus(db, { name: 'sync', status: 'success', details: '42 rows' });
    expect(db.prepare('SELECT name, status, details FROM workflows').all()).toEqual([
      { name: 'sync', status: 'success', details: '42 rows' },
    ]);
    expect(() => updateWorkflowStatus(db, { name: '', status: 'x' })).toThrow(
      /^invalid workflow status: name: expected a workflow name/,
    );
  });

  it('inserts orders with their items in one transaction, and nothing of a batch with a duplicate order', () => {
    expect(
      insertShipments(db, [
        {
          orderNumber: 'SO-1',
          shipDate: '2026-11-01',
          items: [
            { baseSku: 'A', quantityShipped: 2 },
            { baseSku: 'B', quantityShipped: 1 },
          ],
        },
      ]),
    ).toEqual({ orders: 1, items: 2 });
    const hash = contentHash(path);
    expect(() =>
      insertShipments(db, [
        { orderNumber: 'SO-2', shipDate: '2026-11-02', items: [{ baseSku: 'A', quantityShipped: 1 }] },
        { orderNumber: 'SO-1', shipDate: '2026-11-02', items: [] },
      ]),
    ).toThrow(/^order number 'SO-1' already exists in shipped_orders of .*; nothing in this batch was written$/);
    expect(contentHash(path)).toBe(hash);
    expect(() => insertShipments(db, [{ orderNumber: 'SO-3', shipDate: 'soon', items: [] }])).toThrow(
      /^invalid shipment batch: 0\.shipDate: expected a date as YYYY-MM-DD/,
    );
  });

  it('upserts one KPI row per day', () => {
    const day = {
      snapshotDate: '2026-11-24',
      ordersToday: 5,
      shipmentsSent: 4,
      pendingUploads: 1,
      systemStatus: 'healthy',
    };
    upsertDailyKpis(db, day);
    upsertDailyKpis(db, { ...day, ordersToday: 9, systemStatus: 'degraded' });
    expect(db.prepare('SELECT snapshot_date, orders_today, system_status FROM system_kpis').all()).toEqual([
      { snapshot_date: '2026-11-24', orders_today: 9, system_status: 'degraded' },
    ]);
  });
});
