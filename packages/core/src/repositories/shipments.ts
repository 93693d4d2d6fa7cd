import * as z from 'zod';
import { integerField, isoDateField, textField } from '../config/fields.js';
import type { OraDatabase } from '../connection/connection.js';
import { InvalidInputError } from '../errors/errors.js';
import { isIsoDate, isOptionalString, isPlainWithKeys, isText, isWholeNumber } from './plain.js';
import { parseInput, statementCache } from './validate.js';

const optionalText = (max: number) =>
  z
    .string()
    .max(max, { error: `expected at most ${max} characters` })
    .nullish();

export const shippedItemSchema = z.strictObject({
  baseSku: textField('a SKU', 64),
  skuLot: optionalText(64),
  quantityShipped: integerField(1, 1_000_000_000, 'a positive quantity'),
});

export const shippedOrderSchema = z.strictObject({
  orderNumber: textField('an order number', 64),
  shipDate: isoDateField(),
  customer: optionalText(200),
  carrier: optionalText(64),
  trackingNumber: optionalText(128),
  items: z.array(shippedItemSchema).max(10_000),
});
export type ShippedOrder = z.input<typeof shippedOrderSchema>;

export const shipmentBatchSchema = z.array(shippedOrderSchema).max(100_000);

/** This repository's prepared statements (also read by the metrics job's index-usage report). */
export const statements = statementCache((h) => ({
  order: h.prepare(
    `INSERT INTO shipped_orders (order_number, ship_date, customer, carrier, tracking_number)
     VALUES (?, ?, ?, ?, ?)`,
  ),
  item: h.prepare(
    `INSERT INTO shipped_items (ship_date, sku_lot, base_sku, quantity_shipped, order_number)
     VALUES (?, ?, ?, ?, ?)`,
  ),
}));

/**
 * Inserts a batch of shipped orders with their items in one `BEGIN IMMEDIATE` transaction (the
 * guide's batch pattern): all of them or, on any problem, none. An order number that already
 * exists is INVALID_INPUT naming it.
 *
 * ### Examples
 * ```ts
 * insertShipments(db, [{ orderNumber: 'SO-1', shipDate: '2026-11-02',
 *   items: [{ baseSku: 'WIDGET-1', quantityShipped: 3 }] }]);
 * // { orders: 1, items: 1 }
 * ```
 */
export function insertShipments(db: OraDatabase, input: ShippedOrder[]): { orders: number; items: number } {
  // The common case is checked by hand into flat lists of values (no zod parse, no per-row
  // objects); anything else goes through zod, which converts it or words the error.
  const rows = flatten(input) ?? flatten(parseInput(shipmentBatchSchema, input, 'shipment batch'));
  if (!rows) throw new Error('insertShipments: a parsed batch failed the plain check'); // unreachable
  const insert = inserters(db);
  const current = { order: '' };
  try {
    db.run(() => insert.immediate(rows, current));
  } catch (error) {
    if ((error as { code?: string }).code === 'SQLITE_CONSTRAINT_UNIQUE') {
      throw new InvalidInputError(
        `order number '${current.order}' already exists in shipped_orders of ${db.path}; nothing in this batch was written`,
        { cause: error },
      );
    }
    throw error;
  }
  return { orders: rows.orders.length / ORDER_WIDTH, items: rows.items.length / ITEM_WIDTH };
}

const ORDER_KEYS: ReadonlySet<string> = new Set([
  'orderNumber',
  'shipDate',
  'customer',
  'carrier',
  'trackingNumber',
  'items',
]);
const ITEM_KEYS: ReadonlySet<string> = new Set(['baseSku', 'skuLot', 'quantityShipped']);
const ORDER_WIDTH = 6; // order number, ship date, customer, carrier, tracking number, item count
const ITEM_WIDTH = 3; // SKU lot, base SKU, quantity

interface FlatBatch {
  orders: (string | number | null)[];
  items: (string | number | null)[];
}

/**
 * The batch as flat value lists if every order and item is a plain object whose values
 * shipmentBatchSchema accepts unchanged (see plain.ts); undefined otherwise.
 */
function flatten(input: unknown): FlatBatch | undefined {
  if (!Array.isArray(input) || input.length > 100_000) return undefined;
  const orders: (string | number | null)[] = [];
  const items: (string | number | null)[] = [];
  for (const o of input as unknown[]) {
    if (!isPlainWithKeys(o, ORDER_KEYS)) return undefined;
    const { orderNumber, shipDate, customer, carrier, trackingNumber, items: list } = o;
    if (
      !isText(orderNumber, 64) ||
      !isIsoDate(shipDate) ||
      !isOptionalString(customer, 200) ||
      !isOptionalString(carrier, 64) ||
      !isOptionalString(trackingNumber, 128) ||
      !Array.isArray(list) ||
      list.length > 10_000
    ) {
      return undefined;
    }
    orders.push(
      orderNumber,
      shipDate,
      (customer as string | null | undefined) ?? null,
      (carrier as string | null | undefined) ?? null,
      (trackingNumber as string | null | undefined) ?? null,
      list.length,
    );
    for (const it of list as unknown[]) {
      if (!isPlainWithKeys(it, ITEM_KEYS)) return undefined;
      const { baseSku, skuLot, quantityShipped } = it;
      if (!isText(baseSku, 64) || !isOptionalString(skuLot, 64) || !isWholeNumber(quantityShipped, 1, 1_000_000_000)) {
        return undefined;
      }
      items.push((skuLot as string | null | undefined) ?? null, baseSku, quantityShipped);
    }
  }
  return { orders, items };
}

/** The batch insert as one driver transaction function per connection (built once, not per call). */
const inserters = statementCache((h) => {
  const s = statements(h);
  return h.transactionFunction((rows: FlatBatch, current: { order: string }) => {
    const { orders, items } = rows;
    let i = 0;
    for (let o = 0; o < orders.length; o += ORDER_WIDTH) {
      const orderNumber = orders[o] as string;
      const shipDate = orders[o + 1];
      current.order = orderNumber;
      s.order.run(orderNumber, shipDate, orders[o + 2], orders[o + 3], orders[o + 4]);
      const end = i + (orders[o + 5] as number) * ITEM_WIDTH;
      for (; i < end; i += ITEM_WIDTH) s.item.run(shipDate, items[i], items[i + 1], items[i + 2], orderNumber);
    }
  });
});
