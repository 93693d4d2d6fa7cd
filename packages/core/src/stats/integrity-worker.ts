import { createRequire } from 'node:module';
import { Worker } from 'node:worker_threads';
import type { IntegrityResult } from './integrity.js';

const require = createRequire(import.meta.url);

const WORKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const Database = require(workerData.driver);
const started = performance.now();
let rows;
try {
  const db = new Database(workerData.path, { readonly: true, fileMustExist: true });
  // A large page cache and memory-mapped reads make integrity_check several times faster.
  db.pragma('cache_size = -262144');
  db.pragma('mmap_size = 4294967296');
  rows = db.prepare('PRAGMA integrity_check(' + (workerData.max + 1) + ')').pluck().all();
  db.close();
} catch (error) {
  rows = [String(error && error.message || error)];
}
parentPort.postMessage({ rows, durationMs: Math.round(performance.now() - started) });
`;

/**
 * Runs a full `integrity_check` of a database file (a snapshot, never the live database) in a
 * worker thread, so the main thread can compress the same file meanwhile: on a two-core machine
 * the two slowest steps of a backup overlap instead of adding up.
 */
export function integrityCheckInWorker(path: string, maxProblems: number): Promise<IntegrityResult> {
  return new Promise((resolve, reject) => {
    const worker = new Worker(WORKER_SOURCE, {
      eval: true,
      workerData: { path, max: maxProblems, driver: require.resolve('better-sqlite3') },
    });
    worker.once('message', ({ rows, durationMs }: { rows: string[]; durationMs: number }) => {
      const ok = rows.length === 1 && rows[0] === 'ok';
      resolve({
        mode: 'full',
        ok,
        problems: ok ? [] : rows.slice(0, maxProblems),
        truncated: !ok && rows.length > maxProblems,
        durationMs,
      });
      void worker.terminate();
    });
    worker.once('error', reject);
  });
}

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
export function integrityPragmasInWorker(path: string, statements: readonly string[]): Promise<string[][]> {
  return new Promise((resolve, reject) => {
    const worker = new Worker(CHECKS_SOURCE, {
      eval: true,
      workerData: { path, statements, driver: require.resolve('better-sqlite3') },
    });
    worker.once('message', (results: string[][]) => {
      resolve(results);
      void worker.terminate();
    });
    worker.once('error', reject);
  });
}
