import { spawn } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gunzipSync } from 'node:zlib';
import { createOraDatabase } from '@ora/core/testing';
import { bundleRunner, bundleRunnerAsync, contentHash, snapshotDir, startWriter, tempDir } from '@ora/testkit';
import Database from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const archive = bundleRunner(root);
const archiveAsync = bundleRunnerAsync(root);

let t: ReturnType<typeof tempDir>;
let db: string;
beforeEach(() => {
  t = tempDir();
  db = t.path('ora.db');
});
afterEach(() => t.cleanup());

const TABLES = ['shipped_orders', 'shipped_items'];

function rows(path: string, table: string): unknown[][] {
  // Read-write (never creating): after a SIGKILL a WAL file's index must be rebuilt, which a
  // read-only connection cannot do ("attempt to write a readonly database").
  const raw = new Database(path, { fileMustExist: true });
  try {
    return raw.prepare(`SELECT * FROM ${table} ORDER BY id`).raw().all() as unknown[][];
  } finally {
    raw.close();
  }
}

/**
 * Every row of the archived tables, from the live database and every archive, by id. With
 * `allowCopies`, a row may sit in both (copied, not yet deleted, when a run was killed between
 * the two steps) but only with identical content; otherwise each row must be in exactly one place.
 */
function union(allowCopies = false): Record<string, string> {
  const files = [
    db,
    ...readdirSync(t.dir)
      .filter((f) => /^ora_archive_\d{4}\.db$/.test(f))
      .map((f) => t.path(f)),
  ];
  return Object.fromEntries(
    TABLES.map((table) => {
      const byId = new Map<unknown, string>();
      const all: unknown[][] = [];
      for (const row of files.flatMap((f) => rows(f, table))) {
        const seen = byId.get(row[0]);
        if (seen !== undefined) {
          expect(allowCopies, `${table} id ${row[0]} is in two places`).toBe(true);
          expect(JSON.stringify(row)).toBe(seen);
          continue;
        }
        byId.set(row[0], JSON.stringify(row));
        all.push(row);
      }
      all.sort((a, b) => (a[0] as number) - (b[0] as number));
      return [table, JSON.stringify(all)];
    }),
  );
}

function original(): Record<string, string> {
  return Object.fromEntries(TABLES.map((table) => [table, JSON.stringify(rows(db, table))]));
}

function fkCheck(path: string): unknown[] {
  const raw = new Database(path, { readonly: true });
  try {
    return raw.pragma('foreign_key_check') as unknown[];
  } finally {
    raw.close();
  }
}

describe('archive', () => {
  it('moves old orders with their items into yearly archives: live + archive equal the original, no orphans; a rerun is a no-op', () => {
    createOraDatabase(db, 3000);
    const before = original();
    const r = archive(['--db', db, '--before', '2026-06-01', '--json']);
    expect(r.code).toBe(0);
    const result = r.json();
    expect(result.status).toBe('ok');
    expect(result.moved.shipped_orders).toBe(result.eligible.shipped_orders);
    expect(result.moved.shipped_items).toBe(result.eligible.shipped_items);
    expect(result.moved.shipped_orders).toBeGreaterThan(1000);
    expect(result.archives.map((a: string) => a.split('/').at(-1))).toEqual([
      'ora_archive_2025.db',
      'ora_archive_2026.db',
    ]);
    expect(union()).toEqual(before);
    const live = new Database(db, { readonly: true });
    expect(live.prepare("SELECT count(*) FROM shipped_orders WHERE ship_date < '2026-06-01'").pluck().get()).toBe(0);
    live.close();
    for (const f of [db, ...result.archives]) expect(fkCheck(f)).toEqual([]);
    const again = archive(['--db', db, '--before', '2026-06-01', '--json']);
    expect(again.json().moved).toEqual({ shipped_orders: 0, shipped_items: 0 });
    expect(union()).toEqual(before);
  });

  it('reports batches that overran --max-lock-ms, warns past twice the limit, and shrinks at once', {
    timeout: 120_000,
  }, () => {
    createOraDatabase(db, 1500);
    // A first batch of all ~900 old orders cannot fit in 1 ms, nor in twice that (on an idle
    // machine it takes about 7 ms): it overruns, and the next ones shrink to a few orders each.
    // That makes hundreds of tiny batches (about 2 s idle, far more on CI's shared cores): hence
    // the small database and the long timeout.
    const r = archive(['--db', db, '--before', '2026-06-01', '--batch-size', '10000', '--max-lock-ms', '1']);
    expect(r.code, r.stderr).toBe(0);
    const warn = r.logs.find((l) => l.level === 'warn');
    expect(warn?.msg).toMatch(
      /^\d+ batch\(es\) held the write lock longer than --max-lock-ms 1, the longest [\d.]+ ms \(over twice the limit\)/,
    );
    expect(r.stdout).toMatch(
      /longest write lock [\d.]+ ms \(\d+ batch\(es\) over --max-lock-ms 1, longest [\d.]+ ms\)/,
    );
    expect(r.stdout).toMatch(/\nwarning: \d+ batch\(es\) held the write lock longer/);
    const json = archive(['--db', db, '--before', '2026-06-01', '--json']).json();
    expect(json.moved.shipped_orders).toBe(0); // all moved by the first run
    expect(json.lockOverruns).toEqual({ count: 0, longestMs: 0, maxLockMs: 50 });
    expect(json.warnings).toEqual([]);
  });

  it('sizes batches from the measured lock time so they stay under --max-lock-ms', () => {
    createOraDatabase(db, 3000);
    const r = archive(['--db', db, '--before', '2026-06-01', '--batch-size', '10000', '--max-lock-ms', '20', '--json']);
    expect(r.code, r.stderr).toBe(0);
    const json = r.json();
    expect(json.lockOverruns.maxLockMs).toBe(20);
    expect(json.lockOverruns.count).toBeLessThanOrEqual(json.batches);
    if (json.lockOverruns.count > 0) expect(json.lockOverruns.longestMs).toBe(json.longestLockMs);
    // The first batch (all 1000+ orders at once) may overrun, and one more may when the process is
    // descheduled on CI's shared cores (2 overruns, once in a fresh-clone run); after that, sizing
    // keeps most under.
    expect(json.lockOverruns.count).toBeLessThanOrEqual(Math.max(2, Math.floor(json.batches / 3)));
  });

  it('keeps a writer committing, each batch holding the write lock briefly', async () => {
    createOraDatabase(db, 6000);
    const writer = await startWriter(db, { ratePerSecond: 100 });
    const r = await archiveAsync([
      '--db',
      db,
      '--before',
      '2026-09-01',
      '--batch-size',
      '100',
      '--max-lock-ms',
      '50',
      '--json',
    ]);
    const report = await writer.stop();
    expect(r.code).toBe(0);
    expect(r.json().batches).toBeGreaterThan(5);
    // Bounded, not exact: CI runs the suites side by side on two cores, and a batch descheduled
    // while it holds the lock overran 100 ms there (166 ms, once in two fresh-clone runs). The
    // overruns are reported (lockOverruns); the writer never fails.
    expect(r.json().longestLockMs).toBeLessThan(500);
    expect(report.failures).toBe(0);
    expect(report.maxMs).toBeLessThan(1000);
  });

  it('loses and duplicates nothing when killed with SIGKILL at random instants, and a rerun finishes the job', async () => {
    // Enough rows that the six runs below, resuming each other, are all still going when killed
    // (up to 6 x 550 ms of work; the job moves about 20000 orders/s in these tiny batches).
    createOraDatabase(db, 60000);
    const before = original();
    const seed = Number(process.env.ORA_CRASH_SEED ?? Date.now() % 100_000);
    let state = seed;
    const random = () => {
      state = (state * 1103515245 + 12345) % 2147483648;
      return state / 2147483648;
    };
    const delays = Array.from({ length: 6 }, () => 150 + Math.floor(random() * 400));
    console.log(`archive SIGKILL seed ${seed}, delays ${delays.join(', ')} ms`);
    const bundle = join(root, 'dist/index.mjs');
    let killedMidRun = 0;
    for (const delay of delays) {
      // Tiny batches under a 1 ms lock bound: thousands of batches, so each kill lands mid-run.
      const child = spawn(
        process.execPath,
        [bundle, '--db', db, '--before', '2026-10-01', '--batch-size', '5', '--max-lock-ms', '1'],
        {
          stdio: 'ignore',
          env: { PATH: process.env.PATH },
        },
      );
      await new Promise((r) => setTimeout(r, delay));
      child.kill('SIGKILL');
      if (child.exitCode === null && child.signalCode === null) await new Promise((r) => child.once('exit', r));
      if (child.signalCode === 'SIGKILL') killedMidRun++;
      // Nothing lost, nothing altered; a batch copied but not yet deleted may sit in both places.
      expect(union(true)).toEqual(before);
    }
    expect(killedMidRun).toBeGreaterThanOrEqual(4);
    expect(archive(['--db', db, '--before', '2026-10-01']).code).toBe(0);
    expect(union()).toEqual(before);
    const live = new Database(db, { readonly: true });
    expect(live.prepare("SELECT count(*) FROM shipped_orders WHERE ship_date < '2026-10-01'").pluck().get()).toBe(0);
    expect(live.pragma('integrity_check', { simple: true })).toBe('ok');
    live.close();
    // No half-made archive is left under a temp name either.
    expect(readdirSync(t.dir).filter((f) => f.startsWith('.ora-archive-'))).toEqual([]);
  }, 180_000); // 60 000 orders, six kills and a full rerun: about 10 s alone, several times that beside the other suites

  it('--dry-run changes nothing; --copy-only keeps the live rows; a later run moves them', () => {
    createOraDatabase(db, 1000);
    const hash = contentHash(db);
    const listing = snapshotDir(t.dir, { ignoreCompanions: true });
    const dry = archive(['--db', db, '--before', '2026-06-01', '--dry-run', '--json']);
    expect(dry.code).toBe(0);
    expect(dry.json().status).toBe('skipped');
    expect(dry.json().eligible.shipped_orders).toBeGreaterThan(0);
    expect(snapshotDir(t.dir, { ignoreCompanions: true })).toEqual(listing);
    const copied = archive(['--db', db, '--before', '2026-06-01', '--copy-only', '--json']);
    expect(copied.code).toBe(0);
    expect(contentHash(db)).toBe(hash);
    expect(rows(copied.json().archives[0], 'shipped_orders').length).toBeGreaterThan(0);
    const moved = archive(['--db', db, '--before', '2026-06-01', '--json']);
    expect(moved.json().moved.shipped_orders).toBe(dry.json().eligible.shipped_orders);
  });

  it('--export ndjson writes every moved row to a gzip file', () => {
    createOraDatabase(db, 500);
    const r = archive(['--db', db, '--before', '2026-06-01', '--export', 'ndjson', '--json']);
    expect(r.code).toBe(0);
    const lines = gunzipSync(readFileSync(r.json().export))
      .toString()
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    expect(lines.filter((l) => l.table === 'shipped_orders').length).toBe(r.json().moved.shipped_orders);
    expect(lines.filter((l) => l.table === 'shipped_items').length).toBe(r.json().moved.shipped_items);
    expect(lines[0]).toHaveProperty('order_number');
  });

  it.each([
    [['--before', '2999-01-01'], 2, /^--before 2999-01-01 is in the future/],
    [['--before', '2025-13-01'], 2, /^invalid input: --before="2025-13-01": expected a date as YYYY-MM-DD/],
    [['--older-than', 'a year'], 2, /^invalid input: --older-than="a year": expected an age in days such as 365d/],
    [['--before', '2025-01-01', '--older-than', '30d'], 2, /^give --before or --older-than, not both/],
    [
      ['--table', 'inventory_current'],
      2,
      /^invalid input: --table="inventory_current": expected one of: shipped_orders$/,
    ],
    [['--batch-size', '0'], 2, /^invalid input: --batch-size="0"/],
    [['--export', 'xml'], 2, /^invalid input: --export="xml": expected one of: ndjson, csv$/],
    [
      ['--archive-dir', '/nonexistent/dir', '--before', '2026-06-01'],
      3,
      /^archive directory \/nonexistent\/dir does not exist/,
    ],
  ])('refuses %j with exit %i and moves nothing', (args, code, message) => {
    createOraDatabase(db, 200);
    const hash = contentHash(db);
    const r = archive(['--db', db, ...args]);
    expect(r.code).toBe(code);
    expect(r.logs.at(-1)?.msg).toMatch(message);
    expect(contentHash(db)).toBe(hash);
    expect(readdirSync(t.dir).filter((f) => f.startsWith('ora_archive'))).toEqual([]);
    expect(existsSync('/nonexistent')).toBe(false);
  });
});
