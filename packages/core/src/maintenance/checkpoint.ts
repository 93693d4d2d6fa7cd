import type { OraDatabase } from '../connection/connection.js';
import { fileSizeOrZero } from '../connection/file-checks.js';

export type CheckpointMode = 'PASSIVE' | 'FULL' | 'RESTART' | 'TRUNCATE';

/** One `PRAGMA wal_checkpoint` result, as SQLite reports it. */
export interface CheckpointResult {
  mode: CheckpointMode;
  /** True when SQLite could not finish: a reader or writer was in the way. */
  busy: boolean;
  /** Frames in the WAL (-1 when the database is not in WAL mode). */
  logFrames: number;
  /** Frames copied into the database file. */
  checkpointedFrames: number;
  durationMs: number;
}

/** Runs one checkpoint in `mode` with the connection's current busy timeout. */
export function checkpoint(db: OraDatabase, mode: CheckpointMode): CheckpointResult {
  const started = performance.now();
  const row = db.run(
    () => db.pragmaRows(`wal_checkpoint(${mode})`) as { busy: number; log: number; checkpointed: number }[],
  )[0] ?? { busy: 0, log: -1, checkpointed: -1 };
  return {
    mode,
    busy: row.busy !== 0,
    logFrames: row.log,
    checkpointedFrames: row.checkpointed,
    durationMs: Math.round(performance.now() - started),
  };
}

/** Runs `fn` with the connection's busy timeout set to `ms`, then restores it. */
export function withBusyTimeout<T>(db: OraDatabase, ms: number, fn: () => T): T {
  db.pragma(`busy_timeout = ${Math.max(0, Math.round(ms))}`);
  try {
    return fn();
  } finally {
    db.pragma(`busy_timeout = ${db.busyTimeoutMs}`);
  }
}

export interface WalCheckpointReport {
  walBytesBefore: number;
  walBytesAfter: number;
  passive: CheckpointResult;
  truncate: CheckpointResult;
  /** WAL frames a reader kept from being checkpointed (0 when the WAL was fully checkpointed). */
  framesLeft: number;
  /** True when TRUNCATE gave up within its bound because readers pinned the WAL. */
  pinned: boolean;
}

/**
 * The guide's daily `wal_checkpoint(TRUNCATE)`, done so it cannot stall production: first a
 * PASSIVE checkpoint, which copies what it can and never waits; then TRUNCATE, which must hold
 * writers off while it waits for readers, with its wait bounded to `truncateWaitMs` (not the
 * 8 s busy timeout). When readers keep the WAL pinned past that bound, it gives up and says so.
 */
export function checkpointWal(db: OraDatabase, truncateWaitMs: number): WalCheckpointReport {
  const walPath = `${db.path}-wal`;
  const walBytesBefore = fileSizeOrZero(walPath);
  const passive = withBusyTimeout(db, 0, () => checkpoint(db, 'PASSIVE'));
  const truncate = withBusyTimeout(db, truncateWaitMs, () => checkpoint(db, 'TRUNCATE'));
  const framesLeft = truncate.busy
    ? Math.max(
        0,
        Math.max(passive.logFrames, truncate.logFrames) -
          Math.max(passive.checkpointedFrames, truncate.checkpointedFrames, 0),
      )
    : 0;
  return {
    walBytesBefore,
    walBytesAfter: fileSizeOrZero(walPath),
    passive,
    truncate,
    framesLeft,
    pinned: truncate.busy,
  };
}
