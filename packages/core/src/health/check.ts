import { openDatabase } from '../connection/connection.js';
import { IoError, isOraError } from '../errors/errors.js';
import { mib } from '../format.js';
import { appendNoFollow } from '../fs/files.js';
import { checkIntegrity, checkIntegrityParallel, type IntegrityResult } from '../integrity/integrity.js';
import { planAdoption } from '../schema/ora-schema.js';
import { collectStats, type DatabaseStats } from '../stats/database-stats.js';
import {
  assertHealthThresholds,
  type CheckLevel,
  evaluateHealth,
  type HealthCheck,
  type HealthThresholds,
} from './evaluate.js';

export interface HealthCheckOptions extends HealthThresholds {
  /** integrity_check (every page and index entry) instead of quick_check. */
  full: boolean;
  maxProblems: number;
  busyTimeoutMs: number;
  /** Also append a plain-text report here, in the guide's logs/db_health.log format. */
  logFile?: string | undefined;
}

export interface HealthOutcome extends DatabaseStats {
  status: 'ok' | 'warn' | 'failed';
  /** The worst check level: `critical` makes the status `failed` (exit 1). */
  health: CheckLevel;
  exists: true;
  isSqlite: true;
  integrity: IntegrityResult;
  checks: HealthCheck[];
  [detail: string]: unknown;
}

/**
 * `checkHealth(path, options): Promise<HealthOutcome>` — the morning health check on a read-only
 * connection (it never writes to the database it checks): integrity (quick_check, or with `full`
 * integrity_check spread over two threads), the file's figures, the schema kind, and the verdict
 * of `evaluateHealth`. Throws INVALID_INPUT for crossed thresholds and the open errors of
 * `openDatabase` (also appended to `logFile` as an ERROR line).
 *
 * ### Examples
 * ```ts
 * const r = await checkHealth('ora.db', { ...config, full: false, logFile: 'logs/db_health.log' });
 * r.status; // 'ok' | 'warn' | 'failed'
 * ```
 */
export async function checkHealth(path: string, options: HealthCheckOptions): Promise<HealthOutcome> {
  assertHealthThresholds(options);
  const log = (text: string) => {
    if (options.logFile) appendHealthLog(options.logFile, text);
  };
  let db: ReturnType<typeof openDatabase>;
  try {
    db = openDatabase(path, { readonly: true, busyTimeoutMs: options.busyTimeoutMs });
  } catch (error) {
    log(`ERROR: ${(error as Error).message}`);
    throw error;
  }
  try {
    const integrity = options.full
      ? await checkIntegrityParallel(db, { maxProblems: options.maxProblems })
      : checkIntegrity(db, { full: false, maxProblems: options.maxProblems });
    const stats = collectStats(db);
    const plan = planAdoption(db);
    const { checks, health, status } = evaluateHealth(stats, integrity, plan, options);
    const outcome: HealthOutcome = {
      status,
      health,
      exists: true,
      isSqlite: true,
      ...stats,
      schemaKind: plan.status.kind,
      integrity,
      checks,
    };
    log(healthReport(path, outcome));
    return outcome;
  } finally {
    db.close();
  }
}

/** The plain-text report of the guide's health log. */
export function healthReport(database: string, result: HealthOutcome): string {
  const lines = [
    `Database: ${database}`,
    `Status: ${result.status} (${result.health})`,
    `Database size: ${mib(result.fileBytes)} MiB (${result.pageCount} pages of ${result.pageSize} bytes)`,
    `WAL file size: ${mib(result.walBytes)} MiB`,
    `Free space: ${result.freePct}% (${result.freelistCount} free pages)`,
    `Tables: ${result.tableCount}, indexes: ${result.indexCount}, journal_mode: ${result.journalMode}, foreign_keys: ${result.foreignKeys ? 'on' : 'off'}, SQLite ${result.sqliteVersion}`,
    ...result.checks.map((c) => `[${c.level}] ${c.name}: ${c.message}`),
    ...result.integrity.problems.map((p) => `  problem: ${p}`),
  ];
  return lines.join('\n');
}

/** Appends one entry in the guide's log format, refusing a symlink planted at the path. */
function appendHealthLog(path: string, text: string): void {
  const entry = `=== ORA Database Health Check: ${new Date().toISOString()} ===\n${text}\n----------------------------------------\n`;
  try {
    appendNoFollow(path, entry, 'the log file');
  } catch (error) {
    if (isOraError(error)) throw error;
    throw new IoError(
      `cannot append to log file ${path} (${(error as NodeJS.ErrnoException).code}); check that its directory exists and is writable`,
      'IO_ERROR',
      { cause: error },
    );
  }
}
