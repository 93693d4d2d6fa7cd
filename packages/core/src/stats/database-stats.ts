import type { OraDatabase } from '../connection/connection.js';
import { fileSizeOrZero } from '../connection/file-checks.js';

export interface DatabaseStats {
  /** Size of the main database file on disk. */
  fileBytes: number;
  /** Size of the `-wal` file (0 when absent): pages written since the last checkpoint. */
  walBytes: number;
  pageSize: number;
  pageCount: number;
  freelistCount: number;
  /** Free pages as a percentage of all pages (the guide's fragmentation figure), 2 decimals. */
  freePct: number;
  /** User tables and indexes (SQLite's internal `sqlite_%` objects are not counted). */
  tableCount: number;
  indexCount: number;
  journalMode: string;
  foreignKeys: boolean;
  autoVacuum: 'none' | 'full' | 'incremental';
  sqliteVersion: string;
  /** `PRAGMA user_version`: the ORA schema version. */
  userVersion: number;
}

const AUTO_VACUUM = ['none', 'full', 'incremental'] as const;

/**
 * Reads the figures the guide's health script and metrics query gather, in one place. Read-only:
 * safe on a live database, on a read-only connection.
 */
export function collectStats(db: OraDatabase): DatabaseStats {
  return db.run(() => {
    const pageSize = Number(db.pragma('page_size'));
    const pageCount = Number(db.pragma('page_count'));
    const freelistCount = Number(db.pragma('freelist_count'));
    const counts = db
      .prepare(
        `SELECT sum(type = 'table') AS tables, sum(type = 'index') AS indexes
           FROM sqlite_schema WHERE name NOT LIKE 'sqlite\\_%' ESCAPE '\\'`,
      )
      .get() as { tables: number | null; indexes: number | null };
    return {
      fileBytes: fileSizeOrZero(db.path),
      walBytes: fileSizeOrZero(`${db.path}-wal`),
      pageSize,
      pageCount,
      freelistCount,
      freePct: pageCount > 0 ? Math.round((freelistCount / pageCount) * 10000) / 100 : 0,
      tableCount: counts.tables ?? 0,
      indexCount: counts.indexes ?? 0,
      journalMode: String(db.pragma('journal_mode')).toLowerCase(),
      foreignKeys: Number(db.pragma('foreign_keys')) === 1,
      autoVacuum: AUTO_VACUUM[Number(db.pragma('auto_vacuum'))] ?? 'none',
      sqliteVersion: String(db.prepare('SELECT sqlite_version()').pluck().get()),
      userVersion: Number(db.pragma('user_version')),
    };
  });
}
