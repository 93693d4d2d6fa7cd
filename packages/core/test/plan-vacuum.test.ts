import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { openDatabase } from '../src/connection/connection.js';
import { planVacuum, vacuumWindowRefusal } from '../src/maintenance/plan-vacuum.js';
import { weeklyVacuum } from '../src/maintenance/weekly.js';
import { collectStats } from '../src/stats/database-stats.js';

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'ora-vacuum-plan-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

/** A real file with most of its pages free (rows inserted, then the newest 70 % deleted). */
function fragmented(name: string, autoVacuum: 'NONE' | 'INCREMENTAL'): string {
  const path = join(dir, name);
  const raw = new Database(path);
  raw.pragma(`auto_vacuum = ${autoVacuum}`);
  raw.exec('CREATE TABLE t (id INTEGER PRIMARY KEY, body TEXT)');
  const insert = raw.prepare('INSERT INTO t (body) VALUES (?)');
  raw.transaction(() => {
    for (let i = 0; i < 2000; i++) insert.run('x'.repeat(500));
  })();
  raw.exec('DELETE FROM t WHERE id > 600'); // whole pages onto the freelist
  raw.close();
  return path;
}

function statsOf(path: string) {
  const db = openDatabase(path, { readonly: true });
  try {
    return collectStats(db);
  } finally {
    db.close();
  }
}

describe('planVacuum', () => {
  it('runs a full VACUUM above the threshold and none at or below it, saying why', () => {
    const path = fragmented('a.db', 'NONE');
    const stats = statsOf(path);
    expect(stats.freePct).toBeGreaterThan(30);
    expect(planVacuum(stats, { mode: 'auto', thresholdPct: 25, path })).toEqual({ mode: 'full', vacuum: true });
    expect(planVacuum(stats, { mode: 'auto', thresholdPct: stats.freePct, path })).toEqual({
      mode: 'full',
      vacuum: false,
      reason: `free pages ${stats.freePct}% do not exceed the ${stats.freePct}% threshold: no VACUUM needed`,
    });
  });

  it('picks incremental steps on an auto_vacuum=INCREMENTAL database in auto mode', () => {
    const path = fragmented('inc.db', 'INCREMENTAL');
    const stats = statsOf(path);
    expect(stats.autoVacuum).toBe('incremental');
    expect(planVacuum(stats, { mode: 'auto', thresholdPct: 10, path })).toEqual({ mode: 'incremental', vacuum: true });
    expect(planVacuum(stats, { mode: 'full', thresholdPct: 10, path }).mode).toBe('full');
  });

  it('refuses incremental mode on a database without auto_vacuum=INCREMENTAL, even below the threshold', () => {
    const path = fragmented('b.db', 'NONE');
    const stats = statsOf(path);
    expect(() => planVacuum(stats, { mode: 'incremental', thresholdPct: 100, path })).toThrow(
      expect.objectContaining({
        code: 'INVALID_INPUT',
        message: `--mode incremental needs a database with auto_vacuum=INCREMENTAL; ${path} has auto_vacuum=none — use --mode full`,
      }),
    );
  });
});

describe('vacuumWindowRefusal', () => {
  const at = (hh: number, mm = 0) => new Date(2026, 11, 6, hh, mm);
  it('allows inside the window (end minute excluded), across midnight, and with force', () => {
    expect(vacuumWindowRefusal('00:00-05:00', false, at(4, 59))).toBeNull();
    expect(vacuumWindowRefusal('22:00-04:00', false, at(23))).toBeNull();
    expect(vacuumWindowRefusal('00:00-05:00', true, at(14))).toBeNull();
    expect(vacuumWindowRefusal('00:00-05:00', false, at(5))).toBe(
      'outside the maintenance window 00:00-05:00 (local time now 05:00); VACUUM never runs during peak hours — use --force to run anyway',
    );
  });

  it('weeklyVacuum outside the window skips without opening the file (it stays byte-identical)', async () => {
    const path = fragmented('c.db', 'NONE');
    const before = readFileSync(path);
    const r = await weeklyVacuum(path, {
      vacuumThresholdPct: 0,
      maintenanceWindow: '01:00-02:00',
      force: false,
      mode: 'auto',
      stepPages: 256,
      pauseMs: 0,
      checkpointWaitMs: 100,
      analysisLimit: 100,
      busyTimeoutMs: 100,
      maxProblems: 10,
      now: at(14, 30),
      progress: { update: () => {} },
    });
    expect(r).toEqual({
      status: 'skipped',
      reason: expect.stringMatching(/^outside the maintenance window 01:00-02:00 \(local time now 14:30\)/),
    });
    expect(readFileSync(path).equals(before)).toBe(true);
  });

  it('weeklyVacuum inside the window VACUUMs a fragmented file and reports the sizes', async () => {
    const path = fragmented('d.db', 'NONE');
    const r = await weeklyVacuum(path, {
      vacuumThresholdPct: 25,
      maintenanceWindow: '00:00-05:00',
      force: true,
      mode: 'auto',
      stepPages: 256,
      pauseMs: 0,
      checkpointWaitMs: 100,
      analysisLimit: 100,
      busyTimeoutMs: 1000,
      maxProblems: 10,
      now: at(14),
      progress: { update: () => {} },
    });
    if (!('integrity' in r)) throw new Error(`expected a run, got ${r.reason}`);
    expect(r.status).toBe('ok');
    expect(r.mode).toBe('full');
    expect(r.vacuum?.sizeBytesAfter).toBeLessThan(r.sizeBytesBefore);
    expect(statsOf(path).freePct).toBeLessThan(1);
  });
});
