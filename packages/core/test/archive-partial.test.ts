import { rmSync } from 'node:fs';
import { fillUpTo, mountTmpfs, tempDir } from '@ora/testkit';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ArchiveIncompleteError, archivePathFor, archiveRows, runArchive } from '../src/archive/archive.js';
import { openDatabase } from '../src/connection/connection.js';
import { StoppedError } from '../src/errors/errors.js';
import { createOraDatabase } from '../src/testing/index.js';
import { raw, rejectionOf } from './helpers.js';

// A run that fails after some batches committed says what it committed: the archive directory
// is a real tmpfs that fills up mid-run (mount(2) needs root; where the kernel refuses it the
// test fails, saying so, rather than pass without checking anything).

let t: ReturnType<typeof tempDir>;
let live: string;
let dir: string;
let unmount: (() => void) | undefined;
beforeEach(() => {
  t = tempDir();
  live = t.path('ora.db');
  dir = t.path('archives');
  createOraDatabase(live, 1500);
});
afterEach(() => {
  unmount?.();
  unmount = undefined;
  t.cleanup();
});

const count = (file: string, sql: string) => raw(file, (db) => db.prepare(sql).pluck().get() as number);
const options = {
  table: 'shipped_orders' as const,
  cutoff: '2026-01-01', // the 2025 orders: one archive
  batchSize: 5,
  maxLockMs: 10_000, // batches grow 5, 10, 20, 40 … until the archive has no room
  copyOnly: false,
  dryRun: false,
  busyTimeoutMs: 2000,
};

describe('archive that fails after some batches committed', () => {
  it('carries the committed batches in the error (DISK_FULL kept), and a rerun with room finishes', async () => {
    unmount = mountTmpfs(dir, '4m');
    const total = count(live, "SELECT count(*) FROM shipped_orders WHERE ship_date < '2026-01-01'");
    const first = count(live, 'SELECT min(ship_date) FROM shipped_orders') as unknown as string;
    // One day first, so the archive exists; then the filesystem is filled to leave 48 KiB.
    const db = openDatabase(live);
    try {
      const nextDay = new Date(Date.parse(`${first}T00:00:00Z`) + 86_400_000).toISOString().slice(0, 10);
      await archiveRows(db, { ...options, archiveDir: dir, cutoff: nextDay });
      const archive = archivePathFor(live, '2025', dir);
      const before = count(archive, 'SELECT count(*) FROM shipped_orders');
      const itemsBefore = count(archive, 'SELECT count(*) FROM shipped_items');
      const filler = fillUpTo(dir, 48 * 1024);

      const error = await rejectionOf(archiveRows(db, { ...options, archiveDir: dir }));
      expect(error).toBeInstanceOf(ArchiveIncompleteError);
      const incomplete = error as ArchiveIncompleteError;
      expect(incomplete.code).toBe('DISK_FULL');
      expect(incomplete.exitStatus).toBe(3);
      const { report } = incomplete;
      expect(report.batches).toBeGreaterThan(0);
      const archived = count(archive, 'SELECT count(*) FROM shipped_orders');
      // The report is exactly what is in the archive and gone from the live database.
      expect(report.moved.shipped_orders).toBe(archived - before);
      expect(report.moved.shipped_orders).toBeLessThan(total - before);
      expect(count(live, "SELECT count(*) FROM shipped_orders WHERE ship_date < '2026-01-01'")).toBe(total - archived);
      expect(report.moved.shipped_items).toBe(count(archive, 'SELECT count(*) FROM shipped_items') - itemsBefore);
      expect(incomplete.message).toMatch(
        new RegExp(
          `^disk full while writing ${archive}.*; before that, ${report.batches} batch\\(es\\) committed and stay moved \\(${report.moved.shipped_orders} shipped_orders, ${report.moved.shipped_items} shipped_items to ${archive}\\); rerun the same command to finish$`,
        ),
      );
      expect(incomplete.toJSON()).toMatchObject({
        code: 'DISK_FULL',
        exitStatus: 3,
        committed: { batches: report.batches, moved: report.moved, archives: [archive], copyOnly: false },
      });
      expect(raw(archive, (a) => a.pragma('integrity_check', { simple: true }))).toBe('ok');

      // With room again, the same run finishes what is left.
      rmSync(filler);
      const rest = await archiveRows(db, { ...options, archiveDir: dir });
      expect(rest.moved.shipped_orders).toBe(total - archived);
      expect(count(archive, 'SELECT count(*) FROM shipped_orders')).toBe(total);
      expect(count(live, "SELECT count(*) FROM shipped_orders WHERE ship_date < '2026-01-01'")).toBe(0);
    } finally {
      db.close();
    }
  });

  it('returns the same as an outcome from runArchive, and throws the cause itself when nothing committed', async () => {
    const stop = new AbortController();
    stop.abort();
    const db = openDatabase(live);
    try {
      const outcome = await runArchive(db, { ...options, signal: stop.signal });
      expect(outcome.error).toBeInstanceOf(StoppedError);
      expect(outcome.report.batches).toBe(0);
      expect(await rejectionOf(archiveRows(db, { ...options, signal: stop.signal }))).toBeInstanceOf(StoppedError);
      // Stopped after two batches: the stop keeps its code and says what is done.
      const later = new AbortController();
      let batches = 0;
      const onBatch = () => {
        if (++batches === 2) later.abort();
      };
      const error = await rejectionOf(archiveRows(db, { ...options, onBatch, signal: later.signal }));
      expect(error).toBeInstanceOf(ArchiveIncompleteError);
      expect(error.code).toBe('STOPPED');
      expect((error as ArchiveIncompleteError).report.batches).toBe(2);
      expect(error.message).toContain('before that, 2 batch(es) committed and stay moved (15 shipped_orders');
    } finally {
      db.close();
    }
  });
});
