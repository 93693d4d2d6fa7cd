import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { checkVacuumSpace, collectStats, IoError, migrate, openDatabase } from '@ora/core';
import { createOraDatabase, seedInto } from '@ora/core/testing';
import { bundleRunner, bundleRunnerAsync, snapshotDir, startWriter, tempDir } from '@ora/testkit';
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

const hhmm = (d: Date) => `${String(d.getHours()).padStart(2, '0')}:${String(d.getMinutes()).padStart(2, '0')}`;
/** A window that contains now, and one that does not. */
function windows(): { inside: string; outside: string } {
  const now = Date.now();
  return {
    inside: `${hhmm(new Date(now - 60 * 60_000))}-${hhmm(new Date(now + 60 * 60_000))}`,
    outside: `${hhmm(new Date(now + 2 * 60 * 60_000))}-${hhmm(new Date(now + 3 * 60 * 60_000))}`,
  };
}

/** Seeds, then deletes most rows so free pages are well above 25 %. */
function fragmented(path: string, orders = 1500): void {
  createOraDatabase(path, orders);
  const raw = new Database(path);
  raw.exec('DELETE FROM shipped_items; DELETE FROM shipped_orders WHERE id % 10 != 0;');
  raw.pragma('wal_checkpoint(TRUNCATE)');
  raw.close();
}

describe('weekly-vacuum', () => {
  it('VACUUMs above the threshold inside the window, then checks, analyzes and checkpoints', () => {
    fragmented(db);
    const r = run(['--db', db, '--maintenance-window', windows().inside, '--json']);
    expect(r.code).toBe(0);
    const result = r.json();
    expect(result.status).toBe('ok');
    expect(result.freePctBefore).toBeGreaterThan(25);
    expect(result.vacuum.mode).toBe('full');
    expect(result.vacuum.pagesFreed).toBeGreaterThan(0);
    expect(result.vacuum.sizeBytesAfter).toBeLessThan(result.vacuum.sizeBytesBefore);
    expect(result.vacuum.writeLockMs).toBeGreaterThanOrEqual(0);
    expect(result.integrity).toMatchObject({ mode: 'full', ok: true });
    expect(result.checkpoint.walBytesAfter).toBe(0);
    const after = new Database(db, { readonly: true });
    expect(after.pragma('freelist_count', { simple: true })).toBe(0);
    after.close();
  });

  it('skips VACUUM below the threshold, with the reason, but still checks integrity', () => {
    createOraDatabase(db, 200);
    const r = run(['--db', db, '--maintenance-window', windows().inside, '--json']);
    expect(r.code).toBe(0);
    expect(r.json()).toMatchObject({ status: 'skipped', vacuum: null, integrity: { ok: true } });
    expect(r.json().reason).toMatch(/^free pages 0% do not exceed the 25% threshold: no VACUUM needed$/);
  });

  it('does nothing outside the maintenance window, and runs with --force', () => {
    fragmented(db);
    const w = windows();
    const before = snapshotDir(t.dir);
    const skipped = run(['--db', db, '--maintenance-window', w.outside, '--json']);
    expect(skipped.code).toBe(0);
    expect(skipped.json().status).toBe('skipped');
    expect(skipped.json().reason).toMatch(
      new RegExp(
        `^outside the maintenance window ${w.outside} \\(local time now \\d\\d:\\d\\d\\); VACUUM never runs during peak hours — use --force to run anyway$`,
      ),
    );
    const { 'ora.db.ora-job-lock': _lock, ...afterSkip } = snapshotDir(t.dir);
    expect(afterSkip).toEqual(before);
    const forced = run(['--db', db, '--maintenance-window', w.outside, '--force', '--json']);
    expect(forced.code).toBe(0);
    expect(forced.json().vacuum.pagesFreed).toBeGreaterThan(0);
  });

  it('takes the window from ORA_MAINTENANCE_WINDOW', () => {
    createOraDatabase(db, 10);
    const r = run(['--db', db, '--json'], { ORA_MAINTENANCE_WINDOW: windows().outside });
    expect(r.json().status).toBe('skipped');
    expect(r.json().reason).toMatch(/^outside the maintenance window/);
  });

  it('refuses with DISK_FULL (exit 3) before touching anything when the disk lacks room', () => {
    fragmented(db);
    const conn = openDatabase(db);
    try {
      const stats = collectStats(conn);
      let error: unknown;
      try {
        checkVacuumSpace(conn, stats, { freeBytes: () => 10 * 1024 });
      } catch (e) {
        error = e;
      }
      expect(error).toBeInstanceOf(IoError);
      expect((error as IoError).code).toBe('DISK_FULL');
      expect((error as IoError).exitStatus).toBe(3);
      expect((error as IoError).message).toMatch(
        /^not enough disk space to VACUUM .*ora\.db: it needs about [\d.]+ MiB free on .*, only 0\.0 MiB is free; free space first, or set SQLITE_TMPDIR to a larger filesystem$/,
      );
      expect(checkVacuumSpace(conn, stats, { freeBytes: () => 1e12 }).neededBytes).toBeGreaterThan(0);
    } finally {
      conn.close();
    }
  });

  it('frees pages in small incremental steps on auto_vacuum=INCREMENTAL databases while a writer keeps committing', async () => {
    const raw = new Database(db);
    raw.pragma('auto_vacuum = INCREMENTAL');
    raw.close();
    const conn = openDatabase(db);
    migrate(conn);
    conn.close();
    seedInto(db, 1500);
    const del = new Database(db);
    del.exec('DELETE FROM shipped_items; DELETE FROM shipped_orders WHERE id % 10 != 0;');
    del.close();
    const writer = await startWriter(db, { ratePerSecond: 100 });
    const r = await runAsync(['--db', db, '--force', '--step-pages', '16', '--pause-ms', '5', '--json']);
    const report = await writer.stop();
    expect(r.code).toBe(0);
    const result = r.json();
    expect(result.mode).toBe('incremental');
    expect(result.vacuum.mode).toBe('incremental');
    expect(result.vacuum.steps).toBeGreaterThan(2);
    expect(result.vacuum.pagesFreed).toBeGreaterThan(0);
    expect(report.failures).toBe(0);
    expect(report.maxMs).toBeLessThan(500);
  });

  it.each([
    [
      ['--maintenance-window', '25:00-05:00'],
      'invalid input: --maintenance-window="25:00-05:00": expected a time window HH:MM-HH:MM in local time, e.g. 00:00-05:00',
    ],
    [
      ['--maintenance-window', 'nights'],
      'invalid input: --maintenance-window="nights": expected a time window HH:MM-HH:MM in local time, e.g. 00:00-05:00',
    ],
    [
      ['--vacuum-threshold-pct', '101'],
      'invalid input: --vacuum-threshold-pct="101": expected a number from 0 to 100 (percent)',
    ],
    [
      ['--vacuum-threshold-pct', '-5'],
      'invalid input: --vacuum-threshold-pct="-5": expected a number from 0 to 100 (percent)',
    ],
    [['--mode', 'gentle'], 'invalid input: --mode="gentle": expected one of: auto, full, incremental'],
    [['--step-pages', '0'], 'invalid input: --step-pages="0": expected a whole number from 1 to 1000000'],
    [
      ['--mode', 'incremental', '--force'],
      /^--mode incremental needs a database with auto_vacuum=INCREMENTAL; .*ora\.db has auto_vacuum=none — use --mode full$/,
    ],
  ])('refuses %j with exit 2 and changes nothing', (args, message) => {
    fragmented(db, 200);
    const before = snapshotDir(t.dir);
    const r = run(['--db', db, ...args]);
    expect(r.code).toBe(2);
    expect(r.logs.filter((l) => l.level === 'error')).toHaveLength(1);
    expect(r.logs.at(-1)?.msg).toMatch(message);
    const { 'ora.db.ora-job-lock': _lock, ...after } = snapshotDir(t.dir);
    expect(after).toEqual(before);
  });
});
