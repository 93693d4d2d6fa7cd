import { openDatabase, readConnectionSettings } from '../connection/connection.js';
import { mib } from '../format.js';
import { collectStats } from '../stats/database-stats.js';
import { type IndexUsageReport, indexUsage, knownQueries } from './index-usage.js';
import { readSlowQueryLog, summarizeSlowQueries } from './slow-query-log.js';
import { collectTableStats } from './table-stats.js';

export interface CollectMetricsOptions {
  /** NDJSON slow-statement log to summarise. */
  slowQueryLog?: string | undefined;
  /** How many slow statements to list. */
  top: number;
  busyTimeoutMs: number;
}

/**
 * `collectMetrics(path, options)` — the metrics job's figures, on a read-only connection (reads
 * never hold writers off in WAL mode): size, free pages, cache size, journal mode, foreign keys,
 * rows and bytes per table and index, which indexes the ORA known queries (and the slowest logged
 * statements) use, and the slow-statement summary.
 *
 * ### Examples
 * ```ts
 * const m = collectMetrics('ora.db', { top: 10, busyTimeoutMs: 8000 });
 * m.indexUsage.unused; // ['idx_items_lot']
 * ```
 */
export function collectMetrics(path: string, o: CollectMetricsOptions) {
  const db = openDatabase(path, { readonly: true, busyTimeoutMs: o.busyTimeoutMs });
  try {
    const stats = collectStats(db);
    const settings = readConnectionSettings(db);
    const tables = collectTableStats(db);
    const slow = o.slowQueryLog ? readSlowQueryLog(o.slowQueryLog) : null;
    const slowest = slow ? summarizeSlowQueries(slow.entries, o.top) : [];
    const known = knownQueries(db);
    const queries = [...known.queries, ...slowest.map((s, i) => ({ name: `slow.${i + 1}`, sql: s.sql }))];
    const usage: IndexUsageReport = indexUsage(db, queries);
    return {
      status: 'ok' as const,
      sizeMb: mib(stats.pageCount * stats.pageSize),
      sizeBytes: stats.pageCount * stats.pageSize,
      walBytes: stats.walBytes,
      freePct: stats.freePct,
      cacheSizeKib: settings.cacheSize < 0 ? -settings.cacheSize : (settings.cacheSize * stats.pageSize) / 1024,
      journalMode: stats.journalMode,
      foreignKeys: stats.foreignKeys,
      pageSize: stats.pageSize,
      pageCount: stats.pageCount,
      tableCount: stats.tableCount,
      indexCount: stats.indexCount,
      tables,
      indexUsage: usage,
      /** Why the ORA known queries were (partly) skipped: not an ORA database, or tables it lacks. */
      knownQueriesSkipped: known.skipped,
      slowQueries: slow
        ? { file: o.slowQueryLog, entries: slow.entries.length, malformedLines: slow.malformed, top: slowest }
        : null,
    };
  } finally {
    db.close();
  }
}
