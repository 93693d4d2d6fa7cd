import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { copyFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface GuideWriterReport {
  commits: number;
  failures: number;
  /** Failures whose message says `database is locked`. */
  locked: number;
  errors: string[];
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
}

export interface LiveRestoreRun {
  /** The restore job's own figures (its --json result). */
  lockHeldMs: number;
  totalMs: number;
  method: string;
  preRestoreCopyMethod: string;
  writer: GuideWriterReport;
}

export interface LiveRestoreBenchResult {
  fixtureMib: number;
  runs: LiveRestoreRun[];
  /** `sqlite3 .backup` of the same file (writing it once), to scale the hold on other machines. */
  sqliteBackupMs: number | null;
  notes: string[];
}

/**
 * The guide's own client (bench/guide/writer.py) committing at `rate`/s until stopped; with
 * `latencyLog`, it writes each commit's start (epoch ms) and latency (ms) there, one a line.
 */
export async function startGuideWriter(
  root: string,
  db: string,
  rate: number,
  latencyLog?: string,
): Promise<{ child: ChildProcess; stop: () => Promise<GuideWriterReport> }> {
  const args = [join(root, 'bench/guide/writer.py'), db, String(rate), ...(latencyLog ? ['SKU-0001', latencyLog] : [])];
  const child = spawn('python3', args, { stdio: ['pipe', 'pipe', 'inherit'] });
  let out = '';
  child.stdout?.on('data', (d: Buffer) => {
    out += d.toString();
  });
  await new Promise<void>((resolve, reject) => {
    const t = setInterval(() => {
      if (out.includes('started')) {
        clearInterval(t);
        resolve();
      } else if (child.exitCode !== null) {
        clearInterval(t);
        reject(new Error('the guide writer exited before it started'));
      }
    }, 20);
  });
  return {
    child,
    stop: async () => {
      child.stdin?.write('stop\n');
      await new Promise((r) => child.once('exit', r));
      return JSON.parse(out.slice(out.indexOf('{'))) as GuideWriterReport;
    },
  };
}

/** Runs `cmd args` (default: this Node) with ORA_LOG_LEVEL=warn; its exit code and output. */
export function runJob(
  args: string[],
  cmd: string = process.execPath,
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(cmd, args, {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, ORA_LOG_LEVEL: 'warn' },
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => {
      stdout += d.toString();
    });
    child.stderr.on('data', (d: Buffer) => {
      stderr += d.toString();
    });
    child.once('exit', (code) => resolve({ code, stdout, stderr }));
  });
}

/**
 * 6. Live restore of the fixture (a copy of it) while the guide's own client writes: its
 * `DatabaseConnection` (timeout=30, busy_timeout 8000, its PRAGMAs) and `add_inventory_transaction`,
 * copied from the operations guide into bench/guide/writer.py, at 50 transactions/s from before
 * the restore starts until after it ends. Reports the restore's write-lock hold and total time,
 * and the writer's errors (any `database is locked`) and longest call.
 */
export async function benchLiveRestore(
  root: string,
  db: string,
  fixtureMib: number,
  runs: number,
): Promise<LiveRestoreBenchResult | null> {
  if (spawnSync('python3', ['-c', 'import sqlite3']).status !== 0) return null;
  const work = mkdtempSync(join(tmpdir(), 'ora-bench-live-restore-'));
  const live = join(work, 'live.db');
  const backups = join(work, 'b');
  const notes: string[] = [];
  const out: LiveRestoreRun[] = [];
  const result: LiveRestoreBenchResult = { fixtureMib, runs: out, sqliteBackupMs: null, notes };
  try {
    copyFileSync(db, live);
    let sqliteBackupMs: number | null = null;
    if (spawnSync('sh', ['-c', 'command -v sqlite3']).status === 0) {
      const t = performance.now();
      const r = spawnSync('sqlite3', [live, `.backup '${join(work, 'plain.db')}'`], { stdio: 'ignore' });
      if (r.status === 0) sqliteBackupMs = Math.round(performance.now() - t);
      rmSync(join(work, 'plain.db'), { force: true });
    }
    result.sqliteBackupMs = sqliteBackupMs;
    const b = await runJob([join(root, 'functions/backup/dist/index.mjs'), '--db', live, '--backup-dir', backups]);
    if (b.code !== 0) throw new Error(`bench live restore: backup failed: ${b.stderr}`);
    for (let i = 0; i < runs; i++) {
      const writer = await startGuideWriter(root, live, 50);
      await new Promise((r) => setTimeout(r, 1000));
      const t = performance.now();
      const r = await runJob([
        join(root, 'functions/restore/dist/index.mjs'),
        'latest',
        '--db',
        live,
        '--backup-dir',
        backups,
        '--json',
      ]);
      const totalMs = performance.now() - t;
      await new Promise((r) => setTimeout(r, 1000));
      const report = await writer.stop();
      if (r.code !== 0) throw new Error(`bench live restore: restore exited ${r.code}: ${r.stderr}`);
      const result = JSON.parse(r.stdout) as { lockHeldMs: number; method: string; preRestoreCopyMethod: string };
      out.push({
        lockHeldMs: result.lockHeldMs,
        totalMs: Math.round(totalMs),
        method: result.method,
        preRestoreCopyMethod: result.preRestoreCopyMethod,
        writer: report,
      });
      console.error(
        `bench live restore: run ${i + 1}/${runs}: lock held ${result.lockHeldMs} ms, total ${(totalMs / 1000).toFixed(1)} s; guide writer ${report.commits} commits, ${report.failures} failures (${report.locked} 'database is locked'), max ${report.maxMs.toFixed(0)} ms`,
      );
      // The copy of what each restore replaced stays beside the database: not needed here.
      spawnSync('sh', ['-c', `rm -f "${work}"/ora_before_restore_*`]);
    }
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
  return result;
}
