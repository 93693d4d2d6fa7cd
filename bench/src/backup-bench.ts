import { spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startWriter, type WriterReport } from '@ora/testkit';
import { fmt, type Summary, summarize } from './stats.js';

export interface BackupBenchResult {
  fixtureMib: number;
  ours: Summary;
  /** The same backup with `--encrypt-key-file` (a raw 32-byte key), in the same alternation. */
  encrypted: Summary;
  ratioEncryptedOverOurs: number;
  guide: Summary | null;
  sqliteBackup: Summary | null;
  ratioGuideOverOurs: number | null;
  artifactBytes: { ours: number; guideGzip6: number | null };
  writer: { idle: WriterReport; duringBackup: WriterReport; p99Ratio: number };
  notes: string[];
}

function has(cmd: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${cmd}`]).status === 0;
}

function time(fn: () => void): number {
  const t = performance.now();
  fn();
  return performance.now() - t;
}

function run(cmd: string, args: string[], env: NodeJS.ProcessEnv = process.env): void {
  const r = spawnSync(cmd, args, { stdio: ['ignore', 'ignore', 'pipe'], env });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed: ${r.stderr}`);
}

/**
 * Backup, three ways, on the same file, in alternation (A B C A B C …):
 * - ours: `backup` bundle (consistent snapshot, full integrity_check, zstd, SHA-256, round trip, manifest);
 * - ours encrypted: the same with `--encrypt-key-file` (a raw 32-byte key: AES-256-GCM chunks);
 * - the guide: `cp` + `sqlite3 … "PRAGMA integrity_check"` + `gzip -6` (its backup_database.sh);
 * - `sqlite3 .backup` alone (a consistent copy, no check, no compression).
 * Then a writer at 100 commits/s: its latency idle and during our backup.
 */
export async function benchBackup(root: string, db: string, runs: number): Promise<BackupBenchResult> {
  const bundle = join(root, 'functions/backup/dist/index.mjs');
  const work = mkdtempSync(join(tmpdir(), 'ora-bench-'));
  const notes: string[] = [];
  const canGuide = has('sqlite3') && has('gzip');
  if (!canGuide) notes.push('sqlite3 or gzip is not installed: the guide and sqlite3 .backup columns were skipped');
  const ours: number[] = [];
  const encrypted: number[] = [];
  const keyFile = join(work, 'bench.key');
  writeFileSync(keyFile, randomBytes(32), { mode: 0o600 });
  const guide: number[] = [];
  const sqliteBackup: number[] = [];
  let oursBytes = 0;
  let guideBytes: number | null = null;
  const env = { ...process.env, ORA_LOG_LEVEL: 'warn' };
  try {
    for (let i = 0; i < runs; i++) {
      const dir = join(work, `ours-${i}`);
      ours.push(time(() => run(process.execPath, [bundle, '--db', db, '--backup-dir', dir], env)));
      const art = readdirSync(dir).find((f) => f.endsWith('.zst'));
      oursBytes = statSync(join(dir, art as string)).size;
      rmSync(dir, { recursive: true, force: true });
      const encDir = join(work, `encrypted-${i}`);
      encrypted.push(
        time(() =>
          run(process.execPath, [bundle, '--db', db, '--backup-dir', encDir, '--encrypt-key-file', keyFile], env),
        ),
      );
      rmSync(encDir, { recursive: true, force: true });
      if (canGuide) {
        const copy = join(work, `guide-${i}.db`);
        guide.push(
          time(() =>
            run('sh', [
              '-c',
              `cp "${db}" "${copy}" && sqlite3 "${copy}" "PRAGMA integrity_check;" | grep -qx ok && gzip -6 "${copy}"`,
            ]),
          ),
        );
        guideBytes = statSync(`${copy}.gz`).size;
        rmSync(`${copy}.gz`, { force: true });
        const out = join(work, `sqlite-${i}.db`);
        sqliteBackup.push(time(() => run('sqlite3', [db, `.backup '${out}'`])));
        rmSync(out, { force: true });
      }
      console.error(
        `bench backup: run ${i + 1}/${runs}: ours ${fmt(ours.at(-1) ?? 0)}, encrypted ${fmt(encrypted.at(-1) ?? 0)}${canGuide ? `, guide ${fmt(guide.at(-1) ?? 0)}, sqlite3 .backup ${fmt(sqliteBackup.at(-1) ?? 0)}` : ''}`,
      );
    }
    // The writer: idle first, then during our backup.
    const writerSeconds = Math.max(3, Math.min(10, (summarize(ours).median / 1000) * 1.2));
    const idleWriter = await startWriter(db, { ratePerSecond: 100 });
    await new Promise((r) => setTimeout(r, writerSeconds * 1000));
    const idle = await idleWriter.stop();
    const busyWriter = await startWriter(db, { ratePerSecond: 100 });
    const dir = join(work, 'ours-writer');
    await new Promise<void>((resolve, reject) => {
      const child = spawn(process.execPath, [bundle, '--db', db, '--backup-dir', dir], { stdio: 'ignore', env });
      child.once('exit', (code: number) =>
        code === 0 ? resolve() : reject(new Error(`backup under load exited ${code}`)),
      );
    });
    const during = await busyWriter.stop();
    const s = summarize(ours);
    const e = summarize(encrypted);
    const g = canGuide ? summarize(guide) : null;
    return {
      fixtureMib: Math.round(statSync(db).size / 1048576),
      ours: s,
      encrypted: e,
      ratioEncryptedOverOurs: Math.round((e.median / s.median) * 100) / 100,
      guide: g,
      sqliteBackup: canGuide ? summarize(sqliteBackup) : null,
      ratioGuideOverOurs: g ? Math.round((g.median / s.median) * 100) / 100 : null,
      artifactBytes: { ours: oursBytes, guideGzip6: guideBytes },
      writer: {
        idle,
        duringBackup: during,
        p99Ratio: Math.round((during.p99Ms / Math.max(idle.p99Ms, 0.001)) * 100) / 100,
      },
      notes,
    };
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}
