import { existsSync, readFileSync, renameSync, statSync } from 'node:fs';
import type { OraDatabase, Statement } from '../connection/connection.js';
import { appendNoFollow } from '../fs/files.js';

export interface SlowQueryLogOptions {
  /** NDJSON file the slow statements are appended to. */
  file: string;
  /** Statements taking at least this long are recorded. */
  thresholdMs: number;
  /** When the file would grow past this, it is moved to `<file>.1` (replacing it): at most twice this on disk. */
  maxBytes: number;
}

/** One recorded statement. Parameters are never recorded: they can hold personal data or secrets. */
export interface SlowQueryEntry {
  ts: string;
  ms: number;
  sql: string;
}

const MAX_SQL_CHARS = 2000;

/** Collapses whitespace so the same statement from different call sites groups together. */
export function normalizeSql(sql: string): string {
  const flat = sql.replace(/\s+/g, ' ').trim();
  return flat.length > MAX_SQL_CHARS ? `${flat.slice(0, MAX_SQL_CHARS)}…` : flat;
}

/** Appends slow statements to a bounded NDJSON file (0600). Writing never throws into the application. */
export class SlowQueryLog {
  readonly options: SlowQueryLogOptions;

  constructor(options: SlowQueryLogOptions) {
    this.options = options;
  }

  record(sql: string, ms: number): void {
    if (ms < this.options.thresholdMs) return;
    const line = `${JSON.stringify({ ts: new Date().toISOString(), ms: Math.round(ms * 100) / 100, sql: normalizeSql(sql) })}\n`;
    try {
      const size = existsSync(this.options.file) ? statSync(this.options.file).size : 0;
      if (size + line.length > this.options.maxBytes) renameSync(this.options.file, `${this.options.file}.1`);
      appendNoFollow(this.options.file, line, 'the slow-query log');
    } catch {
      // A full disk or a bad path must not break the application's query.
    }
  }
}

const TIMED = new Set(['run', 'get', 'all']);

/**
 * Opt-in slow-query logging for an application connection: every statement later prepared on `db`
 * is timed, and those at or over the threshold are appended to the log. `iterate()` is not timed
 * (its cost falls in the caller's loop).
 *
 * ### Examples
 * ```ts
 * const db = openDatabase('ora.db');
 * enableSlowQueryLog(db, { file: 'logs/slow.ndjson', thresholdMs: 100, maxBytes: 10 * 1024 * 1024 });
 * ```
 */
export function enableSlowQueryLog(db: OraDatabase, options: SlowQueryLogOptions): SlowQueryLog {
  const log = new SlowQueryLog(options);
  db.instrument((source, statement) => {
    const timed: Statement = new Proxy(statement, {
      get(target, property, receiver) {
        const value = Reflect.get(target, property, receiver);
        if (typeof value !== 'function') return value;
        if (typeof property !== 'string' || !TIMED.has(property)) {
          // pluck()/raw() return the statement itself: hand back the timed one, so it stays timed.
          return (...args: unknown[]) => {
            const result = value.apply(target, args);
            return result === target ? timed : result;
          };
        }
        return (...args: unknown[]) => {
          const started = performance.now();
          try {
            return value.apply(target, args);
          } finally {
            log.record(source, performance.now() - started);
          }
        };
      },
    });
    return timed;
  });
  return log;
}

/** Reads the log and its rotated predecessor; malformed lines are skipped and counted. */
export function readSlowQueryLog(file: string): { entries: SlowQueryEntry[]; malformed: number } {
  const entries: SlowQueryEntry[] = [];
  let malformed = 0;
  for (const path of [`${file}.1`, file]) {
    if (!existsSync(path)) continue;
    for (const line of readFileSync(path, 'utf8').split('\n')) {
      if (!line.trim()) continue;
      try {
        const e = JSON.parse(line) as SlowQueryEntry;
        if (typeof e.sql === 'string' && typeof e.ms === 'number') entries.push(e);
        else malformed++;
      } catch {
        malformed++;
      }
    }
  }
  return { entries, malformed };
}

export interface SlowQuerySummary {
  sql: string;
  count: number;
  totalMs: number;
  maxMs: number;
  meanMs: number;
}

/** Groups entries by statement, biggest total time first. */
export function summarizeSlowQueries(entries: SlowQueryEntry[], top: number): SlowQuerySummary[] {
  const groups = new Map<string, { count: number; totalMs: number; maxMs: number }>();
  for (const e of entries) {
    const g = groups.get(e.sql) ?? { count: 0, totalMs: 0, maxMs: 0 };
    g.count++;
    g.totalMs += e.ms;
    g.maxMs = Math.max(g.maxMs, e.ms);
    groups.set(e.sql, g);
  }
  return [...groups.entries()]
    .map(([sql, g]) => ({
      sql,
      count: g.count,
      totalMs: Math.round(g.totalMs * 100) / 100,
      maxMs: g.maxMs,
      meanMs: Math.round((g.totalMs / g.count) * 100) / 100,
    }))
    .sort((a, b) => b.totalMs - a.totalMs)
    .slice(0, top);
}
