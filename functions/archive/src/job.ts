import {
  ARCHIVABLE_NAMES,
  archiveOldRows,
  booleanField,
  choiceField,
  configField,
  EXPORT_FORMATS,
  integerField,
  isoDateField,
  pathField,
} from '@ora/core';
import { defineJob } from '@ora/harness';
import * as z from 'zod';

const olderThanField = () => {
  const message = 'expected an age in days such as 365d (1d to 36500d)';
  return z
    .string({ error: message })
    .regex(/^\d{1,5}d$/, { error: message })
    .refine((s) => Number(s.slice(0, -1)) >= 1 && Number(s.slice(0, -1)) <= 36_500, { error: message });
};

export const archiveEvent = z.object({
  db: configField('db', 'The live database'),
  table: choiceField(ARCHIVABLE_NAMES).default('shipped_orders').describe('What to archive (a fixed, declared list)'),
  before: isoDateField().optional().describe('Move rows dated before this day (YYYY-MM-DD)'),
  olderThan: olderThanField().optional().describe('Move rows older than this many days, e.g. 365d (default 365d)'),
  archiveDir: pathField('a directory path')
    .optional()
    .describe('Where the yearly ora_archive_<year>.db files go (default: beside the database)'),
  batchSize: integerField(1, 10_000).default(500).describe('Orders per batch to start with (adapts to --max-lock-ms)'),
  maxLockMs: integerField(1, 10_000, 'milliseconds')
    .default(50)
    .describe('Longest a batch may hold the live write lock'),
  copyOnly: booleanField().default(false).describe('Copy into the archive but keep the live rows'),
  dryRun: booleanField().default(false).describe('Report what would move, change nothing'),
  export: choiceField(EXPORT_FORMATS)
    .optional()
    .describe('Also write the moved rows to a gzip-compressed NDJSON or CSV file'),
  vacuumThresholdPct: configField('vacuumThresholdPct', 'Advise a VACUUM when free pages exceed this afterwards'),
  busyTimeoutMs: configField('busyTimeoutMs'),
});

export const archiveJob = defineJob({
  name: 'archive',
  describe:
    "Archive old shipped orders with their items into yearly archive databases (the guide's archive_old_shipments, which only counted them): short verified batches, each row deleted only after its copy is committed and checked in the archive; idempotent and resumable after a crash",
  schedule: '0 4 1 * *',
  heavy: true,
  lockTarget: (e) => (e.dryRun ? null : e.db),
  event: archiveEvent,
  examples: [
    ['$0 archive --older-than 365d', 'monthly, as cron runs it'],
    ['$0 archive --before 2025-01-01 --dry-run', 'what would move'],
    ['$0 archive --before 2025-01-01 --copy-only --export csv', 'copy and export, keep the live rows'],
  ],
  run: (e, { progress, signal, logger }) =>
    archiveOldRows(e.db, {
      ...e,
      onBatch: (done, total) => progress.update(done, total, 'orders'),
      signal,
      onWarning: (message, details) => logger.warn(details, message),
      onExportAbandoned: (temp) =>
        logger.warn({ export: temp }, `the run failed: its incomplete export is kept as ${temp}, not published`),
    }),
  summarize: (r) => {
    const counts = (o: Record<string, number>) =>
      Object.entries(o)
        .map(([t, n]) => `${n} ${t}`)
        .join(', ');
    return r.dryRun
      ? `archive: skipped — dry run: ${counts(r.eligible)} dated before ${r.cutoff} would move`
      : `archive: ok — ${r.copyOnly ? 'copied' : 'moved'} ${counts(r.moved)} dated before ${r.cutoff} in ${r.batches} batch(es) to ${r.archives.join(', ') || 'nothing (no rows)'}; longest write lock ${r.longestLockMs} ms${r.lockOverruns.count > 0 ? ` (${r.lockOverruns.count} batch(es) over --max-lock-ms ${r.lockOverruns.maxLockMs}, longest ${r.lockOverruns.longestMs} ms)` : ` (within --max-lock-ms ${r.lockOverruns.maxLockMs})`}${r.vacuumAdvisable ? `; ${r.freePctAfter}% pages free now: run weekly-vacuum` : ''}${r.warnings.length > 0 ? `\nwarning: ${r.warnings.join('\nwarning: ')}` : ''}`;
  },
  metrics: (r) => [
    ...Object.entries(r.moved).map(([table, n]) => ({
      name: 'ora_archive_rows_moved',
      help: 'Rows archived by the last run',
      value: n,
      labels: { table },
    })),
    {
      name: 'ora_archive_longest_lock_seconds',
      help: 'Longest live write lock of a batch',
      value: r.longestLockMs / 1000,
    },
    {
      name: 'ora_archive_lock_overruns',
      help: 'Batches of the last run whose write lock lasted longer than --max-lock-ms',
      value: r.lockOverruns.count,
    },
  ],
});
