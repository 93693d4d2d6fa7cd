import type { OraDatabase } from '../connection/connection.js';
import { TargetNotEmptyError } from '../errors/errors.js';
import { recordInventoryTransaction, upsertInventoryItem } from '../repositories/inventory.js';
import { upsertDailyKpis } from '../repositories/kpis.js';
import { insertShipments, type ShippedOrder } from '../repositories/shipments.js';
import { updateWorkflowStatus } from '../repositories/workflows.js';
import { assertOraSchema } from '../schema/ora-schema.js';

/** Preset sizes for `ora-db seed --size`: shipped orders generated (items average three each). */
export const SEED_SIZES = { tiny: 50, small: 2_000, medium: 50_000, large: 500_000 } as const;
export type SeedSize = keyof typeof SEED_SIZES;

export interface SeedOptions {
  orders: number;
  /** PRNG seed: the same seed and end date give the same rows. */
  seed: number;
  /** Last business day of the generated history (YYYY-MM-DD). */
  endDate: string;
  /** Days of history, ending at `endDate`. */
  days: number;
  /** Called after each batch with orders written so far. */
  onProgress?: (done: number, total: number) => void;
}

export interface SeedResult {
  skus: number;
  inventoryTransactions: number;
  workflows: number;
  orders: number;
  items: number;
  kpiDays: number;
  firstShipDate: string;
  lastShipDate: string;
}

/**
 * mulberry32: small, fast, deterministic; quality is plenty for demo data and test instants, and
 * neighbouring seeds give unrelated sequences.
 */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const ADJECTIVES = ['Organic', 'Premium', 'Classic', 'Family', 'Golden', 'Raw', 'Spiced', 'Wild', 'Roasted', 'Pure'];
const PRODUCTS = [
  'Honey',
  'Granola',
  'Olive Oil',
  'Coffee Beans',
  'Almond Butter',
  'Maple Syrup',
  'Tea Blend',
  'Trail Mix',
  'Hot Sauce',
  'Jam',
];
const SIZES = ['8oz', '12oz', '16oz', '32oz', '1lb', '5lb'];
const CARRIERS = ['UPS', 'FedEx', 'USPS', 'DHL'];
const CUSTOMERS = [
  'Acme Foods',
  'Green Grocer',
  'Market Street',
  'Corner Pantry',
  'Harbor Co-op',
  'Hilltop Deli',
  'Blue Door Cafe',
  'Northside Market',
];
const WORKFLOWS = [
  'shipment_sync',
  'order_upload',
  'inventory_reconciliation',
  'kpi_snapshot',
  'label_printing',
  'lot_tracking',
];

function addDays(isoDate: string, days: number): string {
  const d = new Date(`${isoDate}T00:00:00Z`);
  d.setUTCDate(d.getUTCDate() + days);
  return d.toISOString().slice(0, 10);
}

/**
 * Fills an empty ORA database with realistic, deterministic demo data through the repositories
 * (so the data obeys every rule real writes obey). Refuses a database that already holds orders
 * or inventory: seeding never mixes with real data. Refuses one without every ORA table
 * (NOT_ORA_SCHEMA) before writing anything.
 */
export function seedDemoData(db: OraDatabase, options: SeedOptions): SeedResult {
  // Every ORA table must be there (one dropped, or a view in its place, at the current version:
  // refused with the tables named, not an SQLite error half-way).
  assertOraSchema(db, 'seed');
  const existing = db.run(
    () =>
      db
        .prepare('SELECT (SELECT count(*) FROM shipped_orders) + (SELECT count(*) FROM inventory_current)')
        .pluck()
        .get() as number,
  );
  if (existing > 0) {
    throw new TargetNotEmptyError(
      `refusing to seed ${db.path}: it already holds ${existing} orders/inventory rows; seed a new path (e.g. --db .demo/ora.db)`,
    );
  }
  const random = prng(options.seed);
  const pick = <T>(list: readonly T[]): T => list[Math.floor(random() * list.length)] as T;
  const int = (lo: number, hi: number) => {
    const min = Math.ceil(lo);
    return min + Math.floor(random() * (Math.floor(hi) - min + 1));
  };

  const skuCount = Math.max(10, Math.min(500, Math.round(Math.sqrt(options.orders) * 2)));
  const skus: string[] = [];
  for (let i = 1; i <= skuCount; i++) {
    const sku = `SKU-${String(i).padStart(4, '0')}`;
    skus.push(sku);
    const reorderPoint = int(2, 40) * 5;
    // Mostly healthy stock, with some lines low or out, as a real morning looks.
    const roll = random();
    const quantity =
      roll < 0.1
        ? int(0, reorderPoint / 2)
        : roll < 0.25
          ? int(reorderPoint / 2 + 1, reorderPoint)
          : int(reorderPoint + 1, reorderPoint * 6);
    upsertInventoryItem(db, {
      sku,
      productName: `${pick(ADJECTIVES)} ${pick(PRODUCTS)} ${pick(SIZES)}`,
      reorderPoint,
      quantity,
    });
  }

  const firstDate = addDays(options.endDate, -(options.days - 1));
  let transactions = 0;
  const movementCount = Math.min(5_000, Math.max(20, Math.round(options.orders / 10)));
  for (let i = 0; i < movementCount; i++) {
    const sku = pick(skus);
    const date = addDays(firstDate, Math.floor((i / movementCount) * options.days));
    const receive = random() < 0.55;
    try {
      recordInventoryTransaction(db, {
        sku,
        quantity: int(1, 25),
        type: receive ? 'Receive' : random() < 0.8 ? 'Ship' : 'Adjust Down',
        date,
        notes: receive ? `PO-${int(1000, 9999)}` : undefined,
      });
      transactions++;
    } catch {
      // Not enough stock for this outbound movement: real operators see this refusal too.
    }
  }

  for (const name of WORKFLOWS) {
    updateWorkflowStatus(db, {
      name,
      status: random() < 0.85 ? 'success' : 'failed',
      details: `last run processed ${int(0, 500)} records`,
    });
  }

  let orderNo = 0;
  let items = 0;
  const batchSize = 1000;
  const perDay = new Map<string, number>();
  while (orderNo < options.orders) {
    const batch: ShippedOrder[] = [];
    for (let b = 0; b < batchSize && orderNo < options.orders; b++, orderNo++) {
      const shipDate = addDays(firstDate, Math.floor((orderNo / options.orders) * options.days));
      perDay.set(shipDate, (perDay.get(shipDate) ?? 0) + 1);
      const lines = int(1, 5);
      const order: ShippedOrder = {
        orderNumber: `SO-${String(orderNo + 1).padStart(7, '0')}`,
        shipDate,
        customer: pick(CUSTOMERS),
        carrier: pick(CARRIERS),
        trackingNumber: `1Z${Math.floor(random() * 1e12)
          .toString(36)
          .toUpperCase()
          .padStart(10, '0')}`,
        items: [],
      };
      for (let l = 0; l < lines; l++) {
        const baseSku = pick(skus);
        order.items.push({ baseSku, skuLot: `${baseSku}-L${int(100, 999)}`, quantityShipped: int(1, 12) });
      }
      items += lines;
      batch.push(order);
    }
    insertShipments(db, batch);
    options.onProgress?.(orderNo, options.orders);
  }

  const days = [...perDay.keys()].sort();
  for (const day of days) {
    const shipped = perDay.get(day) ?? 0;
    upsertDailyKpis(db, {
      snapshotDate: day,
      ordersToday: shipped + int(0, 3),
      shipmentsSent: shipped,
      pendingUploads: int(0, 4),
      systemStatus: random() < 0.95 ? 'healthy' : 'degraded',
    });
  }

  return {
    skus: skuCount,
    inventoryTransactions: transactions,
    workflows: WORKFLOWS.length,
    orders: orderNo,
    items,
    kpiDays: days.length,
    firstShipDate: days[0] ?? firstDate,
    lastShipDate: days[days.length - 1] ?? options.endDate,
  };
}
