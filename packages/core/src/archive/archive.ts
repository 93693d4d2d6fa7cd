import { closeSync, existsSync, linkSync, openSync, rmSync, statSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { type OraDatabase, openDatabase, type Statement } from '../connection/connection.js';
import { fileSizeOrZero } from '../connection/file-checks.js';
import { IoError, isOraError, throwIfStopped } from '../errors/errors.js';
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
 */
export async function archiveRows(live: OraDatabase, options: ArchiveOptions): Promise<ArchiveReport> {
  const spec: ArchivableTable = ARCHIVABLE[options.table];
  assertArchivable(live, options.table);
  const report: ArchiveReport = {
    table: spec.table,
    cutoff: options.cutoff,
    moved: Object.fromEntries([spec.table, ...spec.children.map((c) => c.table)].map((t) => [t, 0])),
    eligible: Object.fromEntries([spec.table, ...spec.children.map((c) => c.table)].map((t) => [t, 0])),
    batches: 0,
    longestLockMs: 0,
    lockOverruns: { count: 0, longestMs: 0, maxLockMs: options.maxLockMs },
    archives: [],
    copyOnly: options.copyOnly,
    dryRun: options.dryRun,
  };
  const h = live;
  const parentCols = spec.columns.map(q).join(', ');
  const eligibleByYear = h
    .prepare(
      `SELECT substr(${q(spec.dateColumn)}, 1, 4) AS year, count(*) AS n FROM ${q(spec.table)}
        WHERE ${q(spec.dateColumn)} < ? GROUP BY year ORDER BY year`,
    )
    .all(options.cutoff) as { year: string; n: number }[];
  report.eligible[spec.table] = eligibleByYear.reduce((s, y) => s + y.n, 0);
  for (const child of spec.children) {
    report.eligible[child.table] = h
      .prepare(
        `SELECT count(*) FROM ${q(child.table)} c JOIN ${q(spec.table)} p ON p.${q(child.parentKey)} = c.${q(child.childKey)}
          WHERE p.${q(spec.dateColumn)} < ?`,
      )
      .pluck()
      .get(options.cutoff) as number;
  }
  if (options.dryRun) return report;

  const total = report.eligible[spec.table] ?? 0;
  let done = 0;
  let batchSize = options.batchSize;
  // This connection's automatic checkpoint would run inside COMMIT, after the write lock is
  // released but inside the time measured as held: it is run between batches instead (PASSIVE:
  // it never waits for or blocks anyone), so each measured lock is the write transaction alone.
  const autoCheckpoint = Number(h.pragma('wal_autocheckpoint'));
  h.pragma('wal_autocheckpoint = 0');
  const checkpointBytes = Math.max(1, autoCheckpoint) * Number(h.pragma('page_size'));
  try {
    for (const { year } of eligibleByYear) {
      const archivePath = archivePathFor(live.path, year, options.archiveDir);
      const archive = openArchive(archivePath, options.busyTimeoutMs);
      report.archives.push(archivePath);
      try {
        // Attached for reading only (better-sqlite3's SQLite has no URI filenames for mode=ro).
        archive.prepare('ATTACH ? AS live').run(resolve(live.path));
        h.prepare('ATTACH ? AS arch').run(archivePath);
        try {
          // Statements prepared once per archive (not once per batch).
          const liveStatements = new Map<string, Statement>();
          const archiveStatements = new Map<string, Statement>();
          const prepareLive = (sql: string) => memo(liveStatements, sql, () => h.prepare(sql));
          const prepareArchive = (sql: string) => memo(archiveStatements, sql, () => archive.prepare(sql));
          const yearEnd = `${Number(year) + 1}-01-01`;
          const upper = yearEnd < options.cutoff ? yearEnd : options.cutoff;
          // Keyset pagination by (date, id): copy-only runs keep the rows, so batches must move on.
          const nextBatch = h.prepare(
            `SELECT id, ${q(spec.dateColumn)} AS d FROM main.${q(spec.table)}
            WHERE (${q(spec.dateColumn)} > ? OR (${q(spec.dateColumn)} = ? AND id > ?)) AND ${q(spec.dateColumn)} < ?
            ORDER BY ${q(spec.dateColumn)}, id LIMIT ?`,
          );
          let lastDate = year; // sorts before every date of the year
          let lastId = Number.MIN_SAFE_INTEGER;
          for (;;) {
            // Between batches: the event loop runs (a stop signal is seen), then the safe point.
            await new Promise<void>((r) => setImmediate(r));
            throwIfStopped(options.signal);
            const rows = nextBatch.all(lastDate, lastDate, lastId, upper, batchSize) as { id: number; d: string }[];
            if (rows.length === 0) break;
            const ids = rows.map((r) => r.id);
            lastDate = rows[rows.length - 1]?.d as string;
            lastId = rows[rows.length - 1]?.id as number;
            const idList = JSON.stringify(ids);
            // 1. Copy into the archive (reads the live database without locking it).
            // A deferred transaction: it takes the archive's write lock at its first insert, and only
            // a read lock on the live database it reads from.
            // Rows inserted by the last copy, per table (ON CONFLICT DO NOTHING skips rows already there).
            let copied: Record<string, number> = {};
            // The live database's data_version just before the last copy: unchanged under the write
            // lock means no other connection committed since, so the copy read the rows as they are.
            let versionBeforeCopy = -1;
            const copy = () => {
              versionBeforeCopy = Number(h.pragma('data_version'));
              copied = archive.run(() =>
                archive.transactionFunction(() => {
                  const counts: Record<string, number> = {};
                  counts[spec.table] = prepareArchive(
                    `INSERT INTO main.${q(spec.table)} (${parentCols})
                   SELECT ${parentCols} FROM live.${q(spec.table)} WHERE id IN (SELECT value FROM json_each(?))
                   ON CONFLICT DO NOTHING`,
                  ).run(idList).changes;
                  for (const c of spec.children) {
                    const cols = c.columns.map(q).join(', ');
                    counts[c.table] = prepareArchive(
                      `INSERT INTO main.${q(c.table)} (${cols})
                     SELECT ${cols} FROM live.${q(c.table)} WHERE ${q(c.childKey)} IN
                       (SELECT ${q(c.parentKey)} FROM live.${q(spec.table)} WHERE id IN (SELECT value FROM json_each(?)))
                     ON CONFLICT DO NOTHING`,
                    ).run(idList).changes;
                  }
                  return counts;
                })(),
              );
            };
            copy();
            if (options.copyOnly) {
              done += ids.length;
              report.batches++;
              report.moved[spec.table] = (report.moved[spec.table] ?? 0) + ids.length;
              options.onBatch?.(done, total);
              continue;
            }
            // 2. Verify against the archive and delete, under one short write lock.
            let attempt = 0;
            let checkContent = false;
            for (;;) {
              const started = performance.now();
              let outcome: { missing: number; counts: Record<string, number> | null };
              try {
                outcome = live.transaction(() => {
                  // The row-by-row content check can be skipped only when nothing could differ: no
                  // other connection committed since the copy read the batch, and the copy inserted
                  // every row of it (none was skipped as already there, possibly different).
                  const unchanged =
                    !checkContent &&
                    Number(h.pragma('data_version')) === versionBeforeCopy &&
                    copied[spec.table] === ids.length;
                  if (!unchanged) {
                    const missing = missingFromArchive(h, spec, idList);
                    if (missing > 0) return { missing, counts: null };
                  }
                  const counts: Record<string, number> = {};
                  for (const c of spec.children) {
                    counts[c.table] = prepareLive(
                      `DELETE FROM main.${q(c.table)} WHERE ${q(c.childKey)} IN
                       (SELECT ${q(c.parentKey)} FROM main.${q(spec.table)} WHERE id IN (SELECT value FROM json_each(?)))`,
                    ).run(idList).changes;
                  }
                  counts[spec.table] = prepareLive(
                    `DELETE FROM main.${q(spec.table)} WHERE id IN (SELECT value FROM json_each(?))`,
                  ).run(idList).changes;
                  // Without the content check, what is deleted must be exactly what was inserted.
                  if (unchanged && Object.entries(counts).some(([t, n]) => copied[t] !== n)) throw new RecheckContent();
                  return { missing: 0, counts };
                });
              } catch (error) {
                if (!(error instanceof RecheckContent)) throw error;
                // Rolled back: nothing was deleted. Do it again with the row-by-row check.
                checkContent = true;
                continue;
              }
              const held = performance.now() - started;
              const heldMs = Math.round(held * 100) / 100;
              report.longestLockMs = Math.max(report.longestLockMs, heldMs);
              if (held > options.maxLockMs) {
                report.lockOverruns.count++;
                report.lockOverruns.longestMs = Math.max(report.lockOverruns.longestMs, heldMs);
              }
              if (outcome.counts) {
                for (const [t, n] of Object.entries(outcome.counts)) report.moved[t] = (report.moved[t] ?? 0) + n;
                if (options.onRows) {
                  // Rows are read back from the archive: what is exported is what was kept.
                  options.onRows(
                    year,
                    spec.table,
                    archive
                      .prepare(
                        `SELECT ${parentCols} FROM main.${q(spec.table)} WHERE id IN (SELECT value FROM json_each(?))`,
                      )
                      .raw()
                      .all(idList) as unknown[][],
                  );
                  for (const c of spec.children) {
                    options.onRows(
                      year,
                      c.table,
                      archive
                        .prepare(
                          `SELECT ${c.columns.map(q).join(', ')} FROM main.${q(c.table)} WHERE ${q(c.childKey)} IN
                           (SELECT ${q(c.parentKey)} FROM main.${q(spec.table)} WHERE id IN (SELECT value FROM json_each(?)))`,
                        )
                        .raw()
                        .all(idList) as unknown[][],
                    );
                  }
                }
                batchSize = nextBatchSize(batchSize, ids.length, held, options.maxLockMs);
                break;
              }
              // A writer changed the batch after the copy: copy again, then retry the check.
              checkContent = true;
              if (++attempt > 5)
                throw new IoError(`rows of ${spec.table} keep changing during archiving; retry later`, 'IO_ERROR');
              copy();
            }
            done += ids.length;
            report.batches++;
            // What the automatic checkpoint would do (at 1000 pages of WAL), outside the lock.
            if (fileSizeOrZero(`${live.path}-wal`) > checkpointBytes) h.pragma('wal_checkpoint(PASSIVE)');
            options.onBatch?.(done, total);
          }
        } finally {
          h.exec('DETACH arch');
          archive.exec('DETACH live');
        }
      } finally {
        archive.close();
      }
    }
  } finally {
    h.pragma(`wal_autocheckpoint = ${autoCheckpoint}`);
  }
  return report;
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

function memo<T>(cache: Map<string, T>, key: string, make: () => T): T {
  let value = cache.get(key);
  if (value === undefined) {
    value = make();
    cache.set(key, value);
  }
  return value;
}

/** Rows of the batch (parents and children, as they are now) without an identical copy in the archive. */
function missingFromArchive(h: OraDatabase, spec: ArchivableTable, idList: string): number {
  const same = (cols: readonly string[]) => cols.map((c) => `a.${q(c)} IS m.${q(c)}`).join(' AND ');
  let missing = h
    .prepare(
      `SELECT count(*) FROM main.${q(spec.table)} m WHERE m.id IN (SELECT value FROM json_each(?))
         AND NOT EXISTS (SELECT 1 FROM arch.${q(spec.table)} a WHERE a.id = m.id AND ${same(spec.columns)})`,
    )
    .pluck()
    .get(idList) as number;
  for (const c of spec.children) {
    missing += h
      .prepare(
        `SELECT count(*) FROM main.${q(c.table)} m WHERE m.${q(c.childKey)} IN
           (SELECT ${q(c.parentKey)} FROM main.${q(spec.table)} WHERE id IN (SELECT value FROM json_each(?)))
         AND NOT EXISTS (SELECT 1 FROM arch.${q(c.table)} a WHERE a.id = m.id AND ${same(c.columns)})`,
      )
      .pluck()
      .get(idList) as number;
  }
  return missing;
}
