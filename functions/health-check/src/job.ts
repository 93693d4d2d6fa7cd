import {
  type AdoptionPlan,
  appendNoFollow,
  booleanField,
  checkIntegrity,
  checkIntegrityParallel,
  collectStats,
  type DatabaseStats,
  describeDifferences,
  type IntegrityResult,
  InvalidInputError,
  IoError,
  integerField,
  isOraError,
  numberField,
  openDatabase,
  pathField,
  planAdoption,
} from '@ora/core';
import { defineJob } from '@ora/harness';
import * as z from 'zod';

export const healthCheckEvent = z.object({
  db: pathField('a database file path').describe('SQLite database file to check'),
  full: booleanField()
    .default(false)
    .describe('Run integrity_check (every page and index entry) instead of the faster quick_check'),
  walWarnMb: numberField(0, 1_000_000, 'MiB').describe('WAL size that makes the status warn'),
  walCriticalMb: numberField(0, 1_000_000, 'MiB').describe('WAL size that is critical (exit 1)'),
  freeWarnPct: numberField(0, 100, 'percent').describe('Free-page percentage that makes the status warn'),
  freeCriticalPct: numberField(0, 100, 'percent').describe('Free-page percentage that is critical (exit 1)'),
  maxProblems: integerField(1, 10_000).describe('Most integrity problems listed'),
  busyTimeoutMs: integerField(0, 600_000, 'milliseconds').describe('Wait this long for a lock held by another process'),
  logFile: pathField('a file path')
    .optional()
    .describe("Also append a plain-text report to this file, like the guide's logs/db_health.log"),
});

export type CheckLevel = 'ok' | 'warn' | 'critical';

export interface HealthCheck {
  name: 'integrity' | 'wal-size' | 'free-space' | 'journal-mode' | 'schema-version';
  level: CheckLevel;
  message: string;
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

const MiB = 1024 * 1024;
const mib = (bytes: number) => Math.round((bytes / MiB) * 100) / 100;

function thresholdCheck(
  name: HealthCheck['name'],
  value: number,
  warn: number,
  critical: number,
  describe: (v: number) => string,
): HealthCheck {
  const level: CheckLevel = value >= critical ? 'critical' : value >= warn ? 'warn' : 'ok';
  const limit =
    level === 'critical'
      ? ` (critical at ${describe(critical)})`
      : level === 'warn'
        ? ` (warn at ${describe(warn)})`
        : '';
  return { name, level, message: `${describe(value)}${limit}` };
}

/**
 * The schema check: what kind of database this is (SPEC §6) and, for an ORA one, whether its
 * schema is current. `migrate` is advised only where it would succeed.
 */
function schemaCheck(plan: AdoptionPlan): HealthCheck | null {
  const { kind, version, latest } = plan.status;
  if (kind === 'foreign') {
    return {
      name: 'schema-version',
      level: 'ok',
      message: 'not an ORA database (none of the ORA tables): generic checks only; the ORA commands do not apply',
    };
  }
  if (kind === 'empty') {
    return { name: 'schema-version', level: 'warn', message: "no tables: create the ORA schema with 'ora-db init'" };
  }
  if (version === latest) return null;
  if (version > latest) {
    return {
      name: 'schema-version',
      level: 'warn',
      message: `schema version ${version} is newer than this ora-db (${latest}): upgrade ora-db`,
    };
  }
  if (version === 0) {
    return {
      name: 'schema-version',
      level: 'warn',
      message: plan.bridgeable
        ? `ORA tables at schema version 0 (made by another program): adopt them with 'ora-db migrate' (${plan.steps.length} addition(s); '--dry-run' lists them)`
        : `ORA tables at schema version 0 that differ from the ORA schema in ${plan.problems.length} way(s) 'ora-db migrate' cannot bridge: ${describeDifferences(plan.problems).slice(0, 3).join('; ')}`,
    };
  }
  return {
    name: 'schema-version',
    level: 'warn',
    message: `schema version ${version}, current is ${latest}: run 'ora-db migrate'`,
  };
}

function evaluate(
  stats: DatabaseStats,
  integrity: IntegrityResult,
  e: z.output<typeof healthCheckEvent>,
  plan: AdoptionPlan,
): HealthCheck[] {
  const checkName = integrity.mode === 'full' ? 'integrity_check' : 'quick_check';
  const checks: HealthCheck[] = [
    {
      name: 'integrity',
      level: integrity.ok ? 'ok' : 'critical',
      message: integrity.ok
        ? `${checkName} ok`
        : `${checkName} found ${integrity.truncated ? `more than ${integrity.problems.length}` : integrity.problems.length} problem(s): ${integrity.problems[0] ?? ''}`,
    },
    thresholdCheck('wal-size', stats.walBytes / MiB, e.walWarnMb, e.walCriticalMb, (v) => `WAL ${mib(v * MiB)} MiB`),
    thresholdCheck(
      'free-space',
      stats.freePct,
      e.freeWarnPct,
      e.freeCriticalPct,
      (v) => `${Math.round(v * 100) / 100}% free pages`,
    ),
    {
      name: 'journal-mode',
      // The guide's WAL is an ORA rule; another application's database may use any journal mode.
      level: stats.journalMode === 'wal' || plan.status.kind === 'foreign' ? 'ok' : 'warn',
      message:
        stats.journalMode === 'wal'
          ? 'journal_mode wal'
          : plan.status.kind === 'foreign'
            ? `journal_mode ${stats.journalMode} (left as it is; 'ora-db daily-maintenance --journal-mode wal' switches it)`
            : `journal_mode ${stats.journalMode}: the guide requires WAL; switch it with 'ora-db daily-maintenance --journal-mode wal' (no job switches it unasked)`,
    },
  ];
  const schema = schemaCheck(plan);
  if (schema) checks.push(schema);
  return checks;
}

function report(database: string, result: HealthOutcome): string {
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

export const healthCheckJob = defineJob({
  name: 'health-check',
  describe:
    "Morning health check (replaces the guide's daily_health_check.sh): file is SQLite, quick_check (or --full integrity_check), size, WAL size, free pages, table/index counts, journal mode, foreign keys, SQLite version; warn/critical thresholds",
  schedule: '0 8 * * *',
  event: healthCheckEvent,
  examples: [
    ['$0 health-check --db ora.db', 'quick check with a short summary'],
    ['$0 health-check --full --json', 'full integrity_check, result as JSON'],
    ['$0 health-check --log-file logs/db_health.log', "also append a report like the guide's log"],
  ],
  async run(e): Promise<HealthOutcome> {
    if (e.walWarnMb > e.walCriticalMb) {
      throw new InvalidInputError(
        `--wal-warn-mb (${e.walWarnMb}) must not exceed --wal-critical-mb (${e.walCriticalMb})`,
      );
    }
    if (e.freeWarnPct > e.freeCriticalPct) {
      throw new InvalidInputError(
        `--free-warn-pct (${e.freeWarnPct}) must not exceed --free-critical-pct (${e.freeCriticalPct})`,
      );
    }
    const log = (text: string) => {
      if (e.logFile) appendLog(e.logFile, text);
    };
    // Read-only: a health check never writes to the database it checks.
    let db: ReturnType<typeof openDatabase>;
    try {
      db = openDatabase(e.db, { readonly: true, busyTimeoutMs: e.busyTimeoutMs });
    } catch (error) {
      log(`ERROR: ${(error as Error).message}`);
      throw error;
    }
    try {
      // --full: integrity_check's checks spread over two threads (same guarantee; see
      // checkIntegrityParallel); otherwise quick_check alone.
      const integrity = e.full
        ? await checkIntegrityParallel(db, { maxProblems: e.maxProblems })
        : checkIntegrity(db, { full: false, maxProblems: e.maxProblems });
      const stats = collectStats(db);
      const plan = planAdoption(db);
      const checks = evaluate(stats, integrity, e, plan);
      const health: CheckLevel = checks.some((c) => c.level === 'critical')
        ? 'critical'
        : checks.some((c) => c.level === 'warn')
          ? 'warn'
          : 'ok';
      const outcome: HealthOutcome = {
        status: health === 'critical' ? 'failed' : health === 'warn' ? 'warn' : 'ok',
        health,
        exists: true,
        isSqlite: true,
        ...stats,
        schemaKind: plan.status.kind,
        integrity,
        checks,
      };
      log(report(e.db, outcome));
      return outcome;
    } finally {
      db.close();
    }
  },
  summarize(r) {
    const head = `health-check: ${r.status} — ${r.database}: ${mib(r.fileBytes)} MiB, WAL ${mib(r.walBytes)} MiB, ${r.freePct}% free, ${r.integrity.mode === 'full' ? 'integrity_check' : 'quick_check'} ${r.integrity.ok ? 'ok' : 'FAILED'}, ${r.tableCount} tables / ${r.indexCount} indexes, ${r.journalMode}, SQLite ${r.sqliteVersion}`;
    const notes = r.checks.filter((c) => c.level !== 'ok').map((c) => `  ${c.level}: ${c.name}: ${c.message}`);
    const problems = r.integrity.problems.map((p) => `  problem: ${p}`);
    return [head, ...notes, ...problems].join('\n');
  },
  metrics(r) {
    return [
      { name: 'ora_db_size_bytes', help: 'Size of the database file in bytes (without its WAL)', value: r.fileBytes },
      { name: 'ora_db_wal_bytes', help: 'WAL file size', value: r.walBytes },
      { name: 'ora_db_free_pages_percent', help: 'Free pages as a percentage of all pages', value: r.freePct },
      { name: 'ora_db_pages', help: 'Pages in the database', value: r.pageCount },
      { name: 'ora_db_free_pages', help: 'Pages on the freelist', value: r.freelistCount },
      {
        name: 'ora_db_integrity_ok',
        help: "1 when the run's integrity check (quick_check or integrity_check) passed",
        value: r.integrity.ok ? 1 : 0,
      },
    ];
  },
});

/** Appends a plain-text report in the guide's log format (when --log-file is given). */
function appendLog(path: string, text: string): void {
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
