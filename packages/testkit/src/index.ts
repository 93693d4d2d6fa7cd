import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  closeSync,
  existsSync,
  mkdtempSync,
  openSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeSync,
} from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import Database from 'better-sqlite3';

const require = createRequire(import.meta.url);

/** A fresh temp directory; `cleanup()` removes it. WAL needs real files, never `:memory:`. */
export function tempDir(prefix = 'ora-test-'): { dir: string; path: (name: string) => string; cleanup: () => void } {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  return { dir, path: (name) => join(dir, name), cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

/**
 * Every file in `dir` with its size and SHA-256: compare before/after to prove nothing changed.
 * `ignoreCompanions` leaves out an empty `-wal` and the `-shm` index, which SQLite itself creates
 * when a read-only connection opens a WAL database that no other connection has open.
 */
export function snapshotDir(dir: string, options: { ignoreCompanions?: boolean } = {}): Record<string, string> {
  const out: Record<string, string> = {};
  for (const name of readdirSync(dir).sort()) {
    if (
      options.ignoreCompanions &&
      (name.endsWith('-shm') || (name.endsWith('-wal') && statSync(join(dir, name)).size === 0))
    ) {
      continue;
    }
    const p = join(dir, name);
    const s = statSync(p);
    out[name] = s.isFile()
      ? `${s.size}:${createHash('sha256').update(readFileSync(p)).digest('hex').slice(0, 16)}`
      : 'dir';
  }
  return out;
}

/** A hash of every row of every table (order-independent of page layout): the logical content. */
export function contentHash(path: string): string {
  const db = new Database(path, { readonly: true, fileMustExist: true });
  try {
    const hash = createHash('sha256');
    const tables = db
      .prepare("SELECT name FROM sqlite_schema WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name")
      .pluck()
      .all() as string[];
    for (const t of tables) {
      hash.update(t);
      for (const row of db.prepare(`SELECT * FROM "${t}" ORDER BY rowid`).raw().iterate()) {
        hash.update(JSON.stringify(row));
      }
    }
    return hash.digest('hex');
  } finally {
    db.close();
  }
}

/**
 * Starts a child process that opens `path` and holds a lock until killed: `write` holds the
 * write lock (BEGIN IMMEDIATE); `exclusive` holds an exclusive lock that also keeps readers out
 * (locking_mode=EXCLUSIVE plus a write). Resolves once the lock is held.
 */
export async function holdLock(
  path: string,
  kind: 'write' | 'exclusive',
): Promise<{ child: ChildProcess; release: () => Promise<void> }> {
  const script = `
    const Database = require(${JSON.stringify(require.resolve('better-sqlite3'))});
    const db = new Database(${JSON.stringify(path)}, { fileMustExist: true });
    ${kind === 'exclusive' ? "db.pragma('locking_mode = EXCLUSIVE'); db.exec('BEGIN EXCLUSIVE');" : "db.exec('BEGIN IMMEDIATE');"}
    process.stdout.write('locked\\n');
    setInterval(() => {}, 1000);
  `;
  const child = spawn(process.execPath, ['-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
  await new Promise<void>((resolve, reject) => {
    child.once('error', reject);
    child.once('exit', (code) => reject(new Error(`lock holder exited early with ${code}`)));
    child.stdout?.on('data', (d: Buffer) => {
      if (d.toString().includes('locked')) resolve();
    });
  });
  return {
    child,
    release: () =>
      new Promise<void>((resolve) => {
        child.removeAllListeners('exit');
        child.once('exit', () => resolve());
        child.kill('SIGKILL');
      }),
  };
}

/** Overwrites page `pageNumber` (1-based) of a database file with `byte` (checkpoint first). */
export function damagePage(path: string, pageNumber: number, byte = 0xff): void {
  const pageSize = readFileSync(path).readUInt16BE(16);
  const fd = openSync(path, 'r+');
  try {
    writeSync(fd, Buffer.alloc(pageSize, byte), 0, pageSize, (pageNumber - 1) * pageSize);
  } finally {
    closeSync(fd);
  }
}

/** Root page number of a table or index, to aim damage at it. */
export function rootPage(path: string, name: string): number {
  const db = new Database(path, { readonly: true, fileMustExist: true });
  try {
    return db.prepare('SELECT rootpage FROM sqlite_schema WHERE name = ?').pluck().get(name) as number;
  } finally {
    db.close();
  }
}

export interface WriterReport {
  commits: number;
  /** The `workflows.name` of every committed row, to check that none was lost. */
  names: string[];
  failures: number;
  errors: string[];
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
}

/**
 * Starts a child process that commits small write transactions (`BEGIN IMMEDIATE`, one insert,
 * `COMMIT`) at `ratePerSecond`, as a production application would, and records each commit's
 * latency. `stop()` ends it and returns what it saw.
 */
export async function startWriter(
  path: string,
  options: { ratePerSecond?: number; busyTimeoutMs?: number } = {},
): Promise<{ stop: () => Promise<WriterReport> }> {
  const rate = options.ratePerSecond ?? 100;
  const script = `
    const Database = require(${JSON.stringify(require.resolve('better-sqlite3'))});
    const db = new Database(${JSON.stringify(path)}, { fileMustExist: true, timeout: ${options.busyTimeoutMs ?? 8000} });
    db.pragma('journal_mode = WAL'); db.pragma('synchronous = NORMAL');
    const insert = db.prepare("INSERT INTO workflows (name, status, details) VALUES (?, 'ok', 'writer')");
    const lat = []; const names = []; let failures = 0; const errors = []; let n = 0; let stopping = false;
    const tick = () => {
      if (stopping) return;
      const t = performance.now();
      const name = 'writer-' + process.pid + '-' + (n++);
      try { db.exec('BEGIN IMMEDIATE'); insert.run(name); db.exec('COMMIT'); lat.push(performance.now() - t); names.push(name); }
      catch (e) { failures++; if (errors.length < 5) errors.push(e.code + ': ' + e.message); try { db.exec('ROLLBACK'); } catch {} }
    };
    const timer = setInterval(tick, ${Math.max(1, Math.round(1000 / rate))});
    process.stdout.write('started\\n');
    process.stdin.on('data', () => {
      stopping = true; clearInterval(timer);
      lat.sort((a, b) => a - b);
      const q = (p) => lat.length ? lat[Math.min(lat.length - 1, Math.floor(p * lat.length))] : 0;
      process.stdout.write(JSON.stringify({ commits: lat.length, names, failures, errors, p50Ms: q(0.5), p99Ms: q(0.99), maxMs: lat.length ? lat[lat.length - 1] : 0 }) + '\\n');
      db.close(); process.exit(0);
    });
  `;
  const child = spawn(process.execPath, ['-e', script], { stdio: ['pipe', 'pipe', 'inherit'] });
  let buffer = '';
  child.stdout?.on('data', (d: Buffer) => {
    buffer += d.toString();
  });
  await waitFor(() => buffer.includes('started'), child);
  return {
    stop: async () => {
      child.stdin?.write('stop\n');
      await waitFor(() => buffer.includes('{'), child);
      if (child.exitCode === null) await new Promise((r) => child.once('exit', r));
      return JSON.parse(buffer.slice(buffer.indexOf('{'))) as WriterReport;
    },
  };
}

/**
 * Starts a child process holding a read transaction open on `path` (a long report query, say),
 * which pins the WAL: no checkpoint can move past its snapshot until it ends.
 */
export async function holdReader(path: string): Promise<{ release: () => Promise<void> }> {
  const script = `
    const Database = require(${JSON.stringify(require.resolve('better-sqlite3'))});
    const db = new Database(${JSON.stringify(path)}, { fileMustExist: true });
    db.exec('BEGIN'); db.prepare('SELECT count(*) FROM sqlite_schema').get();
    process.stdout.write('reading\\n');
    setInterval(() => {}, 1000);
  `;
  const child = spawn(process.execPath, ['-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
  let buffer = '';
  child.stdout?.on('data', (d: Buffer) => {
    buffer += d.toString();
  });
  await waitFor(() => buffer.includes('reading'), child);
  return {
    release: () =>
      new Promise<void>((resolve) => {
        child.once('exit', () => resolve());
        child.kill('SIGKILL');
      }),
  };
}

async function waitFor(condition: () => boolean, child: ChildProcess, timeoutMs = 10_000): Promise<void> {
  const started = Date.now();
  while (!condition()) {
    if (child.exitCode !== null) throw new Error(`child exited with ${child.exitCode}`);
    if (Date.now() - started > timeoutMs) throw new Error('child did not answer in time');
    await new Promise((r) => setTimeout(r, 10));
  }
}

export interface RunResult {
  code: number | null;
  stdout: string;
  stderr: string;
  /** stderr parsed as JSON lines (the harness's log format). */
  logs: { level: string; code?: string; msg: string; [k: string]: unknown }[];
  // biome-ignore lint/suspicious/noExplicitAny: tests read arbitrary result fields.
  json: () => Record<string, any>;
}

/**
 * Runs a function's bundle (dist/index.mjs) as a child process, as a container would: only the
 * environment given (plus PATH), and the function package's directory as `root`. Builds the
 * bundle first when vitest runs without turbo having built it.
 */
export function bundleRunner(root: string): (args: string[], env?: Record<string, string>, cwd?: string) => RunResult {
  const bundle = join(root, 'dist/index.mjs');
  return (args, env = {}, cwd = root) => {
    if (!existsSync(bundle)) {
      const built = spawnSync(process.execPath, ['../../scripts/bundle.mjs', 'src/index.ts', 'dist/index.mjs'], {
        cwd: root,
      });
      if (built.status !== 0) throw new Error(`bundle failed: ${built.stderr}`);
    }
    const r = spawnSync(process.execPath, [bundle, ...args], {
      cwd,
      env: { PATH: process.env.PATH, ...env },
      encoding: 'utf8',
    });
    return {
      code: r.status,
      stdout: r.stdout,
      stderr: r.stderr,
      logs: parseLogLines(r.stderr),
      json: () => JSON.parse(r.stdout),
    };
  };
}

/** Waits for a child process to end, collecting its output. */
export function collectOutput(child: ChildProcess): Promise<{ code: number | null; stdout: string; stderr: string }> {
  let stdout = '';
  let stderr = '';
  child.stdout?.on('data', (d) => {
    stdout += d;
  });
  child.stderr?.on('data', (d) => {
    stderr += d;
  });
  return new Promise((resolvePromise, reject) => {
    child.once('error', reject);
    child.once('close', (code) => resolvePromise({ code, stdout, stderr }));
  });
}

/** The same as `bundleRunner`, but without blocking: other children (writers) keep running meanwhile. */
export function bundleRunnerAsync(root: string): (args: string[], env?: Record<string, string>) => Promise<RunResult> {
  const bundle = join(root, 'dist/index.mjs');
  return async (args, env = {}) => {
    const child = spawn(process.execPath, [bundle, ...args], { cwd: root, env: { PATH: process.env.PATH, ...env } });
    const { code, stdout, stderr } = await collectOutput(child);
    return { code, stdout, stderr, logs: parseLogLines(stderr), json: () => JSON.parse(stdout) };
  };
}

/** stderr as JSON log lines; a line that is not JSON (which the harness should never print) is kept as `{ level: 'NOT-JSON' }`. */
function parseLogLines(text: string): RunResult['logs'] {
  return text
    .split('\n')
    .filter(Boolean)
    .map((line) => {
      try {
        return JSON.parse(line);
      } catch {
        return { level: 'NOT-JSON', msg: line };
      }
    });
}

/** The streams a harness run writes to, captured as strings (structurally the harness's `Io`). */
export interface CapturedIo {
  env: Record<string, string | undefined>;
  stdout: Writable;
  stderr: Writable;
  stderrIsTTY: boolean;
  out: () => string;
  err: () => string;
}

/** An Io for running the CLI in-process: stdout and stderr are captured, stderr is not a TTY. */
export function captureIo(env: Record<string, string | undefined> = {}): CapturedIo {
  let out = '';
  let err = '';
  const sink = (append: (s: string) => void) =>
    new Writable({
      write(chunk, _enc, cb) {
        append(chunk.toString());
        cb();
      },
    });
  return {
    env,
    stdout: sink((s) => {
      out += s;
    }),
    stderr: sink((s) => {
      err += s;
    }),
    stderrIsTTY: false,
    out: () => out,
    err: () => err,
  };
}

/** The writer rows (`workflows.name`) found in none of the database files `paths`. */
export function missingWriterRows(paths: string[], names: string[]): string[] {
  const found = new Set<string>();
  for (const path of paths) {
    const db = new Database(path, { readonly: true, fileMustExist: true });
    try {
      for (const n of db.prepare("SELECT name FROM workflows WHERE name LIKE 'writer-%'").pluck().all() as string[])
        found.add(n);
    } catch (error) {
      throw new Error(`cannot read the writer rows of ${path}: ${(error as Error).message}`, { cause: error });
    } finally {
      db.close();
    }
  }
  return names.filter((n) => !found.has(n));
}

export { fillUpTo, mountTmpfs } from './full-disk.js';
export {
  CHINOOK_FIXTURE,
  copyChinook,
  createKitchenSinkDatabase,
  type KitchenSinkDatabase,
  type KitchenSinkOptions,
  tableContents,
} from './kitchen-sink.js';
