import { closeSync, existsSync, linkSync, openSync, rmSync, statSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { type OraDatabase, openDatabase, type Statement, type TransactionFunction } from '../connection/connection.js';
import { fileSizeOrZero } from '../connection/file-checks.js';
import { EXIT, type ExitStatus, IoError, isOraError, OraError, throwIfStopped } from '../errors/errors.js';
import { fsyncDir, fsyncFile, realDir, refuseSymlink, removeDeadTemps } from '../fs/files.js';
import { migrate } from '../schema/migrate.js';
import { assertOraSchema, assertOraSchemaAt } from '../schema/ora-schema.js';
import { quoteIdentifier } from '../sql/identifiers.js';
import { ARCHIVABLE, type ArchivableName, type ArchivableTable } from './archivable.js';

export interface ArchiveOptions {
  table: keyof typeof ARCHIVABLE;
  /** Rows dated strictly before this day (YYYY-MM-DD) move. */
  cutoff: string;
  /** Where the yearly archive databases live (default: beside the live database). */
  archiveDir?: string;
  /** Parents per batch to start with; adapted to keep each write lock under `maxLockMs`. */
  batchSize: number;
  /** Longest time a batch may hold the live database's write lock. */
  maxLockMs: number;
  copyOnly: boolean;
  dryRun: boolean;
  busyTimeoutMs: number;
  onBatch?: (moved: number, total: number) => void;
  /** Aborted: the run stops between two batches (each batch is complete in both databases). */
  signal?: AbortSignal;
  /** Called with each batch's rows after they are safely in the archive (for --export). */
  onRows?: (year: string, table: string, rows: unknown[][]) => void;
}

export interface ArchiveReport {
  table: string;
  cutoff: string;
  /** Rows copied and (unless copy-only) removed from the live database, per table. */
  moved: Record<string, number>;
  /** Rows that would move (dry run), per table. */
  eligible: Record<string, number>;
  batches: number;
  longestLockMs: number;
  /** Batches whose live write lock lasted longer than `maxLockMs`, and the longest of them. */
  lockOverruns: { count: number; longestMs: number; maxLockMs: number };
  archives: string[];
  copyOnly: boolean;
  dryRun: boolean;
}

const q = quoteIdentifier;

/** The yearly archive file for `year` of the live database `livePath`. */
export function archivePathFor(livePath: string, year: string, archiveDir?: string): string {
  // A symlinked archive directory is resolved once, here: the result names the real place.
  const dir = realDir(archiveDir ? resolve(archiveDir) : dirname(resolve(livePath)));
  return join(dir, `ora_archive_${year}.db`);
}

/** Opens (creating on first use, mode 0600, with the ORA schema) the archive database. */
function openArchive(path: string, busyTimeoutMs: number): OraDatabase {
  // SQLite would follow a link planted at the archive's name and write the rows there.
  refuseSymlink(path, 'the archive');
  // Temp archives of runs that were killed while creating one.
  removeDeadTemps(dirname(path), 'ora-archive');
  if (!existsSync(path)) {
    const dir = dirname(path);
    if (!existsSync(dir) || !statSync(dir).isDirectory()) {
      throw new IoError(
        `archive directory ${dir} does not exist; create it or choose another --archive-dir`,
        'IO_ERROR',
      );
    }
    // Built complete (schema and all) under a temp name, then linked into place: a run killed
    // half-way leaves no empty file under the archive's name, and two runs never replace one.
    const temp = join(dir, `.ora-archive-${process.pid}-${basename(path)}`);
    try {
      closeSync(openSync(temp, 'wx', 0o600));
      const fresh = openDatabase(temp, { create: true, busyTimeoutMs });
      try {
        migrate(fresh);
        fresh.pragma('journal_mode = DELETE'); // one self-contained file to link
      } finally {
        fresh.close();
      }
      fsyncFile(temp);
      try {
        linkSync(temp, path);
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error; // another run made it first
      }
      fsyncDir(dir);
    } catch (error) {
      if (isOraError(error)) throw error;
      throw new IoError(
        `cannot create the archive ${path} (${(error as NodeJS.ErrnoException).code}); check that its directory is writable`,
        'PERMISSION_DENIED',
        { cause: error },
      );
    } finally {
      rmSync(temp, { force: true });
    }
  }
  const db = openDatabase(path, { create: true, busyTimeoutMs });
  // The live rows are deleted once they are here: the archive's commit must survive power loss.
  db.pragma('synchronous = FULL');
  migrate(db);
  return db;
}

/**
 * Refuses (one line, nothing touched) a database without the ORA tables archiving `table` moves,
 * or whose ORA schema is not at this code's version. Call it before creating any file.
 */
export function assertArchivable(live: OraDatabase, table: ArchivableName): void {
  const spec: ArchivableTable = ARCHIVABLE[table];
  assertOraSchema(live, 'archive', [spec.table, ...spec.children.map((c) => c.table)]);
}

/** `assertArchivable` on a read-only connection of its own, before a job opens `path` read-write. */
export function assertArchivableAt(path: string, table: ArchivableName, busyTimeoutMs?: number): void {
  const spec: ArchivableTable = ARCHIVABLE[table];
  assertOraSchemaAt(path, 'archive', {
    needs: [spec.table, ...spec.children.map((c) => c.table)],
    ...(busyTimeoutMs === undefined ? {} : { busyTimeoutMs }),
  });
}

/**
 * What a run did, in the manner of kysely's `MigrationResultSet`: the report of every batch that
 * committed, and, when the run ended early, the error that ended it. The batches in `report` are
 * complete in both databases whatever `error` says: a rerun carries on after them.
 */
export interface ArchiveOutcome {
  report: ArchiveReport;
  /** Why the run stopped before it was done (undefined when it finished). */
  error?: unknown;
}

/**
 * A run that failed (or was stopped) after some batches had committed: the cause's code and exit
 * status, its message followed by what was committed, and that report itself (`report`, and
 * `committed` in `--json`), so an operator sees what is done and that a rerun finishes the rest.
 */
export class ArchiveIncompleteError extends OraError {
  readonly code: string;
  readonly exitStatus: ExitStatus;
  /** The batches that committed before the run ended: they stay archived. */
  readonly report: ArchiveReport;

  constructor(cause: unknown, report: ArchiveReport) {
    const ora = isOraError(cause) ? cause : null;
    const text = ora ? ora.message : `unexpected error: ${(cause as Error)?.message ?? String(cause)}`;
    super(`${text}; ${committedText(report)}`, { cause });
    this.code = ora?.code ?? 'UNEXPECTED';
    this.exitStatus = ora?.exitStatus ?? EXIT.problem;
    this.report = report;
  }

  override toJSON() {
    const { batches, moved, archives, copyOnly } = this.report;
    return { ...super.toJSON(), committed: { batches, moved, archives, copyOnly } };
  }
}

function committedText(report: ArchiveReport): string {
  const rows = Object.entries(report.moved)
    .map(([table, n]) => `${n} ${table}`)
    .join(', ');
  return `before that, ${report.batches} batch(es) committed and stay ${report.copyOnly ? 'copied' : 'moved'} (${rows} to ${report.archives.join(', ')}); rerun the same command to finish`;
}

/**
 * Moves old rows (with their children) into yearly archive databases, the safe way (SPEC §4,
 * invariant 5). Each batch is two short transactions:
 *
 * 1. on the archive: copy the batch from the live database (attached read-only), skipping rows
 *    already there, commit with `synchronous=FULL`;
 * 2. on the live database (`BEGIN IMMEDIATE`, the only write lock taken on it): check that every
 *    row of the batch, as it is now, is in the archive with identical content; then delete it.
 *    If a writer changed the batch in between, the batch is copied again first.
 *
 * A run killed at any instant therefore loses nothing and duplicates nothing, and a rerun
 * finishes the job. The batch size adapts so each live write lock stays under `maxLockMs`.
 *
 * Fails with the error that ended the run; once a batch has committed, with an
 * `ArchiveIncompleteError` that carries the committed batches' report (see `runArchive`).
 */
export async function archiveRows(live: OraDatabase, options: ArchiveOptions): Promise<ArchiveReport> {
  const outcome = await runArchive(live, options);
  if (outcome.error === undefined) return outcome.report;
  throw outcome.report.batches > 0 ? new ArchiveIncompleteError(outcome.error, outcome.report) : outcome.error;
}

/** `archiveRows` as an outcome: never throws; returns the report so far and the error, if any. */
export async function runArchive(live: OraDatabase, options: ArchiveOptions): Promise<ArchiveOutcome> {
  const spec: ArchivableTable = ARCHIVABLE[options.table];
  const report = emptyReport(spec, options);
  try {
    assertArchivable(live, options.table);
    const plan = countEligible(live, spec, options.cutoff);
    report.eligible = plan.eligible;
    if (options.dryRun) return { report };
    const run: RunState = { done: 0, total: plan.eligible[spec.table] ?? 0, batchSize: options.batchSize };
    const checkpoints = pauseAutoCheckpoint(live);
    try {
      for (const { year } of plan.years) {
        const target = openYear(live, spec, year, options);
        report.archives.push(target.path);
        try {
          await archiveYear(live, target, options, report, run, checkpoints);
        } finally {
          target.close();
        }
      }
    } finally {
      checkpoints.restore();
    }
    return { report };
  } catch (error) {
    return { report, error };
  }
}

function emptyReport(spec: ArchivableTable, options: ArchiveOptions): ArchiveReport {
  const zero = () => Object.fromEntries([spec.table, ...spec.children.map((c) => c.table)].map((t) => [t, 0]));
  return {
    table: spec.table,
    cutoff: options.cutoff,
    moved: zero(),
    eligible: zero(),
    batches: 0,
    longestLockMs: 0,
    lockOverruns: { count: 0, longestMs: 0, maxLockMs: options.maxLockMs },
    archives: [],
    copyOnly: options.copyOnly,
    dryRun: options.dryRun,
  };
}

/** What is dated before the cutoff: parents per year (one archive each), rows per table. */
function countEligible(
  live: OraDatabase,
  spec: ArchivableTable,
  cutoff: string,
): { years: { year: string; n: number }[]; eligible: Record<string, number> } {
  const years = live.all<{ year: string; n: number }>(
    `SELECT substr(${q(spec.dateColumn)}, 1, 4) AS year, count(*) AS n FROM ${q(spec.table)}
      WHERE ${q(spec.dateColumn)} < ? GROUP BY year ORDER BY year`,
    cutoff,
  );
  const eligible: Record<string, number> = { [spec.table]: years.reduce((s, y) => s + y.n, 0) };
  for (const child of spec.children) {
    eligible[child.table] =
      live.value<number>(
        `SELECT count(*) FROM ${q(child.table)} c JOIN ${q(spec.table)} p ON p.${q(child.parentKey)} = c.${q(child.childKey)}
          WHERE p.${q(spec.dateColumn)} < ?`,
        cutoff,
      ) ?? 0;
  }
  return { years, eligible };
}

/** Progress across years, and the batch size as it adapts. */
interface RunState {
  done: number;
  total: number;
  batchSize: number;
}

interface Checkpoints {
  /** What the automatic checkpoint would do (at 1000 pages of WAL), outside the lock. */
  checkpointIfDue(): void;
  restore(): void;
}

/**
 * This connection's automatic checkpoint would run inside COMMIT, after the write lock is
 * released but inside the time measured as held: it is run between batches instead (PASSIVE: it
 * never waits for or blocks anyone), so each measured lock is the write transaction alone.
 */
function pauseAutoCheckpoint(live: OraDatabase): Checkpoints {
  const autoCheckpoint = Number(live.pragma('wal_autocheckpoint'));
  live.pragma('wal_autocheckpoint = 0');
  const checkpointBytes = Math.max(1, autoCheckpoint) * Number(live.pragma('page_size'));
  return {
    checkpointIfDue() {
      if (fileSizeOrZero(`${live.path}-wal`) > checkpointBytes) live.pragma('wal_checkpoint(PASSIVE)');
    },
    restore() {
      live.pragma(`wal_autocheckpoint = ${autoCheckpoint}`);
    },
  };
}

/** One year's archive, attached both ways, with every statement a batch runs prepared once. */
interface YearArchive {
  year: string;
  /** The parent table. */
  table: string;
  path: string;
  archive: OraDatabase;
  /** Dates before this (the next year's first day, or the cutoff) belong to the year. */
  upper: string;
  /** Keyset pagination by (date, id): copy-only runs keep the rows, so batches must move on. */
  nextBatch: Statement<{ id: number; d: string }>;
  /** Copies a batch (JSON list of parent ids) into the archive: rows inserted per table. */
  copy: TransactionFunction<[string], Record<string, number>>;
  /** Deletes a batch from the live database, children first: rows deleted per table. */
  deletes: { table: string; statement: Statement }[];
  /** Rows of the batch, as they are now, without an identical copy in the archive (one count per table). */
  missing: Statement<number>[];
  /** Reads a batch back from the archive, per table (for `onRows`). */
  exports: { table: string; statement: Statement<unknown[]> }[];
  close(): void;
}

function openYear(live: OraDatabase, spec: ArchivableTable, year: string, options: ArchiveOptions): YearArchive {
  const path = archivePathFor(live.path, year, options.archiveDir);
  const archive = openArchive(path, options.busyTimeoutMs);
  let attached = 0;
  const close = () => {
    try {
      if (attached > 1) live.exec('DETACH arch');
      if (attached > 0) archive.exec('DETACH live');
    } finally {
      archive.close();
    }
  };
  try {
    // Attached for reading only (better-sqlite3's SQLite has no URI filenames for mode=ro).
    archive.prepare('ATTACH ? AS live').run(resolve(live.path));
    attached++;
    live.prepare('ATTACH ? AS arch').run(path);
    attached++;
    const yearEnd = `${Number(year) + 1}-01-01`;
    const ids = 'SELECT value FROM json_each(?)';
    const childrenOf = (c: ArchivableTable['children'][number], schema: string) =>
      `${q(c.childKey)} IN (SELECT ${q(c.parentKey)} FROM ${schema}.${q(spec.table)} WHERE id IN (${ids}))`;
    const cols = (columns: readonly string[]) => columns.map(q).join(', ');
    const same = (columns: readonly string[]) => columns.map((c) => `a.${q(c)} IS m.${q(c)}`).join(' AND ');
    const copyParent = archive.prepare(
      `INSERT INTO main.${q(spec.table)} (${cols(spec.columns)})
       SELECT ${cols(spec.columns)} FROM live.${q(spec.table)} WHERE id IN (${ids})
       ON CONFLICT DO NOTHING`,
    );
    const copyChildren = spec.children.map((c) => ({
      table: c.table,
      statement: archive.prepare(
        `INSERT INTO main.${q(c.table)} (${cols(c.columns)})
         SELECT ${cols(c.columns)} FROM live.${q(c.table)} WHERE ${childrenOf(c, 'live')}
         ON CONFLICT DO NOTHING`,
      ),
    }));
    return {
      year,
      table: spec.table,
      path,
      archive,
      upper: yearEnd < options.cutoff ? yearEnd : options.cutoff,
      nextBatch: live.prepare(
        `SELECT id, ${q(spec.dateColumn)} AS d FROM main.${q(spec.table)}
        WHERE (${q(spec.dateColumn)} > ? OR (${q(spec.dateColumn)} = ? AND id > ?)) AND ${q(spec.dateColumn)} < ?
        ORDER BY ${q(spec.dateColumn)}, id LIMIT ?`,
      ),
      // A deferred transaction: it takes the archive's write lock at its first insert, and only
      // a read lock on the live database it reads from.
      copy: archive.transactionFunction((idList: string) => {
        const counts: Record<string, number> = { [spec.table]: copyParent.run(idList).changes };
        for (const c of copyChildren) counts[c.table] = c.statement.run(idList).changes;
        return counts;
      }),
      deletes: [
        ...spec.children.map((c) => ({
          table: c.table,
          statement: live.prepare(`DELETE FROM main.${q(c.table)} WHERE ${childrenOf(c, 'main')}`),
        })),
        { table: spec.table, statement: live.prepare(`DELETE FROM main.${q(spec.table)} WHERE id IN (${ids})`) },
      ],
      missing: [
        live
          .prepare(
            `SELECT count(*) FROM main.${q(spec.table)} m WHERE m.id IN (${ids})
             AND NOT EXISTS (SELECT 1 FROM arch.${q(spec.table)} a WHERE a.id = m.id AND ${same(spec.columns)})`,
          )
          .pluck(),
        ...spec.children.map((c) =>
          live
            .prepare(
              `SELECT count(*) FROM main.${q(c.table)} m WHERE m.${childrenOf(c, 'main')}
               AND NOT EXISTS (SELECT 1 FROM arch.${q(c.table)} a WHERE a.id = m.id AND ${same(c.columns)})`,
            )
            .pluck(),
        ),
      ],
      // Rows are read back from the archive: what is exported is what was kept.
      exports: options.onRows
        ? [
            {
              table: spec.table,
              statement: archive
                .prepare(`SELECT ${cols(spec.columns)} FROM main.${q(spec.table)} WHERE id IN (${ids})`)
                .raw(),
            },
            ...spec.children.map((c) => ({
              table: c.table,
              statement: archive
                .prepare(`SELECT ${cols(c.columns)} FROM main.${q(c.table)} WHERE ${childrenOf(c, 'main')}`)
                .raw(),
            })),
          ]
        : [],
      close,
    };
  } catch (error) {
    close();
    throw error;
  }
}

/** One batch: parent ids, as a JSON list for `json_each`. */
interface Batch {
  ids: number[];
  idList: string;
}

/** Every batch of one year, each recorded in `report` as soon as it has committed. */
async function archiveYear(
  live: OraDatabase,
  target: YearArchive,
  options: ArchiveOptions,
  report: ArchiveReport,
  run: RunState,
  checkpoints: Checkpoints,
): Promise<void> {
  let lastDate = target.year; // sorts before every date of the year
  let lastId = Number.MIN_SAFE_INTEGER;
  for (;;) {
    // Between batches: the event loop runs (a stop signal is seen), then the safe point.
    await new Promise<void>((r) => setImmediate(r));
    throwIfStopped(options.signal);
    const rows = live.run(() => target.nextBatch.all(lastDate, lastDate, lastId, target.upper, run.batchSize));
    const last = rows.at(-1);
    if (!last) return;
    lastDate = last.d;
    lastId = last.id;
    const ids = rows.map((r) => r.id);
    const batch: Batch = { ids, idList: JSON.stringify(ids) };
    if (options.copyOnly) {
      copyBatch(live, target, batch);
      report.moved[report.table] = (report.moved[report.table] ?? 0) + ids.length;
    } else {
      const moved = moveBatch(live, target, batch);
      for (const held of moved.locksMs) recordLock(report, held, options.maxLockMs);
      for (const [t, n] of Object.entries(moved.deleted)) report.moved[t] = (report.moved[t] ?? 0) + n;
      if (options.onRows) exportBatch(target, batch, options.onRows);
      run.batchSize = nextBatchSize(run.batchSize, ids.length, moved.locksMs.at(-1) ?? 0, options.maxLockMs);
    }
    run.done += ids.length;
    report.batches++;
    if (!options.copyOnly) checkpoints.checkpointIfDue();
    options.onBatch?.(run.done, run.total);
  }
}

/** What the copy of a batch did, and what the live database looked like just before it read. */
interface CopyResult {
  /** Rows inserted per table (ON CONFLICT DO NOTHING skips rows already there). */
  copied: Record<string, number>;
  /** The live database's data_version just before the copy: unchanged under the write lock
   * means no other connection committed since, so the copy read the rows as they are. */
  versionBefore: number;
}

/** Step 1: copies the batch into the archive (reads the live database without locking it). */
function copyBatch(live: OraDatabase, target: YearArchive, batch: Batch): CopyResult {
  const versionBefore = Number(live.pragma('data_version'));
  return { copied: target.archive.run(() => target.copy(batch.idList)), versionBefore };
}

type DeleteResult =
  | { status: 'deleted'; deleted: Record<string, number>; heldMs: number }
  /** A writer changed the batch after the copy: nothing was deleted. */
  | { status: 'changed'; heldMs: number }
  /** The fast path found other counts than it inserted: rolled back, redo with the content check. */
  | { status: 'recheck' };

/**
 * Step 2: under one short write lock on the live database, checks the batch against the archive
 * and deletes it. The row-by-row content check can be skipped only when nothing could differ: no
 * other connection committed since the copy read the batch, and the copy inserted every row of
 * it (none was skipped as already there, possibly different).
 */
function deleteVerified(
  live: OraDatabase,
  target: YearArchive,
  batch: Batch,
  copy: CopyResult,
  checkContent: boolean,
): DeleteResult {
  const started = performance.now();
  try {
    const deleted = live.transaction(() => {
      const unchanged =
        !checkContent &&
        Number(live.pragma('data_version')) === copy.versionBefore &&
        copy.copied[target.table] === batch.ids.length;
      if (!unchanged && target.missing.some((s) => (s.get(batch.idList) ?? 0) > 0)) return null;
      const counts: Record<string, number> = {};
      for (const d of target.deletes) counts[d.table] = d.statement.run(batch.idList).changes;
      // Without the content check, what is deleted must be exactly what was inserted.
      if (unchanged && Object.entries(counts).some(([t, n]) => copy.copied[t] !== n)) throw new RecheckContent();
      return counts;
    });
    const heldMs = performance.now() - started;
    return deleted ? { status: 'deleted', deleted, heldMs } : { status: 'changed', heldMs };
  } catch (error) {
    if (error instanceof RecheckContent) return { status: 'recheck' };
    throw error;
  }
}

/**
 * Copies and deletes one batch, copying again (with the content check) while writers change it:
 * the rows deleted per table, and every live write lock it took (the last one succeeded).
 */
function moveBatch(
  live: OraDatabase,
  target: YearArchive,
  batch: Batch,
): { deleted: Record<string, number>; locksMs: number[] } {
  const locksMs: number[] = [];
  let copy = copyBatch(live, target, batch);
  let checkContent = false;
  for (let attempt = 0; ; ) {
    const result = deleteVerified(live, target, batch, copy, checkContent);
    checkContent = true;
    if (result.status === 'recheck') continue;
    locksMs.push(result.heldMs);
    if (result.status === 'deleted') return { deleted: result.deleted, locksMs };
    if (++attempt > 5) {
      throw new IoError(`rows of ${target.table} keep changing during archiving; retry later`, 'IO_ERROR');
    }
    copy = copyBatch(live, target, batch);
  }
}

/** Counts one live write lock in the report (the longest, and those over `maxLockMs`). */
function recordLock(report: ArchiveReport, held: number, maxLockMs: number): void {
  const heldMs = Math.round(held * 100) / 100;
  report.longestLockMs = Math.max(report.longestLockMs, heldMs);
  if (held > maxLockMs) {
    report.lockOverruns.count++;
    report.lockOverruns.longestMs = Math.max(report.lockOverruns.longestMs, heldMs);
  }
}

/** Hands the batch's rows, read back from the archive, to `onRows` (after the delete committed). */
function exportBatch(target: YearArchive, batch: Batch, onRows: NonNullable<ArchiveOptions['onRows']>): void {
  for (const e of target.exports) {
    onRows(
      target.year,
      e.table,
      target.archive.run(() => e.statement.all(batch.idList)),
    );
  }
}

/**
 * The next batch's size from this one's measured lock time per row: aim at a third of the bound
 * (room for a busy machine's jitter), grow at most twice per batch, and after an overrun shrink
 * at once to the measured size and to at most a quarter of this batch.
 */
export function nextBatchSize(size: number, rows: number, heldMs: number, maxLockMs: number): number {
  const perRow = Math.max(heldMs, 0.01) / Math.max(1, rows);
  const fit = Math.floor(maxLockMs / 3 / perRow);
  const next = heldMs > maxLockMs ? Math.min(fit, Math.floor(size / 4)) : Math.min(fit, size * 2);
  return Math.max(1, Math.min(10_000, next));
}

/** Thrown inside the delete transaction to roll it back and redo it with the content check. */
class RecheckContent extends Error {}
