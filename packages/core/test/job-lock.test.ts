import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { fileURLToPath } from 'node:url';
import { tempDir } from '@ora/testkit';
import Database from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { IoError, LockHeldError } from '../src/errors/errors.js';
import { acquireJobLock, lockPathFor } from '../src/locking/job-lock.js';
import { errorOf } from './helpers.js';

// The job lock, taken by core's acquireJobLock in this process and in real child processes
// (run from source through tsx), held, released and left behind by a SIGKILL.

const jobLockModule = fileURLToPath(new URL('../src/locking/job-lock.ts', import.meta.url));

let t: ReturnType<typeof tempDir>;
let db: string;
beforeEach(() => {
  t = tempDir();
  db = t.path('ora.db');
  writeFileSync(db, ''); // the lock never opens the database itself
});
afterEach(() => t.cleanup());

/** A child process that takes the job lock as `job` and holds it until killed (or `releaseAfterMs`). */
async function holdJobLock(
  job: string,
  releaseAfterMs?: number,
): Promise<{ child: ChildProcess; exited: Promise<number | null> }> {
  const script = `
    import { acquireJobLock } from ${JSON.stringify(jobLockModule)};
    const lock = acquireJobLock(${JSON.stringify(db)}, { job: ${JSON.stringify(job)}, waitMs: 1000 });
    process.stdout.write('held\\n');
    ${releaseAfterMs === undefined ? 'setInterval(() => {}, 1000);' : `setTimeout(() => lock.release(), ${releaseAfterMs});`}
  `;
  const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  await new Promise<void>((resolve, reject) => {
    exited.then((code) => reject(new Error(`lock holder exited early with ${code}`)));
    child.stdout?.on('data', (d: Buffer) => d.toString().includes('held') && resolve());
  });
  return { child, exited };
}

describe('acquireJobLock', () => {
  it('takes the lock in a private file beside the database and gives it back on release', () => {
    const lock = acquireJobLock(db, { job: 'weekly-vacuum', waitMs: 100 });
    expect(lock.path).toBe(lockPathFor(db));
    expect(lock.path).toBe(`${db}.ora-job-lock`);
    expect(statSync(lock.path).mode & 0o777).toBe(0o600);
    expect(lock.tookOverFrom).toBeNull();
    lock.release();
    lock.release(); // twice is harmless
    const again = acquireJobLock(db, { job: 'backup', waitMs: 100 });
    expect(again.tookOverFrom).toBeNull(); // the previous holder released it
    again.release();
    const holder = new Database(lockPathFor(db), { readonly: true });
    try {
      expect(holder.prepare('SELECT job, pid, host, released FROM holder').get()).toEqual({
        job: 'backup',
        pid: process.pid,
        host: hostname(),
        released: 1,
      });
    } finally {
      holder.close();
    }
  });

  it('refuses a second run with LOCK_HELD after the wait, naming the holder', () => {
    const first = acquireJobLock(db, { job: 'weekly-vacuum', waitMs: 100 });
    try {
      const started = performance.now();
      const error = errorOf(() => acquireJobLock(db, { job: 'backup', waitMs: 300 }));
      expect(performance.now() - started).toBeGreaterThanOrEqual(250);
      expect(error).toBeInstanceOf(LockHeldError);
      expect(error.code).toBe('LOCK_HELD');
      expect(error.exitStatus).toBe(3);
      expect(error.message).toMatch(
        new RegExp(
          `^another job holds the lock on ${db}: weekly-vacuum \\(pid ${process.pid} on .+, since \\d{4}-.+\\); waited 300 ms`,
        ),
      );
    } finally {
      first.release();
    }
  });

  it('refuses while another process holds it, and takes it over (saying from whom) once that process is killed', async () => {
    const holder = await holdJobLock('archive');
    try {
      const error = errorOf(() => acquireJobLock(db, { job: 'backup', waitMs: 200 }));
      expect(error).toBeInstanceOf(LockHeldError);
      expect(error.message).toContain(`archive (pid ${holder.child.pid} on ${hostname()}`);
    } finally {
      holder.child.kill('SIGKILL');
      await holder.exited;
    }
    // The operating system dropped the dead process's lock: no stale lock blocks the next run.
    const lock = acquireJobLock(db, { job: 'backup', waitMs: 200 });
    try {
      expect(lock.tookOverFrom).toMatchObject({ job: 'archive', pid: holder.child.pid, host: hostname() });
    } finally {
      lock.release();
    }
  });

  it('waits for a holder that finishes within the wait', async () => {
    const holder = await holdJobLock('daily-maintenance', 300);
    // acquireJobLock waits synchronously (SQLite's busy handler), so the child runs meanwhile.
    const lock = acquireJobLock(db, { job: 'backup', waitMs: 15_000 });
    try {
      expect(lock.tookOverFrom).toBeNull();
    } finally {
      lock.release();
    }
    expect(await holder.exited).toBe(0);
  });

  it('keeps the lock when its holder drops the returned object and the garbage collector runs', async () => {
    // The driver closes a collected connection, which released the lock while the holder still
    // ran (seen as a daily-maintenance test that got the lock from a holder script).
    const script = `
      import { acquireJobLock } from ${JSON.stringify(jobLockModule)};
      acquireJobLock(${JSON.stringify(db)}, { job: 'weekly-vacuum', waitMs: 1000 });
      globalThis.gc();
      await new Promise((r) => setTimeout(r, 100));
      globalThis.gc();
      process.stdout.write('held\\n');
      setInterval(() => {}, 1000);
    `;
    const child = spawn(process.execPath, ['--expose-gc', '--import', 'tsx', '--input-type=module', '-e', script], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    try {
      await new Promise<void>((resolve, reject) => {
        child.once('exit', (code) => reject(new Error(`lock holder exited early with ${code}`)));
        child.stdout?.on('data', (d: Buffer) => d.toString().includes('held') && resolve());
      });
      const error = errorOf(() => acquireJobLock(db, { job: 'backup', waitMs: 200 }));
      expect(error).toBeInstanceOf(LockHeldError);
      expect(error.message).toContain('weekly-vacuum');
    } finally {
      child.removeAllListeners('exit');
      child.kill('SIGKILL');
    }
  });

  it('refuses a symbolic link planted at the lock path and writes nothing through it', () => {
    const elsewhere = t.path('elsewhere');
    symlinkSync(elsewhere, lockPathFor(db));
    const error = errorOf(() => acquireJobLock(db, { job: 'backup', waitMs: 100 }));
    expect(error).toBeInstanceOf(IoError);
    expect(error.message).toContain('is a symbolic link');
    expect(existsSync(elsewhere)).toBe(false);
  });
});
