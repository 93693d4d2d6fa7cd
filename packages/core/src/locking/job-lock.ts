import { hostname } from 'node:os';
import { type OraDatabase, openRaw } from '../connection/connection.js';
import { DatabaseLockedError, LockHeldError } from '../errors/errors.js';
import { appendNoFollow, isAlive } from '../fs/files.js';

/** Who holds (or last held) the job lock of a database. */
export interface LockHolder {
  job: string;
  pid: number;
  host: string;
  since: string;
}

export interface JobLock {
  /** The lock file beside the database. */
  path: string;
  /** The previous holder, when its process died holding the lock and we took it over. */
  tookOverFrom: LockHolder | null;
  release(): void;
}

export interface AcquireOptions {
  job: string;
  /** How long to wait for another run to finish before LOCK_HELD (exit 3). */
  waitMs: number;
}

/** The lock file that serialises heavy jobs on `databasePath`. */
export function lockPathFor(databasePath: string): string {
  return `${databasePath}.ora-job-lock`;
}

/**
 * Takes the per-database job lock (SPEC §3) so two heavy jobs never run at once on one database.
 *
 * The lock is an SQLite file beside the database, held by an open write transaction: the
 * operating system drops that lock the instant its process dies, so a run killed with SIGKILL can
 * never leave a lock behind that blocks the next one. The holder (job, pid, host, since) is
 * committed in the file first, so a waiting run can say who holds it, and a run that gets the
 * lock can see that the previous holder died without releasing it.
 *
 * ### Examples
 * ```ts
 * const lock = acquireJobLock('ora.db', { job: 'weekly-vacuum', waitMs: 10_000 });
 * try { ... } finally { lock.release(); }
 * ```
 */
/**
 * The connections of the locks this process holds. The driver closes a connection that is
 * garbage collected, which would release its lock while the job still runs: a caller that drops
 * the returned object (a script holding the lock until it exits) must not lose the lock.
 */
const held = new Set<OraDatabase>();

export function acquireJobLock(databasePath: string, options: AcquireOptions): JobLock {
  const path = lockPathFor(databasePath);
  appendNoFollow(path, '', 'the job lock file'); // 0600 (SQLite would create it 0644); never through a planted link
  const db: OraDatabase = openRaw(path, { busyTimeoutMs: options.waitMs });
  try {
    db.pragma('journal_mode = DELETE');
    db.exec(`CREATE TABLE IF NOT EXISTS holder (
      id INTEGER PRIMARY KEY CHECK (id = 1), job TEXT, pid INTEGER, host TEXT, since TEXT, released INTEGER)`);
  } catch (error) {
    db.close();
    throw error;
  }
  const readHolder = () =>
    db.prepare('SELECT job, pid, host, since, released FROM holder WHERE id = 1').get() as
      | (LockHolder & { released: number })
      | undefined;
  try {
    db.exec('BEGIN IMMEDIATE');
  } catch (error) {
    const holder = readHolder();
    db.close();
    if (error instanceof DatabaseLockedError) {
      const who = holder
        ? `${holder.job} (pid ${holder.pid} on ${holder.host}, since ${holder.since})`
        : 'another ora-db job';
      throw new LockHeldError(
        `another job holds the lock on ${databasePath}: ${who}; waited ${options.waitMs} ms — retry after it finishes (ORA_LOCK_WAIT_MS sets the wait)`,
        { cause: error },
      );
    }
    throw error;
  }
  const previous = readHolder();
  const tookOverFrom =
    previous && previous.released === 0 && !(previous.host === hostname() && isAlive(previous.pid)) ? previous : null;
  const me: LockHolder = { job: options.job, pid: process.pid, host: hostname(), since: new Date().toISOString() };
  // Record the holder, commit it (so waiters can read it), then take the write lock again and keep it.
  db.prepare(
    'INSERT INTO holder (id, job, pid, host, since, released) VALUES (1, :job, :pid, :host, :since, 0) ' +
      'ON CONFLICT (id) DO UPDATE SET job = :job, pid = :pid, host = :host, since = :since, released = 0',
  ).run(me);
  db.exec('COMMIT');
  try {
    db.exec('BEGIN IMMEDIATE');
  } catch (error) {
    db.close();
    throw new LockHeldError(`another job took the lock on ${databasePath} at the same instant; retry`, {
      cause: error,
    });
  }
  held.add(db);
  return {
    path,
    tookOverFrom: tookOverFrom
      ? { job: tookOverFrom.job, pid: tookOverFrom.pid, host: tookOverFrom.host, since: tookOverFrom.since }
      : null,
    release() {
      if (!db.isOpen) return;
      try {
        db.exec('COMMIT');
        db.prepare('UPDATE holder SET released = 1 WHERE id = 1 AND pid = ?').run(process.pid);
      } finally {
        held.delete(db);
        db.close();
      }
    },
  };
}
