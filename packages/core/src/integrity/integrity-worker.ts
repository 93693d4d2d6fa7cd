import { createRequire } from 'node:module';
import { Worker } from 'node:worker_threads';
import { throwIfStopped } from '../errors/errors.js';
import type { IntegrityResult } from './integrity.js';

const require = createRequire(import.meta.url);

/**
 * Runs `source` (CommonJS, eval'd) in a worker thread with `workerData` (plus `driver`, the path of
 * better-sqlite3) and resolves with its first message. When `signal` aborts, it rejects at once
 * with StoppedError and the worker is unref'd: a statement running in native code cannot be
 * interrupted, so the process exits without waiting for it (SQLite rolls back an unfinished write
 * transaction on the next open, as after a crash).
 */
export function runSqliteWorker<T>(
  source: string,
  workerData: Record<string, unknown>,
  signal?: AbortSignal,
): Promise<T> {
  return new Promise((resolve, reject) => {
    const worker = new Worker(source, {
      eval: true,
      workerData: { ...workerData, driver: require.resolve('better-sqlite3') },
    });
    const onAbort = () => {
      worker.unref();
      try {
        throwIfStopped(signal);
      } catch (error) {
        reject(error);
      }
    };
    signal?.addEventListener('abort', onAbort, { once: true });
    worker.once('message', (message: T) => {
      signal?.removeEventListener('abort', onAbort);
      resolve(message);
      void worker.terminate();
    });
    worker.once('error', (error) => {
      signal?.removeEventListener('abort', onAbort);
      reject(error);
    });
  });
}

/**
 * Runs a full `integrity_check` of a database file (a snapshot, never the live database) in a
 * worker thread, so the main thread can compress the same file meanwhile: on a two-core machine
 * the two slowest steps of a backup overlap instead of adding up.
 */
export async function integrityCheckInWorker(
  path: string,
  maxProblems: number,
  signal?: AbortSignal,
): Promise<IntegrityResult> {
  const started = performance.now();
  const [rows = []] = await integrityPragmasInWorker(path, [`PRAGMA integrity_check(${maxProblems + 1})`], signal);
  const durationMs = Math.round(performance.now() - started);
  const ok = rows.length === 1 && rows[0] === 'ok';
  return {
    mode: 'full',
    ok,
    problems: ok ? [] : rows.slice(0, maxProblems),
    truncated: !ok && rows.length > maxProblems,
    durationMs,
  };
}

// A large page cache and memory-mapped reads make integrity_check several times faster.
const CHECKS_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const Database = require(workerData.driver);
const results = [];
try {
  const db = new Database(workerData.path, { readonly: true, fileMustExist: true });
  db.pragma('cache_size = -262144');
  db.pragma('mmap_size = 4294967296');
  for (const sql of workerData.statements) {
    try {
      results.push(db.prepare(sql).pluck().all());
    } catch (error) {
      results.push([String(error && error.message || error)]);
    }
  }
  db.close();
} catch (error) {
  results.push([String(error && error.message || error)]);
}
parentPort.postMessage(results);
`;

/**
 * Runs integrity PRAGMAs (`statements`, each returning SQLite's problem lines or `ok`) on their own
 * read-only connection to `path` in a worker thread; resolves with each statement's lines. An
 * error opening or running a statement is returned as that statement's single problem line.
 */
export function integrityPragmasInWorker(
  path: string,
  statements: readonly string[],
  signal?: AbortSignal,
): Promise<string[][]> {
  return runSqliteWorker<string[][]>(CHECKS_SOURCE, { path, statements }, signal);
}
