import type { OraDatabase } from '../connection/connection.js';
import { quoteIdentifier } from '../sql/identifiers.js';

export interface ForeignKeyViolation {
  table: string;
  rowid: number | null;
  parentTable: string;
  /** The child's key columns with their values, and the parent columns they should match. */
  key: { column: string; value: unknown; parentColumn: string }[];
  /** The whole orphan row. */
  row: Record<string, unknown> | null;
}

/**
 * `PRAGMA foreign_key_check`, with each orphan row and the parent key it points at, so the
 * guide's "identify orphaned records" step is one command. At most `limit` rows are detailed;
 * `total` counts them all.
 */
export function foreignKeyViolations(
  db: OraDatabase,
  limit: number,
): { total: number; violations: ForeignKeyViolation[] } {
  return db.run(() => {
    const rows = db.prepare('PRAGMA foreign_key_check').all() as {
      table: string;
      rowid: number | null;
      parent: string;
      fkid: number;
    }[];
    const violations = rows.slice(0, limit).map((v) => {
      const fk = db
        .prepare('SELECT "from", "to" FROM pragma_foreign_key_list(?) WHERE id = ? ORDER BY seq')
        .all(v.table, v.fkid) as { from: string; to: string | null }[];
      const row =
        v.rowid === null
          ? null
          : ((db.prepare(`SELECT * FROM ${quoteIdentifier(v.table)} WHERE rowid = ?`).get(v.rowid) as
              | Record<string, unknown>
              | undefined) ?? null);
      return {
        table: v.table,
        rowid: v.rowid,
        parentTable: v.parent,
        key: fk.map((c) => ({ column: c.from, value: row?.[c.from] ?? null, parentColumn: c.to ?? '(primary key)' })),
        row,
      };
    });
    return { total: rows.length, violations };
  });
}
