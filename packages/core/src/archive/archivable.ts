/**
 * The tables that can be archived, declared once. User input only ever selects an entry of this
 * list by name; no identifier from input reaches SQL.
 */
export interface ArchivableTable {
  /** Parent table whose old rows move. */
  table: string;
  /** Its date column (YYYY-MM-DD text), compared with the cutoff. */
  dateColumn: string;
  /** Every column of the parent, in order (copied verbatim, id included). */
  columns: readonly string[];
  /** Child rows that move with their parent, joined on `parentKey` = `childKey`. */
  children: readonly { table: string; parentKey: string; childKey: string; columns: readonly string[] }[];
}

export const ARCHIVABLE = {
  shipped_orders: {
    table: 'shipped_orders',
    dateColumn: 'ship_date',
    columns: ['id', 'order_number', 'ship_date', 'customer', 'carrier', 'tracking_number'],
    children: [
      {
        table: 'shipped_items',
        parentKey: 'order_number',
        childKey: 'order_number',
        columns: ['id', 'ship_date', 'sku_lot', 'base_sku', 'quantity_shipped', 'order_number'],
      },
    ],
  },
} as const satisfies Record<string, ArchivableTable>;

export type ArchivableName = keyof typeof ARCHIVABLE;
export const ARCHIVABLE_NAMES = Object.keys(ARCHIVABLE) as [ArchivableName, ...ArchivableName[]];
