import {
  collectStats,
  collectTableStats,
  type IndexUsageReport,
  indexUsage,
  integerField,
  knownQueries,
  openDatabase,
  pathField,
  readConnectionSettings,
  readSlowQueryLog,
  summarizeSlowQueries,
  type TableInfo,
} from '@ora/core';
import { defineJob, type JobMetric } from '@ora/harness';
import * as z from 'zod';

export const metricsEvent = z.object({
  db: pathField('a database file path').describe('SQLite database file'),
  slowQueryLog: pathField('a file path')
    .optional()
    .describe('NDJSON slow-statement log to summarise (applications write it)'),
  top: integerField(1, 1000).default(10).describe('How many slow statements to list'),
  busyTimeoutMs: integerField(0, 600_000, 'milliseconds').describe('Wait this long for a lock held by another process'),
});

const mib = (bytes: number) => Math.round((bytes / 1048576) * 100) / 100;

function tableText(tables: TableInfo[]): string[] {
  const rows = tables.map((t) => [
    t.name,
    String(t.rows),
    `${mib(t.bytes)}`,
    `${mib(t.indexes.reduce((s, i) => s + i.bytes, 0))}`,
    t.indexes.map((i) => `${i.name}(${i.columns.join(',')})`).join(' ') || '-',
  ]);
  const header = ['TABLE', 'ROWS', 'MiB', 'INDEX MiB', 'INDEXES'];
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  return [header, ...rows].map(
    (r) =>
      `  ${r
        .map((c, i) => c.padEnd(widths[i] ?? 0))
        .join('  ')
        .trimEnd()}`,
  );
}

export const metricsJob = defineJob({
  name: 'metrics',
  describe:
    "Daily metrics (the guide's daily_metrics.sql and more): size, free %, cache size, journal mode, foreign keys; real row counts and bytes per table and index; which indexes queries use; slowest logged statements. Read-only",
  schedule: '15 8 * * *',
  event: metricsEvent,
  examples: [
    ['$0 metrics --db /data/ora.db', 'tables, indexes and index usage as a table'],
    ['$0 metrics --json --slow-query-log logs/slow.ndjson', 'with the slow-statement summary, as JSON'],
    ['$0 metrics --metrics-file /var/lib/node_exporter/ora.prom', 'Prometheus text for the textfile collector'],
  ],
  run(e) {
    // Read-only: reads never hold writers off in WAL mode.
    const db = openDatabase(e.db, { readonly: true, busyTimeoutMs: e.busyTimeoutMs });
    try {
      const stats = collectStats(db);
      const settings = readConnectionSettings(db);
      const tables = collectTableStats(db);
      const slow = e.slowQueryLog ? readSlowQueryLog(e.slowQueryLog) : null;
      const slowest = slow ? summarizeSlowQueries(slow.entries, e.top) : [];
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
          ? { file: e.slowQueryLog, entries: slow.entries.length, malformedLines: slow.malformed, top: slowest }
          : null,
      };
    } finally {
      db.close();
    }
  },
  summarize: (r) => {
    const lines = [
      `metrics: ${r.status} — ${r.database}: ${r.sizeMb} MiB, ${r.freePct}% free, cache ${r.cacheSizeKib} KiB, journal ${r.journalMode}, foreign keys ${r.foreignKeys ? 'on' : 'off'}`,
      ...tableText(r.tables),
      `  indexes used: ${r.indexUsage.used.join(', ') || 'none'}`,
      r.indexUsage.queries.length === 0
        ? '  indexes unused by known queries: not judged (no known queries on this database)'
        : `  indexes unused by known queries: ${r.indexUsage.unused.join(', ') || 'none'}`,
      ...r.indexUsage.fullScans.map((s) => `  full scan: ${s.query} reads all of ${s.table}`),
      ...(r.knownQueriesSkipped ? [`  note: ${r.knownQueriesSkipped}`] : []),
    ];
    if (r.slowQueries) {
      lines.push(`  slow statements (${r.slowQueries.entries} logged):`);
      for (const s of r.slowQueries.top) {
        lines.push(`    ${s.totalMs} ms total, ${s.count}×, max ${s.maxMs} ms: ${s.sql.slice(0, 100)}`);
      }
    }
    return lines.join('\n');
  },
  metrics: (r) => {
    const m: JobMetric[] = [
      { name: 'ora_db_size_bytes', help: 'Size of the database file in bytes (without its WAL)', value: r.sizeBytes },
      { name: 'ora_db_wal_bytes', help: 'WAL file size', value: r.walBytes },
      { name: 'ora_db_free_pages_percent', help: 'Free pages as a percentage of all pages', value: r.freePct },
      { name: 'ora_db_cache_size_kib', help: 'Connection page cache size', value: r.cacheSizeKib },
      { name: 'ora_db_foreign_keys_enabled', help: '1 when foreign keys are enforced', value: r.foreignKeys ? 1 : 0 },
    ];
    for (const t of r.tables) {
      m.push({ name: 'ora_table_rows', help: 'Rows per table', value: t.rows, labels: { table: t.name } });
      m.push({
        name: 'ora_table_bytes',
        help: 'Bytes of each table b-tree',
        value: t.bytes,
        labels: { table: t.name },
      });
      for (const i of t.indexes) {
        m.push({
          name: 'ora_index_bytes',
          help: 'Bytes of each index b-tree',
          value: i.bytes,
          labels: { table: t.name, index: i.name },
        });
      }
    }
    for (const i of [...r.indexUsage.used, ...r.indexUsage.unused]) {
      m.push({
        name: 'ora_index_used',
        help: '1 when a known query uses the index',
        value: r.indexUsage.used.includes(i) ? 1 : 0,
        labels: { index: i },
      });
    }
    m.push({
      name: 'ora_full_scan_queries',
      help: 'Known queries that read a whole table',
      value: r.indexUsage.fullScans.length,
    });
    return m;
  },
});
