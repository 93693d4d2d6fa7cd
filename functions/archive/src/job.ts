import { closeSync, openSync, renameSync, writeSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { gzipSync } from 'node:zlib';
import {
  ARCHIVABLE,
  ARCHIVABLE_NAMES,
  archiveRows,
  assertArchivableAt,
  booleanField,
  choiceField,
  collectStats,
  InvalidInputError,
  IoError,
  integerField,
  isoDateField,
  numberField,
  openDatabase,
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
  db: pathField('a database file path').describe('The live database'),
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
  export: choiceField(['ndjson', 'csv'] as const)
    .optional()
    .describe('Also write the moved rows to a gzip-compressed NDJSON or CSV file'),
  vacuumThresholdPct: numberField(0, 100, 'percent').describe('Advise a VACUUM when free pages exceed this afterwards'),
  busyTimeoutMs: integerField(0, 600_000, 'milliseconds').describe('Wait this long for a lock held by another process'),
});

function daysAgo(days: number): string {
  const d = new Date();
  d.setUTCDate(d.getUTCDate() - days);
  return d.toISOString().slice(0, 10);
}

function csvCell(v: unknown): string {
  if (v === null || v === undefined) return '';
  const s = String(v);
  return /[",\n\r]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

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
  async run(e, { progress, signal, logger }) {
    if (e.before && e.olderThan) {
      throw new InvalidInputError(`give --before or --older-than, not both (got ${e.before} and ${e.olderThan})`);
    }
    const today = new Date().toISOString().slice(0, 10);
    const cutoff = e.before ?? daysAgo(Number((e.olderThan ?? '365d').slice(0, -1)));
    if (cutoff > today) {
      throw new InvalidInputError(
        `--before ${cutoff} is in the future; archiving moves old rows only — give a past date`,
      );
    }
    // Checked on a read-only connection first: a refused database stays byte-identical.
    assertArchivableAt(e.db, e.table, e.busyTimeoutMs);
    // A dry run only reads.
    const db = openDatabase(e.db, { readonly: e.dryRun, busyTimeoutMs: e.busyTimeoutMs });
    const exportPath = e.export
      ? join(
          e.archiveDir ? resolve(e.archiveDir) : dirname(resolve(e.db)),
          `ora_archive_export_${cutoff}_${Date.now()}.${e.export}.gz`,
        )
      : null;
    let exportFd: number | null = null;
    const headerWritten = new Set<string>();
    try {
      if (exportPath && !e.dryRun) {
        try {
          exportFd = openSync(`${exportPath}.tmp`, 'wx', 0o600);
        } catch (error) {
          throw new IoError(
            `cannot write the export ${exportPath} (${(error as NodeJS.ErrnoException).code}); check the directory`,
            'IO_ERROR',
            { cause: error },
          );
        }
      }
      const spec = ARCHIVABLE[e.table];
      const columnsOf = (table: string): readonly string[] =>
        table === spec.table ? spec.columns : (spec.children.find((c) => c.table === table)?.columns ?? []);
      const report = await archiveRows(db, {
        table: e.table,
        cutoff,
        ...(e.archiveDir ? { archiveDir: e.archiveDir } : {}),
        batchSize: e.batchSize,
        maxLockMs: e.maxLockMs,
        copyOnly: e.copyOnly,
        dryRun: e.dryRun,
        busyTimeoutMs: e.busyTimeoutMs,
        onBatch: (done, total) => progress.update(done, total, 'orders'),
        signal,
        ...(exportFd !== null
          ? {
              onRows: (_year: string, table: string, rows: unknown[][]) => {
                if (rows.length === 0) return;
                const cols = columnsOf(table);
                let text = '';
                if (e.export === 'csv') {
                  if (!headerWritten.has(table)) {
                    text += `table,${cols.join(',')}\n`;
                    headerWritten.add(table);
                  }
                  for (const r of rows) text += `${table},${r.map(csvCell).join(',')}\n`;
                } else {
                  for (const r of rows)
                    text += `${JSON.stringify({ table, ...Object.fromEntries(cols.map((c, i) => [c, r[i]])) })}\n`;
                }
                // One gzip member per batch: concatenated members are one valid gzip stream.
                writeSync(exportFd as number, gzipSync(text));
              },
            }
          : {}),
      });
      const free = collectStats(db).freePct;
      const vacuumAdvisable = !e.copyOnly && !e.dryRun && free > e.vacuumThresholdPct;
      const over = report.lockOverruns;
      // Writers waited more than twice what --max-lock-ms promised them: say so. (The rows are
      // safe and the run is complete, so the status stays ok; the warning and the overrun gauge
      // are what an operator or an alert sees.)
      const warnings: string[] = [];
      if (over.longestMs > 2 * e.maxLockMs) {
        warnings.push(
          `${over.count} batch(es) held the write lock longer than --max-lock-ms ${e.maxLockMs}, the longest ${over.longestMs} ms (over twice the limit): the machine is busy or the batches too large — try a smaller --batch-size or a quieter time`,
        );
        logger.warn({ lockOverruns: over }, warnings[0]);
      }
      return {
        status: e.dryRun ? ('skipped' as const) : ('ok' as const),
        warnings,
        ...(e.dryRun ? { reason: 'dry run: nothing changed' } : {}),
        ...report,
        export: exportPath && !e.dryRun ? exportPath : null,
        freePctAfter: free,
        vacuumAdvisable,
        // Reported, never changed (SPEC §4.7).
        journalMode: String(db.pragma('journal_mode')).toLowerCase(),
      };
    } finally {
      if (exportFd !== null) {
        closeSync(exportFd);
        if (exportPath) renameSync(`${exportPath}.tmp`, exportPath);
      }
      db.close();
    }
  },
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
