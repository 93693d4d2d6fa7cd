import { collectMetrics, configField, integerField, mib, type TableInfo, textTable } from '@ora/core';
import { defineJob, type JobMetric } from '@ora/harness';
import * as z from 'zod';

export const metricsEvent = z.object({
  db: configField('db', 'SQLite database file'),
  slowQueryLog: configField('slowQueryLog', 'NDJSON slow-statement log to summarise (applications write it)'),
  top: integerField(1, 1000).default(10).describe('How many slow statements to list'),
  busyTimeoutMs: configField('busyTimeoutMs'),
});

function tableText(tables: TableInfo[]): string[] {
  const rows = tables.map((t) => [
    t.name,
    String(t.rows),
    `${mib(t.bytes)}`,
    `${mib(t.indexes.reduce((s, i) => s + i.bytes, 0))}`,
    t.indexes.map((i) => `${i.name}(${i.columns.join(',')})`).join(' ') || '-',
  ]);
  return textTable(['TABLE', 'ROWS', 'MiB', 'INDEX MiB', 'INDEXES'], rows, '  ');
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
  run: (e) => collectMetrics(e.db, e),
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
