import type * as z from 'zod';
import { ConfigError } from '../errors/errors.js';
import {
  booleanField,
  choiceField,
  integerField,
  LOG_LEVELS,
  numberField,
  pathField,
  s3UrlField,
  textField,
  urlField,
  windowField,
} from './fields.js';

/**
 * Every environment variable any job reads, declared once: its name, the config key it fills,
 * its schema and default, and a sentence for `--help` and the README's configuration table.
 * Nothing else in the toolkit reads `process.env` for configuration.
 */
export const CONFIG_VARIABLES = {
  DATABASE_PATH: {
    key: 'db',
    schema: pathField('a database file path').default('ora.db'),
    describe: 'SQLite database file the jobs operate on (flag: --db)',
    default: 'ora.db',
  },
  BACKUP_DIR: {
    key: 'backupDir',
    schema: pathField('a directory path').default('backups'),
    describe: 'Where backups are written and read (flag: --backup-dir)',
    default: 'backups',
  },
  ORA_BACKUP_DEST: {
    key: 'dest',
    schema: s3UrlField().optional(),
    describe:
      'Store backups in an S3-compatible bucket, s3://bucket/prefix, instead of BACKUP_DIR (which then only stages temp files) (flag: --dest)',
    default: '',
  },
  ORA_S3_ENDPOINT: {
    key: 's3Endpoint',
    schema: urlField().optional(),
    describe:
      'S3-compatible endpoint URL (MinIO, Ceph, …); default AWS. Credentials come only from the standard AWS environment/config',
    default: '',
  },
  ORA_S3_REGION: {
    key: 's3Region',
    schema: textField('a region name', 64).default('us-east-1'),
    describe: 'Region of the S3 bucket (flag: --s3-region)',
    default: 'us-east-1',
  },
  ORA_S3_FORCE_PATH_STYLE: {
    key: 's3ForcePathStyle',
    schema: booleanField().default(false),
    describe: 'Use path-style S3 URLs (needed by most S3-compatible servers)',
    default: 'false',
  },
  ORA_BACKUP_KEEP_DAYS: {
    key: 'keepDays',
    schema: integerField(1, 36_500, 'days').default(30),
    describe: 'backup retention: keep every backup this many days (guide: 30)',
    default: '30',
  },
  ORA_BACKUP_KEEP_MONTHS: {
    key: 'keepMonths',
    schema: integerField(0, 1200, 'months').default(12),
    describe: 'backup retention: then keep the last backup of each month for this many months',
    default: '12',
  },
  ORA_BUSY_TIMEOUT_MS: {
    key: 'busyTimeoutMs',
    schema: integerField(0, 600_000, 'milliseconds').default(8000),
    describe: "How long to wait for another process's lock before failing with exit 3 (guide: 8000)",
    default: '8000',
  },
  ORA_LOCK_WAIT_MS: {
    key: 'lockWaitMs',
    schema: integerField(0, 86_400_000, 'milliseconds').default(10_000),
    describe: 'How long a heavy job waits for another heavy job on the same database before exit 3',
    default: '10000',
  },
  ORA_LOG_LEVEL: {
    key: 'logLevel',
    schema: choiceField(LOG_LEVELS).default('info'),
    describe: `Log level of the JSON-lines log on stderr (${LOG_LEVELS.join(', ')})`,
    default: 'info',
  },
  ORA_PROGRESS_EVERY_MS: {
    key: 'progressEveryMs',
    schema: integerField(100, 3_600_000, 'milliseconds').default(10_000),
    describe: 'Without a terminal: least time between two progress log lines of a long job',
    default: '10000',
  },
  ORA_WAL_WARN_MB: {
    key: 'walWarnMb',
    schema: numberField(0, 1_000_000, 'MiB').default(64),
    describe: 'health-check: WAL file size that makes the status warn',
    default: '64',
  },
  ORA_WAL_CRITICAL_MB: {
    key: 'walCriticalMb',
    schema: numberField(0, 1_000_000, 'MiB').default(512),
    describe: 'health-check: WAL file size that is critical (exit 1)',
    default: '512',
  },
  ORA_FREE_WARN_PCT: {
    key: 'freeWarnPct',
    schema: numberField(0, 100, 'percent').default(25),
    describe: 'health-check: free-page percentage that makes the status warn (guide: VACUUM above 25 %)',
    default: '25',
  },
  ORA_FREE_CRITICAL_PCT: {
    key: 'freeCriticalPct',
    schema: numberField(0, 100, 'percent').default(60),
    describe: 'health-check: free-page percentage that is critical (exit 1)',
    default: '60',
  },
  ORA_MAX_PROBLEMS: {
    key: 'maxProblems',
    schema: integerField(1, 10_000).default(100),
    describe: 'Most integrity problems listed in a result (the rest are counted)',
    default: '100',
  },
  ORA_CHECKPOINT_WAIT_MS: {
    key: 'checkpointWaitMs',
    schema: integerField(0, 60_000, 'milliseconds').default(2000),
    describe: 'daily-maintenance: longest wait of the TRUNCATE checkpoint for readers (writers wait meanwhile)',
    default: '2000',
  },
  ORA_ANALYSIS_LIMIT: {
    key: 'analysisLimit',
    schema: integerField(0, 100_000).default(1000),
    describe: 'ANALYZE rows sampled per index (PRAGMA analysis_limit; 0 = all) to keep it short',
    default: '1000',
  },
  ORA_VACUUM_THRESHOLD_PCT: {
    key: 'vacuumThresholdPct',
    schema: numberField(0, 100, 'percent').default(25),
    describe: 'weekly-vacuum: VACUUM only when free pages exceed this percentage (guide: 25)',
    default: '25',
  },
  ORA_MAINTENANCE_WINDOW: {
    key: 'maintenanceWindow',
    schema: windowField().default('00:00-05:00'),
    describe: 'weekly-vacuum: local time window HH:MM-HH:MM in which VACUUM may run (--force overrides)',
    default: '00:00-05:00',
  },
  ORA_SLOW_QUERY_LOG: {
    key: 'slowQueryLog',
    schema: pathField('a file path').optional(),
    describe: 'NDJSON slow-statement log that applications write (enableSlowQueryLog) and metrics summarises',
    default: '',
  },
  ORA_SLOW_QUERY_MS: {
    key: 'slowQueryMs',
    schema: numberField(0, 3_600_000, 'milliseconds').default(100),
    describe: 'Statements at least this slow are logged to ORA_SLOW_QUERY_LOG',
    default: '100',
  },
  ORA_SLOW_QUERY_MAX_BYTES: {
    key: 'slowQueryMaxBytes',
    schema: integerField(1024, 1_073_741_824, 'bytes').default(10_485_760),
    describe: 'Size at which the slow-statement log rotates to <file>.1 (at most twice this on disk)',
    default: '10485760',
  },
  ORA_METRICS_FILE: {
    key: 'metricsFile',
    schema: pathField('a file path').optional(),
    describe: 'Write Prometheus text metrics of the run to this file (flag: --metrics-file)',
    default: '',
  },
  ORA_PUSHGATEWAY_URL: {
    key: 'pushgateway',
    schema: urlField().optional(),
    describe: "Prometheus Pushgateway to push each run's metrics to (flag: --pushgateway)",
    default: '',
  },
  ORA_PING_URL: {
    key: 'pingUrl',
    schema: urlField().optional(),
    describe: 'healthchecks.io-style URL pinged at start, success and failure (flag: --ping-url)',
    default: '',
  },
} as const;

type Vars = typeof CONFIG_VARIABLES;
type VarName = keyof Vars;

/** The validated configuration, keyed by config key (`db`, `backupDir`, ...). */
export type Config = {
  [N in VarName as Vars[N]['key']]: z.output<Vars[N]['schema']>;
};

export type ConfigKey = keyof Config;

/**
 * Parses the environment once. Every invalid variable is reported in the same error, each with
 * its name, the value given and what is allowed.
 *
 * ### Examples
 * ```ts
 * const config = loadConfig(process.env);
 * openDatabase(config.db, { busyTimeoutMs: config.busyTimeoutMs });
 * ```
 */
export function loadConfig(env: NodeJS.ProcessEnv | Record<string, string | undefined>): Config {
  const out: Record<string, unknown> = {};
  const problems: string[] = [];
  for (const [name, spec] of Object.entries(CONFIG_VARIABLES) as [VarName, Vars[VarName]][]) {
    const value = env[name];
    // Empty means unset (t3-env's rule), so the default applies.
    const raw = typeof value === 'string' && value.trim() === '' ? undefined : value;
    const parsed = (spec.schema as z.ZodType).safeParse(raw);
    if (parsed.success) {
      out[spec.key] = parsed.data;
    } else {
      problems.push(`${name}=${JSON.stringify(raw)}: ${parsed.error.issues[0]?.message ?? 'invalid'}`);
    }
  }
  const config = out as Config;
  if (problems.length === 0) {
    if (config.walWarnMb > config.walCriticalMb) {
      problems.push(
        `ORA_WAL_WARN_MB (${config.walWarnMb}) must not exceed ORA_WAL_CRITICAL_MB (${config.walCriticalMb})`,
      );
    }
    if (config.freeWarnPct > config.freeCriticalPct) {
      problems.push(
        `ORA_FREE_WARN_PCT (${config.freeWarnPct}) must not exceed ORA_FREE_CRITICAL_PCT (${config.freeCriticalPct})`,
      );
    }
  }
  if (problems.length > 0) {
    throw new ConfigError(
      `invalid configuration (${problems.length} problem${problems.length > 1 ? 's' : ''}): ${problems.join('; ')}; fix or unset these environment variables`,
    );
  }
  return config;
}

/** The variables as rows for `--help` and the README (name, default, description). */
export function describeConfig(): { name: string; default: string; describe: string }[] {
  return Object.entries(CONFIG_VARIABLES).map(([name, spec]) => ({
    name,
    default: spec.default,
    describe: spec.describe,
  }));
}
