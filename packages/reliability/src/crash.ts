/**
 * Crash injection (SPEC §4): each heavy job runs as a child process on a real database file while
 * another process commits small transactions, is killed with SIGKILL at a seeded random instant,
 * and the files are then checked: integrity_check ok, every committed row of the writer present,
 * no published backup that fails verification, archive + live rows equal to the original, and a
 * rerun of the job that succeeds and passes the same checks.
 */
import { spawn, spawnSync } from 'node:child_process';
import { copyFileSync, cpSync, existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { prng } from '@ora/core';
import { localPointStore } from '@ora/core/pitr';
import { createOraDatabase } from '@ora/core/testing';
import { contentHash, missingWriterRows, startWriter } from '@ora/testkit';
import Database from 'better-sqlite3';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');
/** The bundled CLI: what operators run, built by `pnpm bundle` (turbo builds it before the tests). */
export const CLI = join(root, 'packages/cli/dist/ora-db.mjs');

/** The files of one crash run, all in one temp directory. */
export interface CrashFiles {
  dir: string;
  db: string;
  backups: string;
}

interface Template {
  files: CrashFiles;
  /** Per-table row digests of the original, for jobs that move rows (archive). */
  digest: Record<string, string>;
  hash: string;
}

export interface Scenario {
  job: string;
  /** Orders in the generated database: sized so a run takes about a second. */
  orders: number;
  /** Whether a writer commits throughout (not for recover --replace, which refuses open files). */
  writer: boolean;
  /** Prepares the template once (after the database is generated). */
  prepare?: (files: CrashFiles) => void | Promise<void>;
  args: (files: CrashFiles) => string[];
  /** Problems found after a kill (`afterRerun` false) or after the rerun; empty when all is well. */
  check: (files: CrashFiles, template: Template, afterRerun: boolean) => string[];
}

export interface CrashOutcome {
  job: string;
  seed: number;
  delayMs: number;
  /** The kill landed while the job ran (it had not exited yet). */
  killedMidRun: boolean;
  writerCommits: number;
  writerFailures: number;
  problems: string[];
}

function cli(args: string[]): { code: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [CLI, ...args], {
    encoding: 'utf8',
    env: { PATH: process.env.PATH ?? '', ORA_LOG_LEVEL: 'warn' },
  });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

/**
 * Opens a file left by a killed run read-write (never creating it): a WAL whose writer was
 * killed needs its index rebuilt, which a read-only connection refuses (SQLITE_READONLY_RECOVERY,
 * "attempt to write a readonly database"). Reading only: the checks change nothing.
 */
function openAfterKill(path: string): Database.Database {
  return new Database(path, { fileMustExist: true });
}

function integrity(path: string): string | null {
  if (!existsSync(path)) return `${path} is gone`;
  const db = openAfterKill(path);
  try {
    const result = db.pragma('integrity_check', { simple: true });
    return result === 'ok' ? null : `integrity_check of ${path}: ${String(result)}`;
  } catch (error) {
    return `cannot check ${path}: ${(error as Error).message}`;
  } finally {
    db.close();
  }
}

function tableDigest(paths: string[], table: string, allowCopies: boolean): string | string[] {
  const byId = new Map<number, string>();
  const problems: string[] = [];
  for (const path of paths) {
    const db = openAfterKill(path);
    try {
      for (const row of db.prepare(`SELECT * FROM ${table} ORDER BY id`).raw().all() as unknown[][]) {
        const text = JSON.stringify(row);
        const seen = byId.get(row[0] as number);
        if (seen !== undefined && (!allowCopies || seen !== text))
          problems.push(`${table} id ${row[0]} is in two places`);
        byId.set(row[0] as number, text);
      }
    } finally {
      db.close();
    }
  }
  if (problems.length) return problems.slice(0, 3);
  return [...byId.entries()]
    .sort((a, b) => a[0] - b[0])
    .map((e) => e[1])
    .join('\n');
}

const ARCHIVED = ['shipped_orders', 'shipped_items'];

function archiveFiles(files: CrashFiles): string[] {
  return readdirSync(files.dir)
    .filter((f) => /^ora_archive_\d{4}\.db$/.test(f))
    .map((f) => join(files.dir, f));
}

function writerRowsCheck(files: CrashFiles, names: string[], extra: string[] = []): string[] {
  const missing = missingWriterRows([files.db, ...extra], names);
  return missing.length ? [`${missing.length} committed writer rows are missing (first: ${missing[0]})`] : [];
}

function verifyBackups(files: CrashFiles): string[] {
  const problems: string[] = [];
  const list = cli(['backup', 'list', '--backup-dir', files.backups, '--json']);
  if (list.code !== 0) return [`backup list exited ${list.code}: ${list.stderr.trim().split('\n').at(-1)}`];
  const unreadable = (JSON.parse(list.stdout) as { unreadable: unknown[] }).unreadable;
  if (unreadable.length) problems.push(`unreadable manifests: ${JSON.stringify(unreadable)}`);
  const v = cli(['backup-verify', 'all', '--backup-dir', files.backups, '--json']);
  if (v.code !== 0)
    problems.push(`a published backup fails verification (exit ${v.code}): ${v.stdout.trim() || v.stderr.trim()}`);
  return problems;
}

/** Every restore point in the store rebuilds and verifies, and no manifest is unreadable. */
function verifyPoints(files: CrashFiles): string[] {
  const v = cli(['backup-verify', 'all', '--backup-dir', files.backups, '--point-sample', '10000', '--json']);
  if (v.code !== 0) {
    return [
      `a restore point fails verification (exit ${v.code}): ${v.stdout.trim().slice(0, 2000) || v.stderr.trim()}`,
    ];
  }
  const report = JSON.parse(v.stdout) as { points: { points: unknown[]; unreadable: unknown[] } | null };
  if (!report.points || report.points.points.length === 0) return ['no restore point is left'];
  return report.points.unreadable.length
    ? [`unreadable point manifests: ${JSON.stringify(report.points.unreadable)}`]
    : [];
}

/** Changes the application might make between two points. */
function churn(path: string, step: number): void {
  const db = new Database(path);
  db.pragma('journal_mode = WAL');
  db.prepare(`DELETE FROM shipped_items WHERE id % 7 = ?`).run(step % 7);
  db.prepare("INSERT INTO workflows (name, status, details) VALUES (?, 'ok', 'crash suite')").run(`churn-${step}`);
  db.close();
}

const PRUNE_POLICY = [
  '--point-keep-all-hours',
  '24',
  '--point-keep-hourly-days',
  '2',
  '--point-keep-daily-days',
  '10',
  '--point-keep-monthly-months',
  '1',
];

/** The heavy jobs, each with what must hold after a SIGKILL at any instant. */
export const SCENARIOS: Scenario[] = [
  {
    job: 'backup',
    orders: 40000,
    writer: true,
    args: (f) => ['backup', '--db', f.db, '--backup-dir', f.backups],
    check: (f) => [...verifyBackups(f)],
  },
  {
    // A restore point after a VACUUM-sized change (every page moved), with earlier points beside it.
    job: 'backup-incremental',
    orders: 60000,
    writer: true,
    prepare: (f) => {
      for (let i = 0; i < 2; i++) {
        churn(f.db, i);
        const r = cli(['backup', '--incremental', '--db', f.db, '--backup-dir', f.backups]);
        if (r.code !== 0) throw new Error(`could not take the earlier points: ${r.stderr}`);
      }
      const db = new Database(f.db);
      db.exec('DELETE FROM shipped_items WHERE id % 2 = 0; VACUUM');
      db.close();
    },
    args: (f) => ['backup', '--incremental', '--db', f.db, '--backup-dir', f.backups],
    check: (f) => verifyPoints(f),
  },
  {
    // Points over two months, pruned to a policy that drops most of them.
    job: 'backup-prune',
    orders: 3000,
    writer: false,
    prepare: async (f) => {
      const store = localPointStore(f.backups);
      const now = Date.now();
      for (let i = 0; i < 40; i++) {
        churn(f.db, i);
        const at = new Date(now - (60 - i * 1.5) * 86_400_000);
        const r = await store.take({ database: f.db, now: at });
        if (r.status !== 'taken') throw new Error(`could not take point ${i}: ${r.reason}`);
      }
    },
    args: (f) => ['backup', 'prune', '--backup-dir', f.backups, ...PRUNE_POLICY],
    check: (f, _t, afterRerun) => {
      const problems = verifyPoints(f);
      if (afterRerun) {
        const dry = cli(['backup', 'prune', '--backup-dir', f.backups, ...PRUNE_POLICY, '--dry-run', '--json']);
        const dropped = dry.code === 0 ? (JSON.parse(dry.stdout) as { dropped: string[] }).dropped : ['?'];
        if (dropped.length > 0) problems.push(`the rerun left ${dropped.length} point(s) the policy drops`);
      }
      return problems;
    },
  },
  {
    job: 'restore',
    orders: 30000,
    writer: true,
    prepare: (f) => {
      const r = cli(['backup', '--db', f.db, '--backup-dir', f.backups]);
      if (r.code !== 0) throw new Error(`could not take the backup to restore: ${r.stderr}`);
    },
    args: (f) => ['restore', 'latest', '--db', f.db, '--backup-dir', f.backups],
    check: (f) => {
      const leftovers = readdirSync(f.dir).filter((n) => /^ora_before_restore_.*\.db$/.test(n));
      const partial = leftovers.map((n) => integrity(join(f.dir, n))).filter((p): p is string => p !== null);
      return partial.length ? [`a pre-restore copy is not a sound database: ${partial[0]}`] : [];
    },
  },
  {
    job: 'daily-maintenance',
    orders: 100000,
    writer: true,
    args: (f) => ['daily-maintenance', '--db', f.db, '--analysis-limit', '0'],
    check: () => [],
  },
  {
    job: 'weekly-vacuum',
    orders: 100000,
    writer: true,
    prepare: (f) => {
      const db = new Database(f.db);
      db.exec('DELETE FROM shipped_items WHERE id % 2 = 0; DELETE FROM inventory_transactions WHERE id % 2 = 0');
      db.pragma('wal_checkpoint(TRUNCATE)');
      db.close();
    },
    args: (f) => ['weekly-vacuum', '--db', f.db, '--force', '--mode', 'full', '--vacuum-threshold-pct', '0'],
    check: () => [],
  },
  {
    job: 'archive',
    orders: 20000,
    writer: true,
    // Small batches under a tight lock bound: hundreds of batches, so most kills land mid-run.
    args: (f) => ['archive', '--db', f.db, '--before', '2026-10-01', '--batch-size', '20', '--max-lock-ms', '5'],
    check: (f, t, afterRerun) => {
      const problems: string[] = [];
      for (const table of ARCHIVED) {
        const now = tableDigest([f.db, ...archiveFiles(f)], table, !afterRerun);
        if (Array.isArray(now)) problems.push(...now);
        else if (now !== t.digest[table]) problems.push(`${table}: live + archive rows differ from the original`);
      }
      if (afterRerun) {
        const db = new Database(f.db, { readonly: true });
        const left = db.prepare("SELECT count(*) FROM shipped_orders WHERE ship_date < '2026-10-01'").pluck().get();
        db.close();
        if (left !== 0) problems.push(`${left} eligible orders are still live after the rerun`);
      }
      for (const a of archiveFiles(f)) {
        const p = integrity(a);
        if (p) problems.push(p);
      }
      return problems;
    },
  },
  {
    job: 'recover',
    orders: 30000,
    writer: false,
    args: (f) => ['recover', '--db', f.db, '--force', '--replace'],
    check: (f, t, afterRerun) => {
      // Either nothing was swapped yet (the original, byte for byte) or the verified result was,
      // with the original kept byte for byte as the emergency copy (`--force` on a healthy file,
      // as here, names it ora_before_recover_*).
      const copies = readdirSync(f.dir).filter((n) => /^ora_(corrupted|before_recover)_.*\.db$/.test(n));
      const original = contentHash(f.db) === t.hash;
      const kept = copies.some((n) => contentHash(join(f.dir, n)) === t.hash);
      const problems: string[] = [];
      if (!original && !kept) problems.push('the database changed and no emergency copy holds the original');
      if (!original) {
        for (const table of ARCHIVED) {
          const now = tableDigest([f.db], table, false);
          if (now !== t.digest[table]) problems.push(`${table}: the recovered rows differ from the original`);
        }
      }
      if (
        afterRerun &&
        readdirSync(f.dir).some((n) => n.startsWith('.ora-recover-') || n.startsWith('.ora-restore-'))
      ) {
        problems.push('a partial output of the killed run is still there after the rerun');
      }
      return problems;
    },
  },
];

/** Builds the template for a scenario once; each seed then works on a copy. */
export async function prepareTemplate(scenario: Scenario): Promise<Template> {
  const dir = mkdtempSync(join(tmpdir(), `ora-crash-template-${scenario.job}-`));
  const files = { dir, db: join(dir, 'ora.db'), backups: join(dir, 'backups') };
  createOraDatabase(files.db, scenario.orders);
  await scenario.prepare?.(files);
  const db = new Database(files.db);
  db.pragma('wal_checkpoint(TRUNCATE)');
  db.close();
  const digest: Record<string, string> = {};
  for (const table of ARCHIVED) digest[table] = tableDigest([files.db], table, false) as string;
  return { files, digest, hash: contentHash(files.db) };
}

function copyTemplate(template: Template): CrashFiles {
  const dir = mkdtempSync(join(tmpdir(), 'ora-crash-'));
  const files = { dir, db: join(dir, 'ora.db'), backups: join(dir, 'backups') };
  copyFileSync(template.files.db, files.db);
  if (existsSync(template.files.backups)) cpSync(template.files.backups, files.backups, { recursive: true });
  return files;
}

async function runJob(
  args: string[],
  killAfterMs: number | null,
): Promise<{ code: number | null; signal: string | null; ms: number; stderr: string }> {
  const started = performance.now();
  const child = spawn(process.execPath, [CLI, ...args], {
    stdio: ['ignore', 'ignore', 'pipe'],
    env: { PATH: process.env.PATH ?? '', ORA_LOG_LEVEL: 'warn' },
  });
  let stderr = '';
  child.stderr.on('data', (d) => {
    stderr += d;
  });
  const timer = killAfterMs === null ? null : setTimeout(() => child.kill('SIGKILL'), killAfterMs);
  const [code, signal] = await new Promise<[number | null, string | null]>((r) =>
    child.once('exit', (c, s) => r([c, s])),
  );
  if (timer) clearTimeout(timer);
  return { code, signal, ms: performance.now() - started, stderr };
}

/** Runs the job uninterrupted once (with the writer) and returns how long it took, in ms. */
export async function calibrate(scenario: Scenario, template: Template): Promise<number> {
  const files = copyTemplate(template);
  try {
    const writer = scenario.writer ? await startWriter(files.db) : null;
    const run = await runJob(scenario.args(files), null);
    await writer?.stop();
    if (run.code !== 0) throw new Error(`${scenario.job} fails even without a crash (exit ${run.code}): ${run.stderr}`);
    return run.ms;
  } finally {
    rmSync(files.dir, { recursive: true, force: true });
  }
}

/** One crash run: kill at a seeded instant within the job's calibrated duration, then check and rerun. */
export async function crashOnce(
  scenario: Scenario,
  template: Template,
  durationMs: number,
  seed: number,
): Promise<CrashOutcome> {
  const files = copyTemplate(template);
  // Anywhere in the run, but not mostly in Node's start-up (the first ~200 ms of every run).
  const delayMs = Math.floor((0.2 + 0.8 * prng(seed)()) * durationMs);
  const outcome: CrashOutcome = {
    job: scenario.job,
    seed,
    delayMs,
    killedMidRun: false,
    writerCommits: 0,
    writerFailures: 0,
    problems: [],
  };
  try {
    const writer = scenario.writer ? await startWriter(files.db) : null;
    const killed = await runJob(scenario.args(files), delayMs);
    outcome.killedMidRun = killed.signal === 'SIGKILL';
    if (!outcome.killedMidRun && killed.code !== 0)
      outcome.problems.push(
        `the job exited ${killed.code} before the kill: ${killed.stderr.trim().split('\n').at(-1)}`,
      );
    const report = writer ? await writer.stop() : null;
    outcome.writerCommits = report?.commits ?? 0;
    outcome.writerFailures = report?.failures ?? 0;
    if (report && report.failures > 0)
      outcome.problems.push(`the writer failed ${report.failures} times: ${report.errors[0]}`);
    const check = (afterRerun: boolean) => {
      const found = [integrity(files.db), ...scenario.check(files, template, afterRerun)].filter(
        (p): p is string => !!p,
      );
      // A restore replaces the rows committed before it: they must be in a pre-restore copy.
      const copies = readdirSync(files.dir)
        .filter((n) => scenario.job === 'restore' && /^ora_before_restore_.*\.db$/.test(n))
        .map((n) => join(files.dir, n));
      if (report && found.length === 0) found.push(...writerRowsCheck(files, report.names, copies));
      return found;
    };
    outcome.problems.push(...check(false).map((p) => `after the kill: ${p}`));
    const rerun = await runJob(scenario.args(files), null);
    if (rerun.code !== 0)
      outcome.problems.push(`the rerun exited ${rerun.code}: ${rerun.stderr.trim().split('\n').at(-1)}`);
    else outcome.problems.push(...check(true).map((p) => `after the rerun: ${p}`));
  } catch (error) {
    outcome.problems.push(`the harness failed: ${(error as Error).stack}`);
  } finally {
    if (outcome.problems.length === 0) rmSync(files.dir, { recursive: true, force: true });
    else outcome.problems.push(`files kept in ${files.dir}`);
  }
  return outcome;
}

export function removeTemplate(template: Template): void {
  rmSync(template.files.dir, { recursive: true, force: true });
}
