import { statfsSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, resolve } from 'node:path';
import type { OraDatabase } from '../connection/connection.js';
import { IoError } from '../errors/errors.js';
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
  const mib = (n: number) => `${(n / 1048576).toFixed(1)} MiB`;
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

/**
 * Full `VACUUM`: rebuilds the file without free pages. It holds the write lock for its whole
 * run, so callers gate it (threshold, window, space). The temp copy goes to a file, not memory:
 * `temp_store=MEMORY` (the guide's connection default) would put a whole-database copy in RAM.
 */
export function vacuumFull(db: OraDatabase): VacuumReport {
  const before = collectStats(db);
  db.pragma('temp_store = FILE');
  const started = performance.now();
  try {
    db.run(() => db.handle.exec('VACUUM'));
  } finally {
    db.pragma('temp_store = MEMORY');
  }
  const durationMs = Math.round(performance.now() - started);
  return vacuumReport('full', before, collectStats(db), durationMs, 1, durationMs);
}

/**
 * The gentle path for `auto_vacuum=INCREMENTAL` databases: `incremental_vacuum(stepPages)` in
 * separate short write transactions with a pause between them, so writers slip in between steps
 * and never wait longer than one step.
 */
export async function vacuumIncremental(db: OraDatabase, stepPages: number, pauseMs: number): Promise<VacuumReport> {
  const before = collectStats(db);
  const started = performance.now();
  let longest = 0;
  let steps = 0;
  for (;;) {
    const free = Number(db.pragma('freelist_count'));
    if (free === 0) break;
    const s = performance.now();
    db.run(() => db.handle.pragma(`incremental_vacuum(${stepPages})`));
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
