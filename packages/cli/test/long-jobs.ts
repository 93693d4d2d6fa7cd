import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { copyFileSync, existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createOraDatabase } from '@ora/core/testing';
import { tempDir } from '@ora/testkit';
import Database from 'better-sqlite3';
import { afterAll, beforeAll } from 'vitest';

export const root = join(dirname(fileURLToPath(import.meta.url)), '..');
export const bin = join(root, 'dist/ora-db.mjs');

/** Builds dist/ora-db.mjs when vitest runs without turbo having built it. */
export function ensureBundle(): void {
  if (existsSync(bin)) return;
  const built = spawnSync(process.execPath, ['../../scripts/bundle.mjs', 'src/bin.ts', 'dist/ora-db.mjs'], {
    cwd: root,
  });
  if (built.status !== 0) throw new Error(`bundle failed: ${built.stderr}`);
}

/**
 * A database big enough for a long job to be caught mid-run: `orders` demo orders dated
 * 2025-09-27 to 2026-11-01 (archive --before 2026-03-01 moves about two fifths) plus `fillerMiB`
 * of incompressible blobs, every other row of which is deleted (free pages, for VACUUM).
 */
export function bigDatabase(path: string, orders: number, fillerMiB: number): void {
  createOraDatabase(path, orders);
  const raw = new Database(path);
  try {
    const rows = Math.round((fillerMiB * 1048576) / 4000);
    raw.exec('CREATE TABLE filler (id INTEGER PRIMARY KEY, data BLOB)');
    raw
      .prepare(
        'WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < ?) INSERT INTO filler SELECT x, randomblob(4000) FROM c',
      )
      .run(rows);
    raw.exec('DELETE FROM filler WHERE id % 2 = 0');
    raw.pragma('wal_checkpoint(TRUNCATE)');
  } finally {
    raw.close();
  }
}

/**
 * A big database made once for a test file (in beforeAll) and removed after it; `fresh()` gives a
 * copy of it for one test.
 */
export function useBigDatabase(prefix: string, fillerMiB: number) {
  let t: ReturnType<typeof tempDir> | undefined;
  let n = 0;
  beforeAll(() => {
    ensureBundle();
    t = tempDir(prefix);
    bigDatabase(t.path('source.db'), 20_000, fillerMiB);
  }, 180_000);
  afterAll(() => t?.cleanup());
  const dir = () => (t as ReturnType<typeof tempDir>).dir;
  return {
    dir,
    fresh(): string {
      const db = join(dir(), `ora-${++n}.db`);
      copyFileSync(join(dir(), 'source.db'), db);
      return db;
    },
  };
}

/** The environment a child run gets: PATH, plus `env`. */
export function childEnv(env: Record<string, string> = {}): Record<string, string> {
  return { PATH: process.env.PATH ?? '', ...env };
}

/** Runs `ora-db args` inside a pseudo-terminal (util-linux `script`): returns what the terminal showed. */
export function inTerminal(args: string[], env: Record<string, string> = {}): { code: number | null; screen: string } {
  const quote = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;
  const command = [process.execPath, bin, ...args].map(quote).join(' ');
  const r = spawnSync('script', ['-q', '-e', '-c', command, '/dev/null'], {
    env: childEnv({ TERM: 'xterm', COLUMNS: '120', LINES: '40', ...env }),
    encoding: 'utf8',
    timeout: 180_000,
  });
  return { code: r.status, screen: r.stdout };
}

/** Runs `ora-db args` without a terminal (pipes): exit code, stdout, stderr as JSON log lines. */
export function withoutTerminal(args: string[], env: Record<string, string> = {}) {
  const r = spawnSync(process.execPath, [bin, ...args], { env: childEnv(env), encoding: 'utf8', timeout: 180_000 });
  const logs = r.stderr
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as { msg: string; level: string; code?: string; progress?: Record<string, unknown> });
  return { code: r.status, stdout: r.stdout, logs };
}

export interface Running {
  child: ChildProcess;
  stderr: () => string;
  /** Resolves once stderr has a line matching `pattern`. */
  waitFor: (pattern: RegExp, timeoutMs?: number) => Promise<void>;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null; at: number }>;
}

/** Starts `ora-db args` as a child process (no terminal). */
export function start(args: string[], env: Record<string, string> = {}): Running {
  const child = spawn(process.execPath, [bin, ...args], { env: childEnv(env), stdio: ['ignore', 'pipe', 'pipe'] });
  let err = '';
  const waiters: { pattern: RegExp; resolve: () => void }[] = [];
  child.stderr?.on('data', (d) => {
    err += d;
    for (const w of [...waiters]) {
      if (w.pattern.test(err)) {
        waiters.splice(waiters.indexOf(w), 1);
        w.resolve();
      }
    }
  });
  child.stdout?.resume();
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null; at: number }>((resolve) => {
    child.once('exit', (code, signal) => resolve({ code, signal, at: performance.now() }));
  });
  return {
    child,
    stderr: () => err,
    exited,
    waitFor: (pattern, timeoutMs = 120_000) =>
      new Promise<void>((resolve, reject) => {
        if (pattern.test(err)) return resolve();
        const timer = setTimeout(() => reject(new Error(`no ${pattern} in time; stderr: ${err}`)), timeoutMs);
        waiters.push({
          pattern,
          resolve: () => {
            clearTimeout(timer);
            resolve();
          },
        });
        void exited.then(() => {
          clearTimeout(timer);
          if (!pattern.test(err)) reject(new Error(`exited before ${pattern}; stderr: ${err}`));
        });
      }),
  };
}
