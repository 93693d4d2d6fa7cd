import { openDatabase } from '../connection/connection.js';
import { journalMode } from '../connection/journal.js';
import { InvalidInputError } from '../errors/errors.js';
import { collectStats } from '../stats/database-stats.js';
import type { ArchivableName } from './archivable.js';
import { type ArchiveReport, archiveRows, assertArchivableAt } from './archive.js';
import { type ArchiveExport, type ExportFormat, exportPathFor, openArchiveExport } from './export.js';

export interface ArchiveOldRowsOptions {
  table: ArchivableName;
  /** Rows dated before this day (YYYY-MM-DD) move; or give `olderThan`. */
  before?: string | undefined;
  /** Rows older than this many days move, as `365d` (the default). */
  olderThan?: string | undefined;
  archiveDir?: string | undefined;
  batchSize: number;
  maxLockMs: number;
  copyOnly: boolean;
  dryRun: boolean;
  /** Also write the moved rows to a gzip-compressed file in this format. */
  export?: ExportFormat | undefined;
  /** Advise a VACUUM when free pages exceed this afterwards. */
  vacuumThresholdPct: number;
  busyTimeoutMs: number;
  /** Today, for `olderThan` and the future-date check (default: now). */
  now?: Date;
  onBatch?: (done: number, total: number) => void;
  signal?: AbortSignal | undefined;
  /** Told each warning of the run as it is added to the result (for the log). */
  onWarning?: (message: string, details: Record<string, unknown>) => void;
  /** Told where an export of a run that failed was kept (incomplete, not published). */
  onExportAbandoned?: (tempPath: string) => void;
}

/** Flattened to an object type (not an interface), so that it is a job outcome. */
export type ArchiveOldRowsResult = { [K in keyof ArchiveReport]: ArchiveReport[K] } & {
  status: 'ok' | 'skipped';
  warnings: string[];
  reason?: string;
  export: string | null;
  freePctAfter: number;
  vacuumAdvisable: boolean;
  journalMode: string;
};

/**
 * `archiveCutoff({ before, olderThan }, now): string` — the day (YYYY-MM-DD, UTC) before which rows
 * move: `before` as given, else `olderThan` days (default 365d) before `now`. Giving both, or a
 * day in the future, is INVALID_INPUT (exit 2). Pure.
 *
 * ### Examples
 * ```ts
 * archiveCutoff({ olderThan: '30d' }, new Date('2026-12-02T00:00:00Z')); // '2026-11-02'
 * ```
 */
export function archiveCutoff(o: { before?: string | undefined; olderThan?: string | undefined }, now: Date): string {
  if (o.before && o.olderThan) {
    throw new InvalidInputError(`give --before or --older-than, not both (got ${o.before} and ${o.olderThan})`);
  }
  const today = now.toISOString().slice(0, 10);
  let cutoff = o.before;
  if (cutoff === undefined) {
    const d = new Date(now);
    d.setUTCDate(d.getUTCDate() - Number((o.olderThan ?? '365d').slice(0, -1)));
    cutoff = d.toISOString().slice(0, 10);
  }
  if (cutoff > today) {
    throw new InvalidInputError(
      `--before ${cutoff} is in the future; archiving moves old rows only — give a past date`,
    );
  }
  return cutoff;
}

/**
 * `archiveOldRows(path, options): Promise<ArchiveOldRowsResult>` — the archive job: checks the database on
 * a read-only connection first (a refused one stays byte-identical), then `archiveRows` in short
 * verified batches (a dry run only reads), with the optional export published only when the run
 * succeeds; reports free pages afterwards, whether a VACUUM is advisable, and a warning when
 * batches held the write lock over twice `maxLockMs` (the rows are safe, the status stays ok).
 *
 * ### Examples
 * ```ts
 * const r = await archiveOldRows('ora.db', { table: 'shipped_orders', olderThan: '365d', batchSize: 500,
 *   maxLockMs: 50, copyOnly: false, dryRun: false, vacuumThresholdPct: 25, busyTimeoutMs: 8000 });
 * r.moved; // { shipped_orders: 120, shipped_items: 360 }
 * ```
 */
export async function archiveOldRows(path: string, o: ArchiveOldRowsOptions): Promise<ArchiveOldRowsResult> {
  const cutoff = archiveCutoff(o, o.now ?? new Date());
  // Checked on a read-only connection first: a refused database stays byte-identical.
  assertArchivableAt(path, o.table, o.busyTimeoutMs);
  const db = openDatabase(path, { readonly: o.dryRun, busyTimeoutMs: o.busyTimeoutMs });
  let out: ArchiveExport | null = null;
  let published: string | null = null;
  try {
    if (o.export && !o.dryRun) {
      out = openArchiveExport(exportPathFor(path, cutoff, o.export, o.archiveDir), o.export, o.table);
    }
    const sink = out;
    const report = await archiveRows(db, {
      table: o.table,
      cutoff,
      ...(o.archiveDir ? { archiveDir: o.archiveDir } : {}),
      batchSize: o.batchSize,
      maxLockMs: o.maxLockMs,
      copyOnly: o.copyOnly,
      dryRun: o.dryRun,
      busyTimeoutMs: o.busyTimeoutMs,
      ...(o.onBatch ? { onBatch: o.onBatch } : {}),
      ...(o.signal ? { signal: o.signal } : {}),
      ...(sink ? { onRows: (_year: string, table: string, rows: unknown[][]) => sink.write(table, rows) } : {}),
    });
    const free = collectStats(db).freePct;
    const over = report.lockOverruns;
    // Writers waited more than twice what --max-lock-ms promised them: say so.
    const warnings: string[] = [];
    if (over.longestMs > 2 * o.maxLockMs) {
      warnings.push(
        `${over.count} batch(es) held the write lock longer than --max-lock-ms ${o.maxLockMs}, the longest ${over.longestMs} ms (over twice the limit): the machine is busy or the batches too large — try a smaller --batch-size or a quieter time`,
      );
      o.onWarning?.(warnings[0] as string, { lockOverruns: over });
    }
    const journal = journalMode(db); // reported, never changed (SPEC §4.7)
    published = out ? out.finish() : null;
    return {
      status: o.dryRun ? 'skipped' : 'ok',
      warnings,
      ...(o.dryRun ? { reason: 'dry run: nothing changed' } : {}),
      ...report,
      export: published,
      freePctAfter: free,
      vacuumAdvisable: !o.copyOnly && !o.dryRun && free > o.vacuumThresholdPct,
      journalMode: journal,
    };
  } finally {
    if (out && published === null) o.onExportAbandoned?.(out.abandon());
    db.close();
  }
}
