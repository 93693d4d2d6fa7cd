import {
  assertOraSchemaAt,
  assertSchemaCurrent,
  choiceField,
  type InventoryLevel,
  integerField,
  isoDateField,
  listInventoryLevels,
  listLowStock,
  type OraDatabase,
  openDatabase,
  recordInventoryTransaction,
  type TransactionType,
  textField,
  textTable,
  withDatabase,
} from '@ora/core';
import { defineJob } from '@ora/harness';
import * as z from 'zod';
import { databaseFields } from './database-options.js';

function withInventory<T>(e: { db: string; busyTimeoutMs: number }, readonly: boolean, fn: (db: OraDatabase) => T): T {
  // A write command checks on a read-only connection first, so a refused file stays byte-identical.
  if (!readonly) assertOraSchemaAt(e.db, 'inventory', { busyTimeoutMs: e.busyTimeoutMs });
  return withDatabase(openDatabase(e.db, { readonly, busyTimeoutMs: e.busyTimeoutMs }), (db) => {
    assertSchemaCurrent(db, 'inventory');
    return fn(db);
  });
}

const movementFields = {
  ...databaseFields,
  sku: textField('a SKU', 64).describe('SKU in inventory_current'),
  quantity: integerField(1, 1_000_000_000, 'a positive quantity').describe('Units moved (a positive whole number)'),
  date: isoDateField().optional().describe('Business date of the movement (YYYY-MM-DD); default today'),
  notes: textField('a note', 1000).optional().describe('Free text stored with the transaction'),
};

function movement(name: string, type: TransactionType | null, describe: string) {
  const event =
    type === null
      ? z.object({
          ...movementFields,
          direction: choiceField(['up', 'down'] as const).describe('Adjust Up or Adjust Down'),
        })
      : z.object(movementFields);
  return defineJob({
    name: `inventory ${name}`,
    describe,
    schedule: null,
    positional: ['sku', 'quantity'],
    event,
    examples: [[`$0 inventory ${name} WIDGET-1 5${type === null ? ' --direction down' : ''}`, describe]],
    run(e) {
      const kind: TransactionType =
        type ?? ((e as unknown as { direction: string }).direction === 'up' ? 'Adjust Up' : 'Adjust Down');
      const recorded = withInventory(e, false, (db) =>
        recordInventoryTransaction(db, { sku: e.sku, quantity: e.quantity, type: kind, date: e.date, notes: e.notes }),
      );
      return { status: 'ok' as const, ...recorded };
    },
    summarize: (r) =>
      `inventory ${name}: ok — ${r.type} ${r.quantity} × ${r.sku}: ${r.quantityBefore} → ${r.quantityAfter} (${r.alertLevel}), transaction #${r.transactionId}`,
  });
}

function table(rows: (InventoryLevel & { shortage?: number })[], withShortage: boolean): string {
  const header = ['SKU', 'PRODUCT', 'QTY', 'REORDER', 'ALERT', ...(withShortage ? ['SHORT'] : [])];
  const body = rows.map((r) => [
    r.sku,
    r.productName,
    String(r.currentQuantity),
    String(r.reorderPoint),
    r.alertLevel,
    ...(withShortage ? [String(r.shortage ?? '')] : []),
  ]);
  return textTable(header, body).join('\n');
}

const listEvent = z.object({
  ...databaseFields,
  limit: integerField(1, 1_000_000).optional().describe('Show at most this many rows'),
});

export const inventoryCommands = [
  movement('receive', 'Receive', 'Record received stock (adds to the current quantity)'),
  movement('ship', 'Ship', 'Record shipped stock (refused if it would go below zero)'),
  movement('adjust', null, 'Record a stock correction up or down (refused if it would go below zero)'),
  defineJob({
    name: 'inventory levels',
    describe: 'Current stock levels, most severe alert first, then lowest quantity',
    schedule: null,
    event: listEvent,
    run(e) {
      const items = withInventory(e, true, listInventoryLevels);
      return { status: 'ok' as const, count: items.length, items: items.slice(0, e.limit ?? items.length) };
    },
    summarize: (r) => `inventory levels: ok — ${r.count} SKUs\n${table(r.items, false)}`,
  }),
  defineJob({
    name: 'inventory low-stock',
    describe: "Items at or below their reorder point with their shortage (the guide's low-stock alert query)",
    schedule: null,
    event: listEvent,
    run(e) {
      const items = withInventory(e, true, listLowStock);
      return {
        status: items.length > 0 ? ('warn' as const) : ('ok' as const),
        count: items.length,
        critical: items.filter((i) => i.alertLevel === 'critical').length,
        items: items.slice(0, e.limit ?? items.length),
      };
    },
    summarize: (r) =>
      r.count === 0
        ? 'inventory low-stock: ok — no SKU at or below its reorder point'
        : `inventory low-stock: warn — ${r.count} SKUs at or below their reorder point (${r.critical} critical)\n${table(r.items, true)}`,
  }),
];
