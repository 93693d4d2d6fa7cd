import { spawn } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createOraDatabase } from '@ora/core/testing';
import {
  bundleRunner,
  bundleRunnerAsync,
  contentHash,
  damagePage,
  holdReader,
  rootPage,
  snapshotDir,
  startWriter,
  tempDir,
} from '@ora/testkit';
import Database from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const run = bundleRunner(root);
const runAsync = bundleRunnerAsync(root);

let t: ReturnType<typeof tempDir>;
let db: string;
beforeEach(() => {
  t = tempDir();
  db = t.path('ora.db');
});
afterEach(() => t.cleanup());

/** Leaves committed frames in the WAL (no checkpoint on close: another connection stays open). */
function fillWal(path: string, rows = 500, prefix = 'wal'): Database.Database {
  const keeper = new Database(path);
  keeper.pragma('wal_autocheckpoint = 0');
  const insert = keeper.prepare("INSERT INTO workflows (name, status, details) VALUES (?, 'ok', ?)");
  keeper.transaction(() => {
    for (let i = 0; i < rows; i++) insert.run(`${prefix}-${i}`, 'x'.repeat(200));
  })();
  return keeper;
}

describe('daily-maintenance', () => {
  it('checkpoints the WAL to zero, analyzes, optimizes and passes quick_check', () => {
    createOraDatabase(db, 500);
    const keeper = fillWal(db);
    try {
      const r = run(['--db', db, '--json']);
      expect(r.code).toBe(0);
      const result = r.json();
      expect(result).toMatchObject({ job: 'daily-maintenance', status: 'ok', integrity: { mode: 'quick', ok: true } });
      expect(result.checkpoint.walBytesBefore).toBeGreaterThan(100_000);
      expect(result.checkpoint.walBytesAfter).toBe(0);
      expect(result.checkpoint.pinned).toBe(false);
      expect(result.analyze.analysisLimit).toBe(1000);
      const stat1 = keeper.prepare('SELECT count(*) FROM sqlite_stat1').pluck().get() as number;
      expect(stat1).toBeGreaterThan(0);
    } finally {
      keeper.close();
    }
  });

  it('keeps a writer at 100 commits/s committing, none waiting longer than the checkpoint bound', async () => {
    createOraDatabase(db, 2000);
    const writer = await startWriter(db, { ratePerSecond: 100 });
    await new Promise((r) => setTimeout(r, 300));
    const r = await runAsync(['--db', db, '--checkpoint-wait-ms', '500', '--json']);
    await new Promise((r) => setTimeout(r, 300));
    const report = await writer.stop();
    expect(r.code).toBe(0);
    expect(report.failures).toBe(0);
    expect(report.commits).toBeGreaterThan(30);
    expect(report.maxMs).toBeLessThan(500);
  });

  it('gives up on a WAL pinned by a long reader within its bound and reports warn', async () => {
    createOraDatabase(db, 200);
    const keeper = fillWal(db, 50);
    const reader = await holdReader(db);
    fillWal(db, 200, 'later').close(); // frames the reader's snapshot does not include
    const writer = await startWriter(db, { ratePerSecond: 100 });
    try {
      const r = await runAsync(['--db', db, '--checkpoint-wait-ms', '300', '--json']);
      const report = await writer.stop();
      expect(r.code).toBe(0);
      const result = r.json();
      expect(result.status).toBe('warn');
      expect(result.checkpoint.pinned).toBe(true);
      expect(result.checkpoint.framesLeft).toBeGreaterThan(0);
      expect(result.checkpoint.truncate.durationMs).toBeGreaterThanOrEqual(250);
      expect(result.checkpoint.truncate.durationMs).toBeLessThan(1000);
      expect(result.reason).toMatch(/^WAL pinned by readers: \d+ frames left after 300 ms$/);
      expect(report.failures).toBe(0);
      expect(report.maxMs).toBeLessThan(800);
    } finally {
      await reader.release();
      keeper.close();
    }
  });

  it('fails with exit 1 when quick_check finds damage', () => {
    createOraDatabase(db, 300);
    damagePage(db, rootPage(db, 'shipped_items'));
    const r = run(['--db', db, '--json']);
    expect(r.code).toBe(1);
    expect(r.json()).toMatchObject({ status: 'failed', integrity: { ok: false } });
    expect(r.json().integrity.problems.length).toBeGreaterThan(0);
  });

  it.each([
    [
      ['--checkpoint-wait-ms', '-1'],
      'invalid input: --checkpoint-wait-ms="-1": expected a whole number from 0 to 60000 (milliseconds)',
    ],
    [
      ['--checkpoint-wait-ms', 'soon'],
      'invalid input: --checkpoint-wait-ms="soon": expected a whole number from 0 to 60000 (milliseconds)',
    ],
    [
      ['--analysis-limit', '100001'],
      'invalid input: --analysis-limit="100001": expected a whole number from 0 to 100000',
    ],
  ])('refuses %j with exit 2 and changes nothing', (args, message) => {
    createOraDatabase(db, 10);
    const before = snapshotDir(t.dir);
    const r = run(['--db', db, ...args]);
    expect(r.code).toBe(2);
    expect(r.logs).toHaveLength(1);
    expect(r.logs[0]?.msg).toBe(message);
    expect(snapshotDir(t.dir)).toEqual(before);
  });

  it('refuses an invalid ORA_CHECKPOINT_WAIT_MS with exit 2', () => {
    createOraDatabase(db, 10);
    const r = run(['--db', db], { ORA_CHECKPOINT_WAIT_MS: '2s' });
    expect(r.code).toBe(2);
    expect(r.logs[0]?.msg).toMatch(/^invalid configuration \(1 problem\): ORA_CHECKPOINT_WAIT_MS="2s"/);
  });

  it('waits for the job lock, then exits 3 naming the holder; takes over a lock left by a killed run', async () => {
    createOraDatabase(db, 10);
    const holderScript = `
      const { acquireJobLock } = await import(${JSON.stringify(join(root, '../../packages/core/src/locking/job-lock.ts'))});
      acquireJobLock(${JSON.stringify(db)}, { job: 'weekly-vacuum', waitMs: 0 });
      process.stdout.write('held\\n');
      setInterval(() => {}, 1000);`;
    const holder = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', holderScript], {
      cwd: root,
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    await new Promise<void>((resolve, reject) => {
      holder.stdout.on('data', (d) => String(d).includes('held') && resolve());
      holder.once('exit', (c) => reject(new Error(`holder exited ${c}`)));
    });
    const hash = contentHash(db);
    const blocked = await runAsync(['--db', db], { ORA_LOCK_WAIT_MS: '200' });
    expect(blocked.code).toBe(3);
    expect(blocked.logs.at(-1)?.code).toBe('LOCK_HELD');
    expect(blocked.logs.at(-1)?.msg).toMatch(
      new RegExp(
        `^another job holds the lock on .*ora\\.db: weekly-vacuum \\(pid ${holder.pid} on .*, since .*\\); waited 200 ms`,
      ),
    );
    expect(contentHash(db)).toBe(hash);
    holder.removeAllListeners('exit');
    await new Promise((r) => {
      holder.once('exit', r);
      holder.kill('SIGKILL');
    });
    const after = await runAsync(['--db', db], { ORA_LOCK_WAIT_MS: '200' });
    expect(after.code).toBe(0);
    expect(after.logs.find((l) => l.level === 'warn')?.msg).toMatch(
      new RegExp(
        `^took over the job lock left by weekly-vacuum \\(pid ${holder.pid} on .*\\), which ended without releasing it$`,
      ),
    );
  });
});
