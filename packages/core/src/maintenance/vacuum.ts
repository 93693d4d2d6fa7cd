import { readdirSync, readlinkSync, statfsSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, resolve } from 'node:path';
import { DEFAULT_BUSY_TIMEOUT_MS, type OraDatabase } from '../connection/connection.js';
import { translateSqliteError } from '../connection/sqlite-errors.js';
import { IoError, throwIfStopped } from '../errors/errors.js';
import { formatMib } from '../format.js';
import { runSqliteChild } from '../integrity/sqlite-child.js';
import type { ProgressSink } from '../progress.js';
import { collectStats, type DatabaseStats } from '../stats/database-stats.js';

/** Free bytes available to this process on the filesystem holding `path`. */
export function freeBytesAt(path: string): number {
  const s = statfsSync(path);
  return Number(s.bavail) * Number(s.bsize);
}

function deviceOf(path: string): number | null {
  try {
    return Number(statSync(path).dev);
  } catch {
    return null;
  }
}

/** Where SQLite puts temporary files (its unix VFS order: SQLITE_TMPDIR, TMPDIR, /var/tmp, /usr/tmp, /tmp). */
export function sqliteTempDir(env: Record<string, string | undefined> = process.env): string {
  return env.SQLITE_TMPDIR || env.TMPDIR || tmpdir();
}

export interface SpaceCheck {
  /** Bytes VACUUM needs on the database's filesystem (the WAL receives the rebuilt database). */
  neededBytes: number;
  freeBytes: number;
  /** Bytes needed and free in the temp directory, when it is on another filesystem. */
  tempDir: string;
  tempNeededBytes: number;
  tempFreeBytes: number;
}

/**
 * Checks there is room for VACUUM before it starts. With `temp_store=FILE` VACUUM writes the
 * rebuilt database to a temp file and then copies it back through the WAL, so it needs up to the
 * in-use size twice over (once when the temp dir shares the database's filesystem, once on each
 * otherwise), plus 10 % headroom. Refuses with DISK_FULL (exit 3) before touching anything.
 *
 * `freeBytes` can be injected (tests); by default it asks the filesystem.
 */
export function checkVacuumSpace(
  db: OraDatabase,
  stats: DatabaseStats,
  options: { freeBytes?: (path: string) => number; tempDir?: string } = {},
): SpaceCheck {
  const free = options.freeBytes ?? freeBytesAt;
  const dbDir = dirname(resolve(db.path));
  const tempDir = options.tempDir ?? sqliteTempDir();
  const inUse = (stats.pageCount - stats.freelistCount) * stats.pageSize;
  const copy = Math.ceil(inUse * 1.1);
  const shared = deviceOf(dbDir) !== null && deviceOf(dbDir) === deviceOf(tempDir);
  const check: SpaceCheck = {
    neededBytes: shared ? copy * 2 : copy,
    freeBytes: free(dbDir),
    tempDir,
    tempNeededBytes: shared ? 0 : copy,
    tempFreeBytes: shared ? 0 : free(tempDir),
  };
  const mib = (n: number) => formatMib(n, 1);
  if (check.freeBytes < check.neededBytes) {
    throw new IoError(
      `not enough disk space to VACUUM ${db.path}: it needs about ${mib(check.neededBytes)} free on ${dbDir}${shared ? ` (which also holds the temp dir ${tempDir})` : ''}, only ${mib(check.freeBytes)} is free; free space first, or set SQLITE_TMPDIR to a larger filesystem`,
      'DISK_FULL',
    );
  }
  if (!shared && check.tempFreeBytes < check.tempNeededBytes) {
    throw new IoError(
      `not enough space in the temp dir ${tempDir} to VACUUM ${db.path}: it needs about ${mib(check.tempNeededBytes)}, only ${mib(check.tempFreeBytes)} is free; set SQLITE_TMPDIR to a larger filesystem`,
      'DISK_FULL',
    );
  }
  return check;
}

export interface VacuumReport {
  mode: 'full' | 'incremental';
  sizeBytesBefore: number;
  sizeBytesAfter: number;
  pagesBefore: number;
  pagesAfter: number;
  pagesFreed: number;
  /** Longest time writers were held off: the whole VACUUM, or the longest incremental step. */
  writeLockMs: number;
  steps: number;
  durationMs: number;
}

function vacuumReport(
  mode: VacuumReport['mode'],
  before: DatabaseStats,
  after: DatabaseStats,
  writeLockMs: number,
  steps: number,
  durationMs: number,
): VacuumReport {
  return {
    mode,
    sizeBytesBefore: before.pageCount * before.pageSize,
    sizeBytesAfter: after.pageCount * after.pageSize,
    pagesBefore: before.pageCount,
    pagesAfter: after.pageCount,
    pagesFreed: before.pageCount - after.pageCount,
    writeLockMs,
    steps,
    durationMs,
  };
}

const VACUUM_SOURCE = `
process.once('message', (data) => {
  let error = null;
  try {
    const Database = require(data.driver);
    const db = new Database(data.path, { fileMustExist: true, timeout: data.busyTimeoutMs });
    db.pragma('temp_store = FILE');
    db.exec('VACUUM');
    db.close();
  } catch (e) {
    error = { message: String(e && e.message || e), code: e && e.code };
  }
  process.send({ error }, () => process.disconnect());
});
`;

/**
 * Bytes VACUUM has written so far, read from outside it: the temp database it builds (an unlinked
 * `etilqs_*` file that only the VACUUM process's descriptors reach, hence /proc/<pid>/fd) and then
 * the WAL it copies that into. Null where /proc is not there (progress shows elapsed time only).
 */
function vacuumWrittenBytes(pid: number, walPath: string, walAtStart: number): { temp: number; wal: number } | null {
  let temp = 0;
  try {
    for (const fd of readdirSync(`/proc/${pid}/fd`)) {
      try {
        if (/\/etilqs_[^/]*( \(deleted\))?$/.test(readlinkSync(`/proc/${pid}/fd/${fd}`))) {
          temp += statSync(`/proc/${pid}/fd/${fd}`).size;
        }
      } catch {
        // closed meanwhile
      }
    }
  } catch {
    return null;
  }
  let wal = 0;
  try {
    wal = Math.max(0, statSync(walPath).size - walAtStart);
  } catch {
    // no WAL (rollback journal mode): the temp file alone
  }
  return { temp, wal };
}

export interface VacuumOptions {
  progress?: ProgressSink;
  /** Aborted: the run stops at once; VACUUM, one transaction, is abandoned and rolled back. */
  signal?: AbortSignal;
  busyTimeoutMs?: number;
  /** How often progress is sampled (default 250 ms). */
  sampleEveryMs?: number;
}

/**
 * Full `VACUUM`: rebuilds the file without free pages. It holds the write lock for its whole
 * run, so callers gate it (threshold, window, space). The temp copy goes to a file, not memory:
 * `temp_store=MEMORY` (the guide's connection default) would put a whole-database copy in RAM.
 *
 * It runs on its own connection in a child process, so this one stays free to report progress and
 * to stop on a signal: a stop kills the child, and SQLite discards the unfinished VACUUM (one
 * transaction, never committed) exactly as after a crash; the file is as it was. (A worker thread
 * would not do: a process cannot exit while a thread is inside a native call, so the VACUUM
 * would run to its end and commit after the run reported that it stopped.) SQLite says nothing while VACUUM runs; progress is estimated from what
 * it has written (its temp database, then the WAL) against twice the in-use size, and held under
 * 100 % until it returns.
 */
export async function vacuumFull(db: OraDatabase, options: VacuumOptions = {}): Promise<VacuumReport> {
  const before = collectStats(db);
  const expected = Math.max(1, 2 * (before.pageCount - before.freelistCount) * before.pageSize);
  const walPath = `${db.path}-wal`;
  let walAtStart = 0;
  try {
    walAtStart = statSync(walPath).size;
  } catch {
    // no WAL yet
  }
  options.progress?.phase?.('vacuum');
  const started = performance.now();
  // The temp database is closed once copied back: it still counts as written. Never backwards.
  let tempMax = 0;
  let shown = 0;
  let pid = 0;
  const sample = () => {
    const written = pid ? vacuumWrittenBytes(pid, walPath, walAtStart) : null;
    if (written === null) return;
    tempMax = Math.max(tempMax, written.temp);
    shown = Math.max(shown, Math.min(tempMax + written.wal, Math.floor(expected * 0.99)));
    options.progress?.update(shown, expected, 'bytes');
  };
  const timer = options.progress ? setInterval(sample, options.sampleEveryMs ?? 250) : null;
  let outcome: { error: { message: string; code?: string } | null };
  try {
    outcome = await runSqliteChild(
      VACUUM_SOURCE,
      { path: resolve(db.path), busyTimeoutMs: options.busyTimeoutMs ?? DEFAULT_BUSY_TIMEOUT_MS },
      { ...(options.signal ? { signal: options.signal } : {}), onSpawn: (p) => (pid = p) },
    );
  } finally {
    if (timer) clearInterval(timer);
  }
  if (outcome.error) {
    throw translateSqliteError(
      Object.assign(new Error(outcome.error.message), { code: outcome.error.code }),
      db.path,
      options.busyTimeoutMs ?? DEFAULT_BUSY_TIMEOUT_MS,
    );
  }
  options.progress?.update(expected, expected, 'bytes');
  const durationMs = Math.round(performance.now() - started);
  return vacuumReport('full', before, collectStats(db), durationMs, 1, durationMs);
}

/**
 * The gentle path for `auto_vacuum=INCREMENTAL` databases: `incremental_vacuum(stepPages)` in
 * separate short write transactions with a pause between them, so writers slip in between steps
 * and never wait longer than one step.
 */
export async function vacuumIncremental(
  db: OraDatabase,
  stepPages: number,
  pauseMs: number,
  options: Pick<VacuumOptions, 'progress' | 'signal'> = {},
): Promise<VacuumReport> {
  const before = collectStats(db);
  const started = performance.now();
  let longest = 0;
  let steps = 0;
  options.progress?.phase?.('incremental_vacuum');
  for (;;) {
    // Between steps: each step is its own committed transaction, so stopping here is safe.
    throwIfStopped(options.signal);
    const free = Number(db.pragma('freelist_count'));
    options.progress?.update(Math.max(0, before.freelistCount - free), before.freelistCount, 'pages');
    if (free === 0) break;
    const s = performance.now();
    db.run(() => db.pragmaRows(`incremental_vacuum(${stepPages})`));
    longest = Math.max(longest, performance.now() - s);
    steps++;
    if (Number(db.pragma('freelist_count')) >= free) break; // no progress: stop rather than spin
    await new Promise((r) => setTimeout(r, pauseMs));
  }
  return vacuumReport(
    'incremental',
    before,
    collectStats(db),
    Math.round(longest),
    steps,
    Math.round(performance.now() - started),
  );
}
