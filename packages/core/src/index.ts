// @ora/core: what the other packages import (the backup folder is @ora/core/backup, the S3
// client @ora/core/s3, test fixtures @ora/core/testing). Core's own tests import the modules.

export { ARCHIVABLE_NAMES } from './archive/archivable.js';
export { EXPORT_FORMATS } from './archive/export.js';
export { archiveOldRows } from './archive/old-rows.js';
export { CONFIG_VARIABLES, type Config, configField, describeConfig, loadConfig } from './config/config.js';
export {
  booleanField,
  choiceField,
  integerField,
  isoDateField,
  LOG_LEVELS,
  type LogLevel,
  pathField,
  textField,
  urlField,
} from './config/fields.js';
export { OraDatabase, openDatabase, withDatabase } from './connection/connection.js';
export { checkDatabaseFile } from './connection/file-checks.js';
export { journalMode } from './connection/journal.js';
export { explainStatement } from './diagnostics/explain.js';
export { foreignKeyViolations } from './diagnostics/foreign-keys.js';
export { diagnoseLocks } from './diagnostics/locks.js';
export {
  DatabaseCorruptError,
  DatabaseLockedError,
  EXIT,
  InvalidInputError,
  IoError,
  isOraError,
  NotADatabaseError,
  StoppedError,
  throwIfStopped,
} from './errors/errors.js';
export { formatBytes, formatMib, mib, textTable } from './format.js';
export { writeFileDurably } from './fs/files.js';
export { checkHealth, type HealthOutcome } from './health/check.js';
export { acquireJobLock, type JobLock } from './locking/job-lock.js';
export { dailyMaintenance } from './maintenance/daily.js';
export { checkVacuumSpace } from './maintenance/vacuum.js';
export { weeklyVacuum } from './maintenance/weekly.js';
export { collectMetrics } from './metrics/collect.js';
export { enableSlowQueryLog } from './metrics/slow-query-log.js';
export type { TableInfo } from './metrics/table-stats.js';
export { parsePageHeader, readLeafCell } from './recovery/btree.js';
export { openPageSource } from './recovery/file-format.js';
export { recoverDatabase } from './recovery/recover.js';
export {
  type InventoryLevel,
  listInventoryLevels,
  listLowStock,
  recordInventoryTransaction,
  type TransactionType,
} from './repositories/inventory.js';
export { initDatabase, initialiseSchema, openOrCreateDatabase } from './schema/create.js';
export { describeCurrentSchema, renderSchemaMarkdown } from './schema/describe.js';
export { assertSchemaCurrent, migrate } from './schema/migrate.js';
export { LATEST_SCHEMA_VERSION } from './schema/migrations.js';
export { assertOraSchemaAt } from './schema/ora-schema.js';
export { prng, SEED_SIZES, type SeedSize, seedDemoData } from './seed/demo-data.js';
export { collectStats } from './stats/database-stats.js';
export { VERSION } from './version.js';
