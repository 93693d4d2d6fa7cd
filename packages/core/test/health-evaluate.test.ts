import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { openDatabase } from '../src/connection/connection.js';
import { checkHealth } from '../src/health/check.js';
import { assertHealthThresholds, evaluateHealth } from '../src/health/evaluate.js';
import { checkIntegrity } from '../src/integrity/integrity.js';
import { initDatabase } from '../src/schema/create.js';
import { planAdoption } from '../src/schema/ora-schema.js';
import { collectStats } from '../src/stats/database-stats.js';

const thresholds = { walWarnMb: 64, walCriticalMb: 512, freeWarnPct: 25, freeCriticalPct: 60 };
let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'ora-health-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

/** The real inputs of the verdict, read from a real file. */
function inputsOf(path: string) {
  const db = openDatabase(path, { readonly: true });
  try {
    return { stats: collectStats(db), integrity: checkIntegrity(db), plan: planAdoption(db) };
  } finally {
    db.close();
  }
}

describe('evaluateHealth', () => {
  it('is ok on a fresh ORA database in WAL mode: every check ok', () => {
    const path = join(dir, 'ora.db');
    initDatabase(path, 1000);
    const { stats, integrity, plan } = inputsOf(path);
    const r = evaluateHealth(stats, integrity, plan, thresholds);
    expect(r.status).toBe('ok');
    expect(r.health).toBe('ok');
    expect(r.checks.map((c) => [c.name, c.level])).toEqual([
      ['integrity', 'ok'],
      ['wal-size', 'ok'],
      ['free-space', 'ok'],
      ['journal-mode', 'ok'],
    ]);
  });

  it('warns at the warn threshold and fails at the critical one (a value at a limit reaches it)', () => {
    const path = join(dir, 'ora.db');
    initDatabase(path, 1000);
    const { stats, integrity, plan } = inputsOf(path);
    const at = (freePct: number) =>
      evaluateHealth({ ...stats, freePct }, integrity, plan, thresholds).checks.find((c) => c.name === 'free-space');
    expect(at(24.99)?.level).toBe('ok');
    expect(at(25)).toEqual({ name: 'free-space', level: 'warn', message: '25% free pages (warn at 25% free pages)' });
    expect(at(60)?.level).toBe('critical');
    const wal = evaluateHealth({ ...stats, walBytes: 600 * 1024 * 1024 }, integrity, plan, thresholds);
    expect(wal.status).toBe('failed');
    expect(wal.health).toBe('critical');
    expect(wal.checks.find((c) => c.name === 'wal-size')?.message).toBe('WAL 600 MiB (critical at WAL 512 MiB)');
  });

  it('warns about a rollback-journal ORA database but not about a foreign one', () => {
    const ora = join(dir, 'ora.db');
    initDatabase(ora, 1000);
    const oraDb = openDatabase(ora);
    oraDb.pragma('journal_mode = DELETE');
    oraDb.close();
    const o = inputsOf(ora);
    const oraVerdict = evaluateHealth(o.stats, o.integrity, o.plan, thresholds);
    expect(oraVerdict.status).toBe('warn');
    expect(oraVerdict.checks.find((c) => c.name === 'journal-mode')?.level).toBe('warn');

    const foreign = join(dir, 'foreign.db');
    const f = new Database(foreign); // another application's database, in its own journal mode
    f.exec('CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT)');
    f.close();
    const x = inputsOf(foreign);
    const verdict = evaluateHealth(x.stats, x.integrity, x.plan, thresholds);
    expect(verdict.status).toBe('ok');
    expect(verdict.checks.find((c) => c.name === 'schema-version')?.message).toMatch(/^not an ORA database/);
  });

  it('is critical when integrity fails, naming the first problem', () => {
    const path = join(dir, 'ora.db');
    initDatabase(path, 1000);
    const { stats, plan } = inputsOf(path);
    const broken = {
      mode: 'quick' as const,
      ok: false,
      problems: ['row 3 missing from index'],
      truncated: true,
      durationMs: 1,
    };
    const r = evaluateHealth(stats, broken, plan, thresholds);
    expect(r.status).toBe('failed');
    expect(r.checks[0]).toEqual({
      name: 'integrity',
      level: 'critical',
      message: 'quick_check found more than 1 problem(s): row 3 missing from index',
    });
  });
});

describe('assertHealthThresholds', () => {
  it('refuses a warn level above its critical level with INVALID_INPUT naming both flags', () => {
    expect(() => assertHealthThresholds({ ...thresholds, walWarnMb: 600 })).toThrow(
      '--wal-warn-mb (600) must not exceed --wal-critical-mb (512)',
    );
    expect(() => assertHealthThresholds({ ...thresholds, freeWarnPct: 70 })).toThrow(
      expect.objectContaining({ code: 'INVALID_INPUT', exitStatus: 2 }),
    );
    expect(() => assertHealthThresholds(thresholds)).not.toThrow();
  });

  it('checkHealth refuses crossed thresholds before opening: no log file is written', async () => {
    const log = join(dir, 'health.log');
    await expect(
      checkHealth(join(dir, 'missing.db'), {
        ...thresholds,
        freeWarnPct: 70,
        full: false,
        maxProblems: 10,
        busyTimeoutMs: 0,
        logFile: log,
      }),
    ).rejects.toThrow(/--free-warn-pct/);
    expect(existsSync(log)).toBe(false);
  });
});
