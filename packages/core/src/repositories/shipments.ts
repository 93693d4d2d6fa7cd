import { z } from 'zod';
import { integerField, isoDateField, textField } from '../config/fields.js';
import type { OraDatabase } from '../connection/connection.js';
import { InvalidInputError } from '../errors/errors.js';
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
  const orders = parseInput(shipmentBatchSchema, input, 'shipment batch');
  const s = statements(db.handle);
  let items = 0;
  let current = '';
  try {
    db.transaction(() => {
      for (const o of orders) {
        current = o.orderNumber;
        s.order.run(o.orderNumber, o.shipDate, o.customer ?? null, o.carrier ?? null, o.trackingNumber ?? null);
        for (const it of o.items) {
          s.item.run(o.shipDate, it.skuLot ?? null, it.baseSku, it.quantityShipped, o.orderNumber);
          items++;
        }
      }
    });
  } catch (error) {
    if ((error as { code?: string }).code === 'SQLITE_CONSTRAINT_UNIQUE') {
      throw new InvalidInputError(
        `order number '${current}' already exists in shipped_orders of ${db.path}; nothing in this batch was written`,
        { cause: error },
      );
    }
    throw error;
  }
  return { orders: orders.length, items };
}
