import { booleanField, checkHealth, configField, type HealthOutcome, mib, pathField } from '@ora/core';
import { defineJob } from '@ora/harness';
import * as z from 'zod';

export const healthCheckEvent = z.object({
  db: configField('db', 'SQLite database file to check'),
  full: booleanField()
    .default(false)
    .describe('Run integrity_check (every page and index entry) instead of the faster quick_check'),
  walWarnMb: configField('walWarnMb', 'WAL size that makes the status warn'),
  walCriticalMb: configField('walCriticalMb', 'WAL size that is critical (exit 1)'),
  freeWarnPct: configField('freeWarnPct', 'Free-page percentage that makes the status warn'),
  freeCriticalPct: configField('freeCriticalPct', 'Free-page percentage that is critical (exit 1)'),
  maxProblems: configField('maxProblems'),
  busyTimeoutMs: configField('busyTimeoutMs'),
  logFile: pathField('a file path')
    .optional()
    .describe("Also append a plain-text report to this file, like the guide's logs/db_health.log"),
});

export const healthCheckJob = defineJob({
  name: 'health-check',
  describe:
    "Morning health check (replaces the guide's daily_health_check.sh): file is SQLite, quick_check (or --full integrity_check), size, WAL size, free pages, table/index counts, journal mode, foreign keys, SQLite version; warn/critical thresholds",
  schedule: '0 8 * * *',
  event: healthCheckEvent,
  examples: [
    ['$0 health-check --db ora.db', 'quick check with a short summary'],
    ['$0 health-check --full --json', 'full integrity_check, result as JSON'],
    ['$0 health-check --log-file logs/db_health.log', "also append a report like the guide's log"],
  ],
  run: (e): Promise<HealthOutcome> => checkHealth(e.db, e),
  summarize(r) {
    const head = `health-check: ${r.status} — ${r.database}: ${mib(r.fileBytes)} MiB, WAL ${mib(r.walBytes)} MiB, ${r.freePct}% free, ${r.integrity.mode === 'full' ? 'integrity_check' : 'quick_check'} ${r.integrity.ok ? 'ok' : 'FAILED'}, ${r.tableCount} tables / ${r.indexCount} indexes, ${r.journalMode}, SQLite ${r.sqliteVersion}`;
    const notes = r.checks.filter((c) => c.level !== 'ok').map((c) => `  ${c.level}: ${c.name}: ${c.message}`);
    const problems = r.integrity.problems.map((p) => `  problem: ${p}`);
    return [head, ...notes, ...problems].join('\n');
  },
  metrics(r) {
    return [
      { name: 'ora_db_size_bytes', help: 'Size of the database file in bytes (without its WAL)', value: r.fileBytes },
      { name: 'ora_db_wal_bytes', help: 'WAL file size', value: r.walBytes },
      { name: 'ora_db_free_pages_percent', help: 'Free pages as a percentage of all pages', value: r.freePct },
      { name: 'ora_db_pages', help: 'Pages in the database', value: r.pageCount },
      { name: 'ora_db_free_pages', help: 'Pages on the freelist', value: r.freelistCount },
      {
        name: 'ora_db_integrity_ok',
        help: "1 when the run's integrity check (quick_check or integrity_check) passed",
        value: r.integrity.ok ? 1 : 0,
      },
    ];
  },
});
