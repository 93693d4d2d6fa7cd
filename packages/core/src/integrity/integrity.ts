import type { OraDatabase } from '../connection/connection.js';
import { DatabaseCorruptError, NotADatabaseError } from '../errors/errors.js';
import { integrityPragmasInWorker } from './integrity-worker.js';

export interface IntegrityOptions {
  /** `integrity_check` (every page, every index entry) instead of `quick_check`. */
  full?: boolean;
  /** Most problems listed; the result says when there were more. */
  maxProblems?: number;
}

export interface IntegrityResult {
  mode: 'quick' | 'full';
  ok: boolean;
  /** SQLite's own problem lines, at most `maxProblems`. */
  problems: string[];
  /** True when there were more problems than listed. */
  truncated: boolean;
  durationMs: number;
}

/**
 * Runs `PRAGMA quick_check` (default) or `PRAGMA integrity_check` (`full`). Damage bad enough that
 * SQLite cannot even run the check (a corrupt schema page, say) is reported as a failed check
 * with SQLite's message, not thrown: finding damage is this function's job.
 */
export function checkIntegrity(db: OraDatabase, options: IntegrityOptions = {}): IntegrityResult {
  const mode = options.full ? 'full' : 'quick';
  const max = options.maxProblems ?? 100;
  const started = performance.now();
  // integrity_check reads every page and looks up every index entry: a large page cache and
  // memory-mapped reads make it several times faster (measured in docs/BACKUP.md). Ask for one
  // more than we list, to know whether the list was cut. `main.`: an attached database (restore
  // attaches its verified copy) is not this check's business.
  const [rows = []] = runChecks(db, [`PRAGMA main.${mode === 'full' ? 'integrity_check' : 'quick_check'}(${max + 1})`]);
  const ok = rows.length === 1 && rows[0] === 'ok';
  const problems = ok ? [] : rows.slice(0, max);
  return {
    mode,
    ok,
    problems,
    truncated: !ok && rows.length > max,
    durationMs: Math.round(performance.now() - started),
  };
}

/**
 * The full check (`integrity_check`, same guarantee) spread over two threads. SQLite documents a
 * partial check, `integrity_check(<table>)`, as covering that table and its indexes but not the
 * file as a whole (unused pages, a page used twice by two trees, the freelist); and `quick_check`
 * as everything `integrity_check` does except index-content-matches-table and UNIQUE checks. So
 * `quick_check` plus `integrity_check(<table>)` for every table checks everything the full
 * `integrity_check` does (the b-tree structure twice). These checks are shared between this
 * thread and a worker thread with its own read-only connection, largest first, by an estimate of
 * their cost. Each check reads one consistent snapshot; on a database being written, different
 * checks may read different (each consistent) snapshots, as successive runs would.
 * Falls back to checkIntegrity({ full: true }) where it cannot plan (e.g. an unreadable schema).
 */
export async function checkIntegrityParallel(
  db: OraDatabase,
  options: { maxProblems?: number } = {},
): Promise<IntegrityResult> {
  const max = options.maxProblems ?? 100;
  const started = performance.now();
  let tasks: { sql: string; cost: number }[];
  try {
    tasks = planChecks(db, max);
  } catch {
    return checkIntegrity(db, { full: true, maxProblems: max });
  }
  if (tasks.length < 2 || db.path === ':memory:' || db.path === '') {
    return checkIntegrity(db, { full: true, maxProblems: max });
  }
  // Longest first into two bins; the heavier bin runs here, so the worker's start-up (a thread, a
  // second connection) is on the shorter path.
  const bins: { sql: string; cost: number }[][] = [[], []];
  const loads = [0, 0];
  for (const task of [...tasks].sort((a, b) => b.cost - a.cost)) {
    const i = (loads[0] as number) <= (loads[1] as number) ? 0 : 1;
    bins[i]?.push(task);
    loads[i] = (loads[i] as number) + task.cost;
  }
  const [here, there] = (loads[0] as number) >= (loads[1] as number) ? bins : [bins[1], bins[0]];
  const elsewhere = integrityPragmasInWorker(
    db.path,
    (there ?? []).map((t) => t.sql),
  ).then(
    (rows) => ({ rows }),
    (error: unknown) => ({ error }),
  );
  const rowsHere = runChecks(
    db,
    (here ?? []).map((t) => t.sql),
  );
  const worker = await elsewhere;
  // A worker that could not run (no thread, say) leaves its checks to this thread.
  const rowsThere =
    'rows' in worker
      ? worker.rows
      : runChecks(
          db,
          (there ?? []).map((t) => t.sql),
        );
  const all = [...rowsHere, ...rowsThere];
  const ok = all.every((rows) => rows.length === 1 && rows[0] === 'ok');
  const problems = ok ? [] : [...new Set(all.flat().filter((line) => line !== 'ok'))];
  return {
    mode: 'full',
    ok,
    problems: problems.slice(0, max),
    truncated: !ok && (problems.length > max || all.some((rows) => rows.length > max)),
    durationMs: Math.round(performance.now() - started),
  };
}

/** quick_check of the whole file, and integrity_check of each table, with estimated costs. */
function planChecks(db: OraDatabase, max: number): { sql: string; cost: number }[] {
  return db.run(() => {
    const pageCount = Number(db.pragma('page_count'));
    const tables = db.prepare("SELECT name FROM sqlite_schema WHERE type = 'table'").pluck().all() as string[];
    const indexes = new Map(
      (
        db
          .prepare("SELECT tbl_name AS t, count(*) AS n FROM sqlite_schema WHERE type = 'index' GROUP BY tbl_name")
          .all() as { t: string; n: number }[]
      ).map((r) => [r.t, r.n]),
    );
    const ident = (name: string) => `"${name.replaceAll('"', '""')}"`;
    // Measured on an ORA database: ~5 µs per page for quick_check, ~0.17 µs per row and index
    // for a table's integrity_check. max(rowid) is a B-tree seek, a cheap stand-in for a count.
    const tasks = [{ sql: `PRAGMA quick_check(${max + 1})`, cost: pageCount * 30 }];
    for (const table of tables) {
      let rows: number;
      try {
        rows = Number(
          db
            .prepare(`SELECT max(rowid) FROM ${ident(table)}`)
            .pluck()
            .get() ?? 0,
        );
      } catch {
        rows = pageCount * 10; // WITHOUT ROWID or virtual: no cheap estimate, assume a large table
      }
      tasks.push({
        sql: `PRAGMA integrity_check(${ident(table)})`,
        cost: Math.max(1, rows) * (1 + (indexes.get(table) ?? 0)),
      });
    }
    return tasks;
  });
}

/** Runs integrity PRAGMAs on `db` with a large cache and mmap; damage is returned as problem lines. */
function runChecks(db: OraDatabase, statements: readonly string[]): string[][] {
  if (statements.length === 0) return [];
  const cache = Number(db.pragma('cache_size'));
  const mmap = Number(db.pragma('mmap_size'));
  try {
    db.pragma('cache_size = -262144');
    db.pragma('mmap_size = 4294967296');
    return statements.map((sql) => {
      try {
        return db.run(() => db.prepare(sql).pluck().all() as string[]);
      } catch (error) {
        if (error instanceof DatabaseCorruptError || error instanceof NotADatabaseError) return [error.message];
        throw error;
      }
    });
  } finally {
    db.pragma(`cache_size = ${cache}`);
    db.pragma(`mmap_size = ${mmap}`);
  }
}
