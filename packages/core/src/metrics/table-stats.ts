import type { OraDatabase } from '../connection/connection.js';
import { quoteIdentifier } from '../sql/identifiers.js';
import { userTables } from '../sql/schema.js';

export interface IndexInfo {
  name: string;
  table: string;
  columns: string[];
  unique: boolean;
  /** `c` CREATE INDEX, `u` UNIQUE constraint, `pk` PRIMARY KEY. */
  origin: string;
  bytes: number;
  pages: number;
}

export interface TableInfo {
  name: string;
  /** `SELECT count(*)`: the real row count. */
  rows: number;
  /** Bytes and pages of the table's own b-tree (dbstat). */
  bytes: number;
  pages: number;
  indexes: IndexInfo[];
}

/**
 * What the guide's "table sizes" query meant to show (it counted schema rows, always 1): for each
 * table its real row count and its bytes on disk, and for each index its columns and bytes.
 * Bytes come from the `dbstat` virtual table. Read-only.
 */
export function collectTableStats(db: OraDatabase): TableInfo[] {
  return db.run(() => {
    const sizes = new Map<string, { bytes: number; pages: number }>();
    for (const row of db
      .prepare('SELECT name, pageno AS pages, pgsize AS bytes FROM dbstat WHERE aggregate = TRUE')
      .all() as { name: string; pages: number; bytes: number }[]) {
      sizes.set(row.name, { bytes: row.bytes, pages: row.pages });
    }
    return userTables(db).map((table) => {
      const rows = db
        .prepare(`SELECT count(*) FROM ${quoteIdentifier(table)}`)
        .pluck()
        .get() as number;
      const indexes = (
        db.prepare('SELECT name, "unique", origin FROM pragma_index_list(?) ORDER BY name').all(table) as {
          name: string;
          unique: number;
          origin: string;
        }[]
      ).map((ix) => ({
        name: ix.name,
        table,
        columns: (
          db.prepare('SELECT name FROM pragma_index_info(?) ORDER BY seqno').pluck().all(ix.name) as (string | null)[]
        ).map((c) => c ?? '<expression>'),
        unique: ix.unique === 1,
        origin: ix.origin,
        bytes: sizes.get(ix.name)?.bytes ?? 0,
        pages: sizes.get(ix.name)?.pages ?? 0,
      }));
      return { name: table, rows, bytes: sizes.get(table)?.bytes ?? 0, pages: sizes.get(table)?.pages ?? 0, indexes };
    });
  });
}
