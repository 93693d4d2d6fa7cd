import { InvalidInputError } from '../errors/errors.js';
import { mib } from '../format.js';
import type { IntegrityResult } from '../integrity/integrity.js';
import { type AdoptionPlan, describeDifferences } from '../schema/ora-schema.js';
import type { DatabaseStats } from '../stats/database-stats.js';

export type CheckLevel = 'ok' | 'warn' | 'critical';

export interface HealthCheck {
  name: 'integrity' | 'wal-size' | 'free-space' | 'journal-mode' | 'schema-version';
  level: CheckLevel;
  message: string;
}

/** The health-check thresholds (config ORA_WAL_* / ORA_FREE_*, or the job's flags). */
export interface HealthThresholds {
  walWarnMb: number;
  walCriticalMb: number;
  freeWarnPct: number;
  freeCriticalPct: number;
}

export interface HealthEvaluation {
  checks: HealthCheck[];
  /** The worst check level. */
  health: CheckLevel;
  /** The job status it maps to: `critical` is `failed` (exit 1). */
  status: 'ok' | 'warn' | 'failed';
}

/**
 * `assertHealthThresholds(t)` — refuses a warn level above its critical level, as INVALID_INPUT
 * (exit 2) naming both flags, before anything is opened.
 */
export function assertHealthThresholds(t: HealthThresholds): void {
  if (t.walWarnMb > t.walCriticalMb) {
    throw new InvalidInputError(
      `--wal-warn-mb (${t.walWarnMb}) must not exceed --wal-critical-mb (${t.walCriticalMb})`,
    );
  }
  if (t.freeWarnPct > t.freeCriticalPct) {
    throw new InvalidInputError(
      `--free-warn-pct (${t.freeWarnPct}) must not exceed --free-critical-pct (${t.freeCriticalPct})`,
    );
  }
}

const BYTES_PER_MIB = 1024 * 1024;

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

/**
 * `evaluateHealth(stats, integrity, plan, thresholds): HealthEvaluation` — the health-check's
 * verdict: one check per concern (integrity, WAL size, free pages, journal mode, schema), each
 * `ok`, `warn` or `critical`, and the status the worst of them maps to. A value at a threshold
 * counts as reaching it. Pure: reads nothing, so every rule is testable on figures.
 *
 * ### Examples
 * ```ts
 * const { status, checks } = evaluateHealth(collectStats(db), checkIntegrity(db), planAdoption(db), config);
 * ```
 */
export function evaluateHealth(
  stats: Pick<DatabaseStats, 'walBytes' | 'freePct' | 'journalMode'>,
  integrity: IntegrityResult,
  plan: AdoptionPlan,
  t: HealthThresholds,
): HealthEvaluation {
  const checkName = integrity.mode === 'full' ? 'integrity_check' : 'quick_check';
  const foreign = plan.status.kind === 'foreign';
  const checks: HealthCheck[] = [
    {
      name: 'integrity',
      level: integrity.ok ? 'ok' : 'critical',
      message: integrity.ok
        ? `${checkName} ok`
        : `${checkName} found ${integrity.truncated ? `more than ${integrity.problems.length}` : integrity.problems.length} problem(s): ${integrity.problems[0] ?? ''}`,
    },
    thresholdCheck(
      'wal-size',
      stats.walBytes / BYTES_PER_MIB,
      t.walWarnMb,
      t.walCriticalMb,
      (v) => `WAL ${mib(v * BYTES_PER_MIB)} MiB`,
    ),
    thresholdCheck(
      'free-space',
      stats.freePct,
      t.freeWarnPct,
      t.freeCriticalPct,
      (v) => `${Math.round(v * 100) / 100}% free pages`,
    ),
    {
      name: 'journal-mode',
      // The guide's WAL is an ORA rule; another application's database may use any journal mode.
      level: stats.journalMode === 'wal' || foreign ? 'ok' : 'warn',
      message:
        stats.journalMode === 'wal'
          ? 'journal_mode wal'
          : foreign
            ? `journal_mode ${stats.journalMode} (left as it is; 'ora-db daily-maintenance --journal-mode wal' switches it)`
            : `journal_mode ${stats.journalMode}: the guide requires WAL; switch it with 'ora-db daily-maintenance --journal-mode wal' (no job switches it unasked)`,
    },
  ];
  const schema = schemaCheck(plan);
  if (schema) checks.push(schema);
  const health: CheckLevel = checks.some((c) => c.level === 'critical')
    ? 'critical'
    : checks.some((c) => c.level === 'warn')
      ? 'warn'
      : 'ok';
  return { checks, health, status: health === 'critical' ? 'failed' : health === 'warn' ? 'warn' : 'ok' };
}
