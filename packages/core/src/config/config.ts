import type * as z from 'zod';
import { DEFAULT_BUSY_TIMEOUT_MS } from '../connection/connection.js';
import { ConfigError } from '../errors/errors.js';
import {
  booleanField,
  choiceField,
  destinationsField,
  integerField,
  keyFilesField,
  LOG_LEVELS,
  numberField,
  pathField,
  textField,
  urlField,
  windowField,
} from './fields.js';

/** One environment variable as written in the table below (each default written once). */
interface VariableSpec<K extends string, F extends z.ZodType> {
  /** The config key it fills, which is also the event key of the job flag that overrides it. */
  key: K;
  /** How a value is checked, without the default: what a job's event field of the same key checks. */
  field: F;
  /** The value when the variable is unset or empty; without one the key is optional. */
  default?: z.output<F>;
  /** A sentence for `--help` and the README's configuration table. */
  describe: string;
  /** The description of the job flag of the same key, where one wording fits every job. */
  flag?: string;
}

interface Variable<K extends string, F extends z.ZodType, S extends z.ZodType, E extends z.ZodType> {
  key: K;
  field: F;
  /** The environment's schema: `field` with its default, or optional. */
  schema: S;
  /** A job event's field: `field` itself when the config always supplies a value, else optional. */
  event: E;
  describe: string;
  flag: string | undefined;
  /** The default as the README and `--help` print it ('' when there is none). */
  default: string;
}

function variable<K extends string, F extends z.ZodType>(
  spec: VariableSpec<K, F> & { default: z.output<F> },
): Variable<K, F, z.ZodDefault<F>, F>;
function variable<K extends string, F extends z.ZodType>(
  spec: VariableSpec<K, F> & { default?: undefined },
): Variable<K, F, z.ZodOptional<F>, z.ZodOptional<F>>;
function variable<K extends string, F extends z.ZodType>(
  spec: VariableSpec<K, F>,
): Variable<K, F, z.ZodType, z.ZodType> {
  const fallback = spec.default;
  const has = fallback !== undefined;
  return {
    key: spec.key,
    field: spec.field,
    schema: has ? spec.field.default(fallback as never) : spec.field.optional(),
    event: has ? spec.field : spec.field.optional(),
    describe: spec.describe,
    flag: spec.flag,
    default: has ? String(fallback) : '',
  };
}

/**
 * Every environment variable any job reads, declared once: its name, the config key it fills,
 * its schema and default, and a sentence for `--help` and the README's configuration table.
 * Nothing else in the toolkit reads `process.env` for configuration. Job event fields of the same
 * keys come from here too (`configField`), so a range or a default is written once.
 */
export const CONFIG_VARIABLES = {
  DATABASE_PATH: variable({
    key: 'db',
    field: pathField('a database file path'),
    default: 'ora.db',
    describe: 'SQLite database file the jobs operate on (flag: --db)',
  }),
  BACKUP_DIR: variable({
    key: 'backupDir',
    field: pathField('a directory path'),
    default: 'backups',
    describe: 'Where backups are written and read (flag: --backup-dir)',
    flag: 'Local backup directory (one per database); with --dest, only the staging area for temp files',
  }),
  ORA_BACKUP_DEST: variable({
    key: 'dest',
    field: destinationsField(),
    describe:
      'Store backups in these destinations instead of BACKUP_DIR (which then only stages temp files): s3://bucket/prefix URLs or directories, comma-separated; each gets the same verified artifact (flag: --dest, repeatable)',
    flag: 'Store backups here instead of --backup-dir: s3://bucket/prefix or a directory; give it twice for two copies',
  }),
  ORA_S3_ENDPOINT: variable({
    key: 's3Endpoint',
    field: urlField(),
    describe:
      'S3-compatible endpoint URL (MinIO, Ceph, …); default AWS. Credentials come only from the standard AWS environment/config',
    flag: 'S3-compatible endpoint URL; default AWS',
  }),
  ORA_S3_REGION: variable({
    key: 's3Region',
    field: textField('a region name', 64),
    default: 'us-east-1',
    describe: 'Region of the S3 bucket (flag: --s3-region)',
    flag: 'S3 region',
  }),
  ORA_S3_FORCE_PATH_STYLE: variable({
    key: 's3ForcePathStyle',
    field: booleanField(),
    default: false,
    describe: 'Use path-style S3 URLs (needed by most S3-compatible servers)',
    flag: 'Path-style S3 URLs (most S3-compatible servers)',
  }),
  ORA_BACKUP_KEY_FILE: variable({
    key: 'encryptKeyFile',
    field: keyFilesField(),
    describe:
      'Encrypt backups at rest (AES-256-GCM) with this key file — 32 random bytes or a passphrase; comma-separated for several, the first encrypts, all decrypt (after a key rotation); restore and verify of encrypted backups need it (flag: --encrypt-key-file, repeatable)',
    flag: 'Key file (32 random bytes or a passphrase); give it again for more: the first encrypts new backups, all are tried to read encrypted ones',
  }),
  ORA_BACKUP_KEEP_DAYS: variable({
    key: 'keepDays',
    field: integerField(1, 36_500, 'days'),
    default: 30,
    describe: 'backup retention: keep every backup this many days (guide: 30)',
  }),
  ORA_BACKUP_KEEP_MONTHS: variable({
    key: 'keepMonths',
    field: integerField(0, 1200, 'months'),
    default: 12,
    describe: 'backup retention: then keep the last backup of each month for this many months',
  }),
  ORA_POINT_KEEP_ALL_HOURS: variable({
    key: 'pointKeepAllHours',
    field: integerField(1, 87_600, 'hours'),
    default: 48,
    describe: 'restore point retention: keep every point this many hours',
  }),
  ORA_POINT_KEEP_HOURLY_DAYS: variable({
    key: 'pointKeepHourlyDays',
    field: integerField(0, 3650, 'days'),
    default: 7,
    describe: 'restore point retention: then the newest point of each hour for this many days',
  }),
  ORA_POINT_KEEP_DAILY_DAYS: variable({
    key: 'pointKeepDailyDays',
    field: integerField(0, 36_500, 'days'),
    default: 30,
    describe: 'restore point retention: then the newest point of each day for this many days',
  }),
  ORA_POINT_KEEP_MONTHLY_MONTHS: variable({
    key: 'pointKeepMonthlyMonths',
    field: integerField(0, 1200, 'months'),
    default: 12,
    describe: 'restore point retention: then the newest point of each month for this many months',
  }),
  ORA_BUSY_TIMEOUT_MS: variable({
    key: 'busyTimeoutMs',
    field: integerField(0, 600_000, 'milliseconds'),
    default: DEFAULT_BUSY_TIMEOUT_MS,
    describe: "How long to wait for another process's lock before failing with exit 3 (guide: 8000)",
    flag: 'Wait this long for a lock held by another process',
  }),
  ORA_LOCK_WAIT_MS: variable({
    key: 'lockWaitMs',
    field: integerField(0, 86_400_000, 'milliseconds'),
    default: 10_000,
    describe: 'How long a heavy job waits for another heavy job on the same database before exit 3',
  }),
  ORA_LOG_LEVEL: variable({
    key: 'logLevel',
    field: choiceField(LOG_LEVELS),
    default: 'info',
    describe: `Log level of the JSON-lines log on stderr (${LOG_LEVELS.join(', ')})`,
  }),
  ORA_PROGRESS_EVERY_MS: variable({
    key: 'progressEveryMs',
    field: integerField(100, 3_600_000, 'milliseconds'),
    default: 10_000,
    describe: 'Without a terminal: least time between two progress log lines of a long job',
  }),
  ORA_WAL_WARN_MB: variable({
    key: 'walWarnMb',
    field: numberField(0, 1_000_000, 'MiB'),
    default: 64,
    describe: 'health-check: WAL file size that makes the status warn',
  }),
  ORA_WAL_CRITICAL_MB: variable({
    key: 'walCriticalMb',
    field: numberField(0, 1_000_000, 'MiB'),
    default: 512,
    describe: 'health-check: WAL file size that is critical (exit 1)',
  }),
  ORA_FREE_WARN_PCT: variable({
    key: 'freeWarnPct',
    field: numberField(0, 100, 'percent'),
    default: 25,
    describe: 'health-check: free-page percentage that makes the status warn (guide: VACUUM above 25 %)',
  }),
  ORA_FREE_CRITICAL_PCT: variable({
    key: 'freeCriticalPct',
    field: numberField(0, 100, 'percent'),
    default: 60,
    describe: 'health-check: free-page percentage that is critical (exit 1)',
  }),
  ORA_MAX_PROBLEMS: variable({
    key: 'maxProblems',
    field: integerField(1, 10_000),
    default: 100,
    describe: 'Most integrity problems listed in a result (the rest are counted)',
    flag: 'Most integrity problems listed',
  }),
  ORA_CHECKPOINT_WAIT_MS: variable({
    key: 'checkpointWaitMs',
    field: integerField(0, 60_000, 'milliseconds'),
    default: 2000,
    describe: 'daily-maintenance: longest wait of the TRUNCATE checkpoint for readers (writers wait meanwhile)',
  }),
  ORA_ANALYSIS_LIMIT: variable({
    key: 'analysisLimit',
    field: integerField(0, 100_000),
    default: 1000,
    describe: 'ANALYZE rows sampled per index (PRAGMA analysis_limit; 0 = all) to keep it short',
    flag: 'ANALYZE rows sampled per index (0 = all)',
  }),
  ORA_VACUUM_THRESHOLD_PCT: variable({
    key: 'vacuumThresholdPct',
    field: numberField(0, 100, 'percent'),
    default: 25,
    describe: 'weekly-vacuum: VACUUM only when free pages exceed this percentage (guide: 25)',
  }),
  ORA_MAINTENANCE_WINDOW: variable({
    key: 'maintenanceWindow',
    field: windowField(),
    default: '00:00-05:00',
    describe: 'weekly-vacuum: local time window HH:MM-HH:MM in which VACUUM may run (--force overrides)',
  }),
  ORA_SLOW_QUERY_LOG: variable({
    key: 'slowQueryLog',
    field: pathField('a file path'),
    describe: 'NDJSON slow-statement log that applications write (enableSlowQueryLog) and metrics summarises',
  }),
  ORA_SLOW_QUERY_MS: variable({
    key: 'slowQueryMs',
    field: numberField(0, 3_600_000, 'milliseconds'),
    default: 100,
    describe: 'Statements at least this slow are logged to ORA_SLOW_QUERY_LOG',
  }),
  ORA_SLOW_QUERY_MAX_BYTES: variable({
    key: 'slowQueryMaxBytes',
    field: integerField(1024, 1_073_741_824, 'bytes'),
    default: 10_485_760,
    describe: 'Size at which the slow-statement log rotates to <file>.1 (at most twice this on disk)',
  }),
  ORA_METRICS_FILE: variable({
    key: 'metricsFile',
    field: pathField('a file path'),
    describe: 'Write Prometheus text metrics of the run to this file (flag: --metrics-file)',
  }),
  ORA_PUSHGATEWAY_URL: variable({
    key: 'pushgateway',
    field: urlField(),
    describe: "Prometheus Pushgateway to push each run's metrics to (flag: --pushgateway)",
  }),
  ORA_PING_URL: variable({
    key: 'pingUrl',
    field: urlField(),
    describe: 'healthchecks.io-style URL pinged at start, success and failure (flag: --ping-url)',
  }),
} as const;

type Vars = typeof CONFIG_VARIABLES;
type VarName = keyof Vars;

/** The validated configuration, keyed by config key (`db`, `backupDir`, ...). */
export type Config = {
  [N in VarName as Vars[N]['key']]: z.output<Vars[N]['schema']>;
};

export type ConfigKey = keyof Config;

type VariableOf<K extends ConfigKey> = Extract<Vars[VarName], { key: K }>;

const VARIABLE_BY_KEY = new Map<string, Vars[VarName]>(Object.values(CONFIG_VARIABLES).map((v) => [v.key, v]));

/**
 * The event field of a job for a config key: the variable's own check without its default (the
 * harness fills the value from the config, then `ORA_EVENT`, then the flag), described by
 * `describe`, else by the variable's flag wording. Optional where the variable has no default.
 *
 * ### Examples
 * ```ts
 * const event = z.object({ db: configField('db', 'SQLite database file'), busyTimeoutMs: configField('busyTimeoutMs') });
 * ```
 */
export function configField<K extends ConfigKey>(key: K, describe?: string): VariableOf<K>['event'] {
  const spec = VARIABLE_BY_KEY.get(key);
  if (!spec) throw new Error(`configField: no config variable fills '${key}'`); // a typo the types already refuse
  const text = describe ?? spec.flag;
  if (text === undefined) throw new Error(`configField: '${key}' has no flag wording; pass a description`);
  return spec.event.describe(text) as VariableOf<K>['event'];
}

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
