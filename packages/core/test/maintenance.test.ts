import { type ChildProcess, spawn } from 'node:child_process';
import { createRequire } from 'node:module';
import { contentHash, holdLock, snapshotDir, tempDir } from '@ora/testkit';
import Database from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { openDatabase } from '../src/connection/connection.js';
import { DatabaseLockedError, IoError, StoppedError } from '../src/errors/errors.js';
import { analyzeDatabase } from '../src/maintenance/analyze.js';
import { checkpoint, checkpointWal } from '../src/maintenance/checkpoint.js';
import { checkVacuumSpace, vacuumFull, vacuumIncremental } from '../src/maintenance/vacuum.js';
import { collectStats } from '../src/stats/database-stats.js';
import { createOraDatabase } from '../src/testing/index.js';
import { errorOf, raw } from './helpers.js';

// Core's maintenance operations on real files, called directly (the jobs reach them through
// their bundles). Assertions read the files through a connection of the test's own.

const require = createRequire(import.meta.url);

let t: ReturnType<typeof tempDir>;
let path: string;
beforeEach(() => {
  t = tempDir();
  path = t.path('ora.db');
});
afterEach(() => t.cleanup());

/** Deletes most shipped rows, leaving free pages behind (the state VACUUM is for). */
function fragment(file: string): void {
  raw(file, (db) => {
    db.exec(`DELETE FROM shipped_items WHERE order_number IN (SELECT order_number FROM shipped_orders WHERE id % 10 != 0);
      DELETE FROM shipped_orders WHERE id % 10 != 0`);
    db.pragma('wal_checkpoint(TRUNCATE)');
  });
}

/** A child process with a read transaction open on `file` (a reader that pins the WAL). */
async function holdReader(file: string): Promise<ChildProcess> {
  const script = `
    const Database = require(${JSON.stringify(require.resolve('better-sqlite3'))});
    const db = new Database(${JSON.stringify(file)}, { fileMustExist: true, readonly: true });
    db.exec('BEGIN'); db.prepare('SELECT count(*) FROM shipped_orders').get();
    process.stdout.write('reading\\n');
    setInterval(() => {}, 1000);
  `;
  const child = spawn(process.execPath, ['-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
  await new Promise<void>((resolve, reject) => {
    child.once('exit', (code) => reject(new Error(`reader exited early with ${code}`)));
    child.stdout?.on('data', (d: Buffer) => d.toString().includes('reading') && resolve());
  });
  child.removeAllListeners('exit');
  return child;
}

async function kill(child: ChildProcess): Promise<void> {
  await new Promise<void>((resolve) => {
    child.once('exit', () => resolve());
    child.kill('SIGKILL');
  });
}

describe('checkpoint', () => {
  it('copies the WAL into the file and truncates it when nobody reads', () => {
    createOraDatabase(path, 300);
    const db = openDatabase(path);
    try {
      db.exec("UPDATE shipped_orders SET customer = customer || '!'");
      expect(collectStats(db).walBytes).toBeGreaterThan(0);
      const report = checkpointWal(db, 500);
      expect(report.walBytesBefore).toBeGreaterThan(0);
      expect(report.walBytesAfter).toBe(0);
      expect(report.pinned).toBe(false);
      expect(report.framesLeft).toBe(0);
      expect(report.passive.mode).toBe('PASSIVE');
      expect(report.truncate).toMatchObject({ mode: 'TRUNCATE', busy: false });
      expect(Number(db.pragma('busy_timeout'))).toBe(db.busyTimeoutMs);
    } finally {
      db.close();
    }
    // Everything is in the main file: a copy of it alone holds the update.
    expect(
      raw(path, (r) => r.prepare("SELECT count(*) FROM shipped_orders WHERE customer NOT LIKE '%!'").pluck().get()),
    ).toBe(0);
  });

  it('gives up within its bound when a reader pins the WAL, says so, and restores the busy timeout', async () => {
    createOraDatabase(path, 300);
    const reader = await holdReader(path);
    const db = openDatabase(path, { busyTimeoutMs: 8000 });
    try {
      db.exec("UPDATE shipped_orders SET customer = customer || '!'");
      const report = checkpointWal(db, 300);
      expect(report.pinned).toBe(true);
      expect(report.truncate.busy).toBe(true);
      expect(report.framesLeft).toBeGreaterThan(0);
      expect(report.walBytesAfter).toBeGreaterThan(0);
      // Bounded by the 300 ms given, not by the connection's 8 s busy timeout.
      expect(report.truncate.durationMs).toBeLessThan(6000);
      expect(Number(db.pragma('busy_timeout'))).toBe(8000);
    } finally {
      db.close();
      await kill(reader);
    }
  });

  it('reports a database in rollback-journal mode as having no WAL', () => {
    createOraDatabase(path, 20);
    raw(path, (r) => r.pragma('journal_mode = DELETE'));
    const db = openDatabase(path);
    try {
      const result = checkpoint(db, 'PASSIVE');
      expect(result.logFrames).toBe(-1);
      expect(result.busy).toBe(false);
    } finally {
      db.close();
    }
  });
});

describe('analyzeDatabase', () => {
  it('writes statistics for the indexes within the sample limit', () => {
    createOraDatabase(path, 300);
    const db = openDatabase(path);
    try {
      const report = analyzeDatabase(db, 400);
      expect(report.analysisLimit).toBe(400);
      expect(report.analyzeMs).toBeGreaterThanOrEqual(0);
    } finally {
      db.close();
    }
    const stats = raw(path, (r) => r.prepare('SELECT tbl, idx, stat FROM sqlite_stat1').all()) as { tbl: string }[];
    expect(stats.map((s) => s.tbl)).toContain('shipped_orders');
  });

  it('fails with DATABASE_LOCKED, writing nothing, when another process holds the write lock', async () => {
    createOraDatabase(path, 100);
    const before = contentHash(path);
    const lock = await holdLock(path, 'write');
    const db = openDatabase(path, { busyTimeoutMs: 200 });
    try {
      const error = errorOf(() => analyzeDatabase(db, 400));
      expect(error).toBeInstanceOf(DatabaseLockedError);
      expect(error.message).toContain(path);
    } finally {
      db.close();
      await lock.release();
    }
    expect(
      raw(path, (r) => r.prepare("SELECT count(*) FROM sqlite_schema WHERE name = 'sqlite_stat1'").pluck().get()),
    ).toBe(0);
    expect(contentHash(path)).toBe(before);
  });
});

describe('vacuumFull', () => {
  it('rebuilds the file without its free pages and keeps every row', async () => {
    createOraDatabase(path, 800);
    fragment(path);
    const before = contentHash(path);
    const db = openDatabase(path);
    try {
      const stats = collectStats(db);
      expect(stats.freelistCount).toBeGreaterThan(0);
      const updates: number[] = [];
      const report = await vacuumFull(db, { progress: { update: (done) => updates.push(done) }, sampleEveryMs: 5 });
      expect(report.mode).toBe('full');
      expect(report.pagesBefore).toBe(stats.pageCount);
      expect(report.pagesFreed).toBeGreaterThan(0);
      expect(report.pagesAfter).toBe(report.pagesBefore - report.pagesFreed);
      expect(Number(db.pragma('freelist_count'))).toBe(0);
      expect(report.steps).toBe(1);
      // Progress never goes backwards and ends at 100 %.
      expect(updates).toEqual([...updates].sort((a, b) => a - b));
      expect(updates.length).toBeGreaterThan(0);
    } finally {
      db.close();
    }
    expect(contentHash(path)).toBe(before);
    expect(raw(path, (r) => r.pragma('integrity_check', { simple: true }))).toBe('ok');
  });

  it('fails with DATABASE_LOCKED and leaves the file as it was when another process holds the write lock', async () => {
    createOraDatabase(path, 300);
    fragment(path);
    const files = snapshotDir(t.dir);
    const lock = await holdLock(path, 'write');
    const db = openDatabase(path);
    try {
      await expect(vacuumFull(db, { busyTimeoutMs: 200 })).rejects.toBeInstanceOf(DatabaseLockedError);
    } finally {
      db.close();
      await lock.release();
    }
    // The main file is byte for byte the same; only SQLite's -shm index may have been touched.
    const after = snapshotDir(t.dir);
    expect(after['ora.db']).toBe(files['ora.db']);
    expect(raw(path, (r) => r.pragma('freelist_count', { simple: true }))).toBeGreaterThan(0);
  });

  it('stops at once on a signal, and the VACUUM it abandoned never commits', async () => {
    createOraDatabase(path, 300);
    fragment(path);
    const freeBefore = raw(path, (r) => r.pragma('freelist_count', { simple: true }));
    const lock = await holdLock(path, 'write');
    const db = openDatabase(path);
    const stop = new AbortController();
    try {
      // The child waits on the lock (10 s busy timeout); the stop must not wait for it.
      const run = vacuumFull(db, { busyTimeoutMs: 10_000, signal: stop.signal });
      setTimeout(() => stop.abort(), 300);
      const started = performance.now();
      await expect(run).rejects.toBeInstanceOf(StoppedError);
      expect(performance.now() - started).toBeLessThan(8000);
    } finally {
      db.close();
      await lock.release();
    }
    await new Promise((r) => setTimeout(r, 200));
    expect(raw(path, (r) => r.pragma('freelist_count', { simple: true }))).toBe(freeBefore);
  });
});

describe('vacuumIncremental', () => {
  function incrementalDatabase(): void {
    // auto_vacuum must be chosen before the first table exists.
    const db = new Database(path);
    db.pragma('auto_vacuum = INCREMENTAL');
    db.exec('CREATE TABLE _init (x); DROP TABLE _init');
    db.pragma('journal_mode = WAL');
    db.close();
    createOraDatabase(path, 800);
    fragment(path);
  }

  it('frees every free page in short steps', async () => {
    incrementalDatabase();
    const before = contentHash(path);
    const db = openDatabase(path);
    try {
      const free = Number(db.pragma('freelist_count'));
      expect(free).toBeGreaterThan(20);
      const report = await vacuumIncremental(db, 10, 1);
      expect(report.mode).toBe('incremental');
      expect(report.steps).toBeGreaterThanOrEqual(Math.ceil(free / 10));
      expect(report.pagesFreed).toBe(free);
      expect(Number(db.pragma('freelist_count'))).toBe(0);
    } finally {
      db.close();
    }
    expect(contentHash(path)).toBe(before);
  });

  it('stops between steps on a signal, keeping the steps it committed', async () => {
    incrementalDatabase();
    const db = openDatabase(path);
    const stop = new AbortController();
    try {
      const free = Number(db.pragma('freelist_count'));
      let updates = 0;
      const progress = {
        update: () => {
          if (++updates === 3) stop.abort();
        },
      };
      await expect(vacuumIncremental(db, 5, 1, { progress, signal: stop.signal })).rejects.toBeInstanceOf(StoppedError);
      const left = Number(db.pragma('freelist_count'));
      expect(left).toBeLessThan(free);
      expect(left).toBeGreaterThan(0);
    } finally {
      db.close();
    }
    expect(raw(path, (r) => r.pragma('integrity_check', { simple: true }))).toBe('ok');
  });
});

describe('checkVacuumSpace', () => {
  it('refuses with DISK_FULL, before anything runs, when the filesystem lacks room for two copies', () => {
    createOraDatabase(path, 300);
    const db = openDatabase(path);
    try {
      const stats = collectStats(db);
      const inUse = (stats.pageCount - stats.freelistCount) * stats.pageSize;
      // The temp dir shares the database's filesystem: it needs the in-use size twice, plus 10 %.
      const ok = checkVacuumSpace(db, stats, { tempDir: t.dir, freeBytes: () => 3 * inUse });
      expect(ok.neededBytes).toBe(2 * Math.ceil(inUse * 1.1));
      expect(ok.tempNeededBytes).toBe(0);
      const error = errorOf(() => checkVacuumSpace(db, stats, { tempDir: t.dir, freeBytes: () => inUse }));
      expect(error).toBeInstanceOf(IoError);
      expect(error.code).toBe('DISK_FULL');
      expect(error.message).toContain(`not enough disk space to VACUUM ${path}`);
    } finally {
      db.close();
    }
  });
});
