import * as z from 'zod';
import { integerField, isoDateField, textField } from '../config/fields.js';
import type { OraDatabase } from '../connection/connection.js';
import { InsufficientStockError, UnknownSkuError } from '../errors/errors.js';
import { alertLevelSql } from '../schema/migrations.js';
import { isIsoDate, isPlainWithKeys, isText, isWholeNumber } from './plain.js';
import { parseInput, statementCache } from './validate.js';

export const TRANSACTION_TYPES = ['Receive', 'Ship', 'Adjust Up', 'Adjust Down'] as const;
export type TransactionType = (typeof TRANSACTION_TYPES)[number];
export type AlertLevel = 'normal' | 'low' | 'critical';

const MAX_QUANTITY = 1_000_000_000;

export const skuField = () => textField('a SKU', 64);

export const inventoryTransactionSchema = z.strictObject({
  sku: skuField(),
  quantity: integerField(1, MAX_QUANTITY, 'a positive quantity'),
  type: z.enum(TRANSACTION_TYPES, { error: `expected one of: ${TRANSACTION_TYPES.join(', ')}` }),
  /** Business date of the movement; defaults to today (UTC). */
  date: isoDateField().optional(),
  notes: z.string().max(1000, { error: 'expected at most 1000 characters' }).optional(),
});
export type InventoryTransaction = z.input<typeof inventoryTransactionSchema>;

export const inventoryItemSchema = z.strictObject({
  sku: skuField(),
  productName: textField('a product name', 200),
  reorderPoint: integerField(0, MAX_QUANTITY),
  quantity: integerField(0, MAX_QUANTITY).default(0),
});
export type InventoryItem = z.input<typeof inventoryItemSchema>;

export interface InventoryLevel {
  sku: string;
  productName: string;
  currentQuantity: number;
  reorderPoint: number;
  alertLevel: AlertLevel;
  lastUpdated: string;
}

export interface LowStockItem extends InventoryLevel {
  /** How many units short of the reorder point (0 when exactly at it). */
  shortage: number;
}

export interface RecordedTransaction {
  transactionId: number;
  sku: string;
  type: TransactionType;
  quantity: number;
  quantityBefore: number;
  quantityAfter: number;
  alertLevel: AlertLevel;
}

// The guide sorts with `ORDER BY alert_level DESC`, which compares the words as text and so puts
// 'normal' first and 'low' before 'critical'. Its intent is most severe first: rank explicitly.
const SEVERITY_SQL = `CASE alert_level WHEN 'critical' THEN 2 WHEN 'low' THEN 1 ELSE 0 END`;
const LEVEL_COLUMNS = `sku, product_name AS productName, current_quantity AS currentQuantity,
  reorder_point AS reorderPoint, alert_level AS alertLevel, last_updated AS lastUpdated`;

/** This repository's prepared statements (also read by the metrics job's index-usage report). */
export const statements = statementCache((h) => ({
  levels: h.prepare(
    `SELECT ${LEVEL_COLUMNS} FROM inventory_current ORDER BY ${SEVERITY_SQL} DESC, current_quantity ASC, sku`,
  ),
  lowStock: h.prepare(
    `SELECT ${LEVEL_COLUMNS}, (reorder_point - current_quantity) AS shortage
       FROM inventory_current
      WHERE alert_level IN ('low', 'critical')
      ORDER BY ${SEVERITY_SQL} DESC, shortage DESC, sku`,
  ),
  current: h.prepare('SELECT current_quantity AS quantity FROM inventory_current WHERE sku = ?'),
  // One statement checks the stock, applies the movement and recomputes the alert level: it
  // changes no row when the SKU is unknown or the result would go below zero.
  applyMovement: h.prepare(
    `UPDATE inventory_current
        SET current_quantity = current_quantity + :delta,
            alert_level = ${alertLevelSql('(current_quantity + :delta)', 'reorder_point')},
            last_updated = CURRENT_TIMESTAMP
      WHERE sku = :sku AND current_quantity + :delta >= 0
      RETURNING current_quantity AS quantity, alert_level AS alertLevel`,
  ),
  insertTransaction: h.prepare(
    `INSERT INTO inventory_transactions (date, sku, quantity, transaction_type, notes)
     VALUES (?, ?, ?, ?, ?)`,
  ),
  upsertItem: h.prepare(
    `INSERT INTO inventory_current (sku, product_name, current_quantity, reorder_point, alert_level)
     VALUES (:sku, :productName, :quantity, :reorderPoint,
             ${alertLevelSql(':quantity', ':reorderPoint')})
     ON CONFLICT (sku) DO UPDATE SET
       product_name = excluded.product_name,
       current_quantity = excluded.current_quantity,
       reorder_point = excluded.reorder_point,
       alert_level = excluded.alert_level,
       last_updated = CURRENT_TIMESTAMP`,
  ),
}));

/** Current stock levels, most severe alert first, then lowest quantity (the guide's read). */
export function listInventoryLevels(db: OraDatabase): InventoryLevel[] {
  return db.run(() => statements(db).levels.all() as InventoryLevel[]);
}

/** Items at or below their reorder point with their shortage, most severe and shortest first. */
export function listLowStock(db: OraDatabase): LowStockItem[] {
  return db.run(() => statements(db).lowStock.all() as LowStockItem[]);
}

/** Adds an item or replaces its name, quantity and reorder point; the alert level follows. */
export function upsertInventoryItem(db: OraDatabase, input: InventoryItem): void {
  const item = parseInput(inventoryItemSchema, input, 'inventory item');
  db.transaction(() => statements(db).upsertItem.run(item));
}

function today(): string {
  return new Date().toISOString().slice(0, 10);
}

/**
 * Records one inventory movement atomically: the transaction row, the new current quantity and
 * the recomputed alert level commit together or not at all.
 *
 * Throws INVALID_INPUT for a malformed movement (e.g. a quantity that is not a positive whole
 * number), UNKNOWN_SKU when the SKU is not in `inventory_current`, and INSUFFICIENT_STOCK when the
 * movement would take the quantity below zero; in each case nothing is written.
 *
 * ### Examples
 * ```ts
 * recordInventoryTransaction(db, { sku: 'WIDGET-1', quantity: 5, type: 'Ship' });
 * // { transactionId: 42, quantityBefore: 12, quantityAfter: 7, alertLevel: 'low', ... }
 * ```
 */
export function recordInventoryTransaction(db: OraDatabase, input: InventoryTransaction): RecordedTransaction {
  const tx = checkTransaction(input) ?? parseInput(inventoryTransactionSchema, input, 'inventory transaction');
  const record = recorders(db);
  return db.run(() => record.immediate(db, tx));
}

type ParsedTransaction = z.output<typeof inventoryTransactionSchema>;
const TRANSACTION_KEYS: ReadonlySet<string> = new Set(['sku', 'quantity', 'type', 'date', 'notes']);

/**
 * The common case without a zod parse: a plain object whose values inventoryTransactionSchema
 * accepts unchanged (see plain.ts). Returns undefined for anything else, which zod then parses.
 */
function checkTransaction(input: unknown): ParsedTransaction | undefined {
  if (!isPlainWithKeys(input, TRANSACTION_KEYS)) return undefined;
  const { sku, quantity, type, date, notes } = input;
  if (
    !isText(sku, 64) ||
    !isWholeNumber(quantity, 1, MAX_QUANTITY) ||
    (type !== 'Receive' && type !== 'Ship' && type !== 'Adjust Up' && type !== 'Adjust Down') ||
    (date !== undefined && !isIsoDate(date)) ||
    (notes !== undefined && (typeof notes !== 'string' || notes.length > 1000))
  ) {
    return undefined;
  }
  return { sku, quantity, type, date, notes };
}

/** The movement as one driver transaction function per connection (built once, not per call). */
const recorders = statementCache((h) => {
  const s = statements(h);
  return h.transactionFunction((db: OraDatabase, tx: ParsedTransaction): RecordedTransaction => {
    const delta = tx.type === 'Receive' || tx.type === 'Adjust Up' ? tx.quantity : -tx.quantity;
    const updated = s.applyMovement.get({ delta, sku: tx.sku }) as
      | { quantity: number; alertLevel: AlertLevel }
      | undefined;
    if (!updated) {
      // No row changed: say why (the transaction rolls back, though nothing was written).
      const row = s.current.get(tx.sku) as { quantity: number } | undefined;
      if (!row) {
        throw new UnknownSkuError(
          `unknown SKU '${tx.sku}': it is not in inventory_current of ${db.path}; nothing was recorded — check the SKU with 'ora-db inventory levels'`,
        );
      }
      throw new InsufficientStockError(
        `cannot record ${tx.type} of ${tx.quantity} for SKU '${tx.sku}': only ${row.quantity} in stock, the result would be ${row.quantity + delta}; nothing was recorded`,
      );
    }
    const inserted = s.insertTransaction.run(tx.date ?? today(), tx.sku, tx.quantity, tx.type, tx.notes ?? null);
    return {
      transactionId: Number(inserted.lastInsertRowid),
      sku: tx.sku,
      type: tx.type,
      quantity: tx.quantity,
      quantityBefore: updated.quantity - delta,
      quantityAfter: updated.quantity,
      alertLevel: updated.alertLevel,
    };
  });
});
