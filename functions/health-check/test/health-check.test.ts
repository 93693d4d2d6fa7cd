import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, statSync, truncateSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createOraDatabase } from '@ora/core/testing';
import { damagePage, holdLock, rootPage, snapshotDir, tempDir } from '@ora/testkit';
import Database from 'better-sqlite3';
import { afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const bundle = join(root, 'dist/index.mjs');

beforeAll(() => {
  // turbo builds the bundle before tests; build it here too when vitest runs alone.
  if (!existsSync(bundle)) {
    const r = spawnSync(process.execPath, ['../../scripts/bundle.mjs', 'src/index.ts', 'dist/index.mjs'], {
      cwd: root,
    });
    if (r.status !== 0) throw new Error(`bundle failed: ${r.stderr}`);
  }
});

let t: ReturnType<typeof tempDir>;
beforeEach(() => {
  t = tempDir();
});
afterEach(() => t.cleanup());

/** Runs the bundled container entry as a child process, like a container would. */
function run(args: string[], env: Record<string, string> = {}) {
  const r = spawnSync(process.execPath, [bundle, ...args], {
    cwd: t.dir,
    env: { PATH: process.env.PATH, ...env },
    encoding: 'utf8',
  });
  const logs = r.stderr
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as { level: string; code?: string; msg: string });
  return { code: r.status, stdout: r.stdout, logs, json: () => JSON.parse(r.stdout) };
}

describe('health-check bundle', () => {
  it('prints every SPEC field for a healthy database and exits 0', () => {
    const db = t.path('ora.db');
    createOraDatabase(db, 100);
    const r = run(['--db', db, '--json']);
    expect(r.code).toBe(0);
    const result = r.json();
    expect(result).toMatchObject({
      job: 'health-check',
      status: 'ok',
      database: db,
      exists: true,
      isSqlite: true,
      integrity: { mode: 'quick', ok: true, problems: [] },
      pageSize: 4096,
      freelistCount: 0,
      freePct: 0,
      tableCount: 6,
      indexCount: 4,
      journalMode: 'wal',
      foreignKeys: true,
      userVersion: 1,
    });
    for (const field of ['startedAt', 'durationMs', 'fileBytes', 'walBytes', 'pageCount', 'sqliteVersion', 'checks']) {
      expect(result).toHaveProperty(field);
    }
    expect(result.fileBytes).toBe(result.pageCount * 4096);
    expect(result.sqliteVersion).toMatch(/^3\.\d+\.\d+$/);
    expect(result.checks.map((c: { name: string }) => c.name)).toEqual([
      'integrity',
      'wal-size',
      'free-space',
      'journal-mode',
    ]);
  });

  it('never writes to the database it checks', () => {
    const db = t.path('ora.db');
    createOraDatabase(db, 100);
    const before = snapshotDir(t.dir)['ora.db'];
    expect(run(['--db', db, '--full']).code).toBe(0);
    expect(snapshotDir(t.dir)['ora.db']).toBe(before);
  });

  it('fails with exit 1 and lists the problems when --full finds damage', () => {
    const db = t.path('ora.db');
    createOraDatabase(db, 300);
    damagePage(db, rootPage(db, 'idx_shipped_items_order_number'));
    const r = run(['--db', db, '--full', '--json', '--max-problems', '3']);
    expect(r.code).toBe(1);
    const result = r.json();
    expect(result.status).toBe('failed');
    expect(result.health).toBe('critical');
    expect(result.integrity.mode).toBe('full');
    expect(result.integrity.ok).toBe(false);
    expect(result.integrity.problems.length).toBeGreaterThan(0);
    expect(result.integrity.problems.length).toBeLessThanOrEqual(3);
    expect(result.checks[0]).toMatchObject({ name: 'integrity', level: 'critical' });
  });

  it('refuses a missing database with exit 3 and creates nothing', () => {
    const r = run(['--db', t.path('missing.db')]);
    expect(r.code).toBe(3);
    expect(r.logs.at(-1)).toMatchObject({ code: 'DATABASE_NOT_FOUND' });
    expect(r.logs.at(-1)?.msg).toMatch(/^database not found: .*missing\.db \(nothing was created\)/);
    expect(readdirSync(t.dir)).toEqual([]);
  });

  it.each([
    ['a directory', (p: string) => mkdirSync(p), 3, 'DATABASE_IS_DIRECTORY'],
    ['an empty file', (p: string) => writeFileSync(p, ''), 3, 'DATABASE_EMPTY'],
    ['a text file', (p: string) => writeFileSync(p, 'hello\n'.repeat(100)), 3, 'NOT_A_DATABASE'],
    [
      'a truncated database',
      (p: string) => {
        createOraDatabase(p, 100);
        truncateSync(p, 8192);
      },
      1,
      'DATABASE_TRUNCATED',
    ],
  ])('refuses %s with its own code and exit status', (_what, make, exit, code) => {
    const db = t.path('ora.db');
    make(db);
    const before = snapshotDir(t.dir);
    const r = run(['--db', db, '--json']);
    expect(r.code).toBe(exit);
    expect(r.json()).toMatchObject({ status: 'failed', error: { code } });
    expect(snapshotDir(t.dir)).toEqual(before);
  });

  it('warns and goes critical on free-page thresholds', () => {
    const db = t.path('ora.db');
    createOraDatabase(db, 500);
    const raw = new Database(db);
    raw.exec('DELETE FROM shipped_items; DELETE FROM shipped_orders;');
    raw.pragma('wal_checkpoint(TRUNCATE)');
    raw.close();
    const warn = run(['--db', db, '--json', '--free-warn-pct', '10', '--free-critical-pct', '95']);
    expect(warn.code).toBe(0);
    expect(warn.json()).toMatchObject({ status: 'warn', health: 'warn' });
    expect(warn.json().freePct).toBeGreaterThan(10);
    const critical = run(['--db', db, '--json'], { ORA_FREE_WARN_PCT: '5', ORA_FREE_CRITICAL_PCT: '10' });
    expect(critical.code).toBe(1);
    expect(critical.json().checks.find((c: { name: string }) => c.name === 'free-space')).toMatchObject({
      level: 'critical',
    });
  });

  it('warns on WAL size', () => {
    const db = t.path('ora.db');
    createOraDatabase(db, 50);
    // A second connection keeps the WAL from being checkpointed away on close.
    const writer = new Database(db);
    writer.pragma('wal_autocheckpoint = 0');
    writer.exec("UPDATE shipped_orders SET customer = customer || ' '");
    try {
      const r = run(['--db', db, '--json', '--wal-warn-mb', '0.001']);
      expect(r.code).toBe(0);
      expect(r.json().walBytes).toBeGreaterThan(1024);
      expect(r.json().checks.find((c: { name: string }) => c.name === 'wal-size').level).toBe('warn');
    } finally {
      writer.close();
    }
  });

  it.each([
    [['--wal-warn-mb', 'abc'], 'invalid input: --wal-warn-mb="abc": expected a number from 0 to 1000000 (MiB)'],
    [['--free-warn-pct', '101'], 'invalid input: --free-warn-pct="101": expected a number from 0 to 100 (percent)'],
    [
      ['--free-warn-pct', '50', '--free-critical-pct', '40'],
      '--free-warn-pct (50) must not exceed --free-critical-pct (40)',
    ],
    [['--max-problems', '0'], 'invalid input: --max-problems="0": expected a whole number from 1 to 10000'],
    [['--full=maybe'], 'invalid input: --full="maybe": expected true or false'],
    [['--db', ''], 'invalid input: --db="": expected a database file path (1 to 4096 characters, no NUL bytes)'],
    [['--nope'], "invalid command line: unknown flag --nope; see 'health-check --help'"],
  ])('refuses %j with exit 2, one line, and no change on disk', (args, message) => {
    const db = t.path('ora.db');
    createOraDatabase(db, 10);
    const before = snapshotDir(t.dir);
    const r = run(['--db', db, ...args]);
    expect(r.code).toBe(2);
    expect(r.logs).toHaveLength(1);
    expect(r.logs[0]?.msg).toBe(message);
    expect(snapshotDir(t.dir)).toEqual(before);
  });

  it('refuses a bad ORA_EVENT with exit 2', () => {
    const r = run([], { ORA_EVENT: '{"full": true, "fast": 1}' });
    expect(r.code).toBe(2);
    expect(r.logs[0]?.msg).toBe(
      "invalid input: ORA_EVENT has unknown field 'fast' (allowed: db, full, walWarnMb, walCriticalMb, freeWarnPct, freeCriticalPct, maxProblems, busyTimeoutMs, logFile)",
    );
  });

  it('takes its event from ORA_EVENT', () => {
    const db = t.path('ora.db');
    createOraDatabase(db, 10);
    const r = run(['--json'], { ORA_EVENT: JSON.stringify({ db, full: true }) });
    expect(r.code).toBe(0);
    expect(r.json().integrity.mode).toBe('full');
  });

  it('exits 3 when another process holds the database exclusively', async () => {
    const db = t.path('ora.db');
    createOraDatabase(db, 10);
    const holder = await holdLock(db, 'exclusive');
    try {
      const r = run(['--db', db, '--busy-timeout-ms', '100']);
      expect(r.code).toBe(3);
      expect(r.logs.at(-1)?.code).toBe('DATABASE_LOCKED');
      expect(r.logs.at(-1)?.msg).toMatch(/^database is locked by another process: .*ora\.db \(waited 100 ms\)/);
    } finally {
      await holder.release();
    }
  });

  it("appends the guide's report to --log-file, mode 0600", () => {
    const db = t.path('ora.db');
    createOraDatabase(db, 10);
    const log = t.path('db_health.log');
    expect(run(['--db', db, '--log-file', log]).code).toBe(0);
    expect(run(['--db', t.path('gone.db'), '--log-file', log]).code).toBe(3);
    const text = readFileSync(log, 'utf8');
    expect(text.match(/=== ORA Database Health Check: /g)).toHaveLength(2);
    expect(text).toContain('WAL file size: ');
    expect(text).toContain('ERROR: database not found');
    expect(statSync(log).mode & 0o777).toBe(0o600);
  });
});
