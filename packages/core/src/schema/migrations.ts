/**
 * The ORA schema (SPEC §5) as an ordered list of migrations. `PRAGMA user_version` records the
 * last one applied. A migration is never edited once released: add a new one instead.
 */
export interface Migration {
  /** Becomes `user_version` once applied; 1, 2, 3, … with no gaps. */
  version: number;
  name: string;
  sql: string;
}

/**
 * The alert level of a stock line, as one SQL expression so that every write computes it the
 * same way: `critical` when out of stock or at half the reorder point or below, `low` at or below
 * the reorder point, else `normal`. `quantity` and `reorderPoint` are SQL expressions.
 */
export function alertLevelSql(quantity: string, reorderPoint: string): string {
  return `(CASE WHEN ${quantity} = 0 OR ${quantity} * 2 <= ${reorderPoint} THEN 'critical'
    WHEN ${quantity} <= ${reorderPoint} THEN 'low' ELSE 'normal' END)`;
}

export const MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    name: 'ORA base schema',
    sql: `
CREATE TABLE inventory_current (
  sku              TEXT PRIMARY KEY NOT NULL,
  product_name     TEXT NOT NULL,
  current_quantity INTEGER NOT NULL DEFAULT 0 CHECK (current_quantity >= 0),
  reorder_point    INTEGER NOT NULL DEFAULT 0 CHECK (reorder_point >= 0),
  alert_level      TEXT NOT NULL DEFAULT 'critical' CHECK (alert_level IN ('normal', 'low', 'critical')),
  last_updated     TEXT NOT NULL DEFAULT CURRENT_TIMESTAMP
);

CREATE TABLE inventory_transactions (
  id               INTEGER PRIMARY KEY,
  date             TEXT NOT NULL,
  sku              TEXT NOT NULL REFERENCES inventory_current (sku),
  quantity         INTEGER NOT NULL CHECK (quantity > 0),
  transaction_type TEXT NOT NULL CHECK (transaction_type IN ('Receive', 'Ship', 'Adjust Up', 'Adjust Down')),
  notes            TEXT,
  created_at       TEXT NOT NULL DEFAULT CURRENT_TIMESTAMP
);
CREATE INDEX idx_inventory_transactions_sku_date ON inventory_transactions (sku, date);

CREATE TABLE workflows (
  name       TEXT PRIMARY KEY NOT NULL,
  status     TEXT NOT NULL,
  details    TEXT,
  updated_at TEXT NOT NULL DEFAULT CURRENT_TIMESTAMP
);

CREATE TABLE shipped_orders (
  id              INTEGER PRIMARY KEY,
  order_number    TEXT NOT NULL UNIQUE,
  ship_date       TEXT NOT NULL,
  customer        TEXT,
  carrier         TEXT,
  tracking_number TEXT
);
CREATE INDEX idx_shipped_orders_ship_date ON shipped_orders (ship_date);

CREATE TABLE shipped_items (
  id               INTEGER PRIMARY KEY,
  ship_date        TEXT NOT NULL,
  sku_lot          TEXT,
  base_sku         TEXT NOT NULL,
  quantity_shipped INTEGER NOT NULL CHECK (quantity_shipped > 0),
  order_number     TEXT NOT NULL REFERENCES shipped_orders (order_number)
);
CREATE INDEX idx_shipped_items_ship_date ON shipped_items (ship_date);
CREATE INDEX idx_shipped_items_order_number ON shipped_items (order_number);

CREATE TABLE system_kpis (
  snapshot_date   TEXT NOT NULL UNIQUE,
  orders_today    INTEGER NOT NULL DEFAULT 0,
  shipments_sent  INTEGER NOT NULL DEFAULT 0,
  pending_uploads INTEGER NOT NULL DEFAULT 0,
  system_status   TEXT NOT NULL,
  created_at      TEXT NOT NULL DEFAULT CURRENT_TIMESTAMP
);
`,
  },
];

/** The schema version this code writes and expects. */
export const LATEST_SCHEMA_VERSION = MIGRATIONS[MIGRATIONS.length - 1]?.version ?? 0;
