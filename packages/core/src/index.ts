// Public API of @ora/core, exported by name so bundles pull in only what they use.

export { ARCHIVABLE, ARCHIVABLE_NAMES, type ArchivableName, type ArchivableTable } from './archive/archivable.js';
export {
  type ArchiveOptions,
  type ArchiveReport,
  archivePathFor,
  archiveRows,
  assertArchivable,
  assertArchivableAt,
} from './archive/archive.js';
// Decisions and operations the job handlers and the CLI call (issue 15, point 1).
export {
  type ArchiveExport,
  EXPORT_FORMATS,
  type ExportFormat,
  exportPathFor,
  openArchiveExport,
} from './archive/export.js';
export {
  type ArchiveOldRowsOptions,
  type ArchiveOldRowsResult,
  archiveCutoff,
  archiveOldRows,
} from './archive/old-rows.js';
export {
  applyRetention,
  type BackupOptions,
  type BackupReport,
  createBackup,
  type RetentionReport,
} from './backup/backup.js';
export {
  type Compression,
  decompressFile,
  gzipFileParallel,
  hashArtifact,
  zstdFile,
} from './backup/compress.js';
export { backupSelectorField, backupStoreFields, isoTimeField } from './backup/fields.js';
export {
  BACKUP_ID_RE,
  isVerified,
  type ListedBackups,
  listBackups,
  type Manifest,
  pickBackup,
} from './backup/manifest.js';
export { type RestoreOptions, type RestoreReport, restoreBackup } from './backup/restore.js';
export { planRetention, type RetainedBackup, type RetentionPlan, type RetentionPolicy } from './backup/retention.js';
export { type SnapshotMethod, snapshotDatabase } from './backup/snapshot.js';
export { type VerifyResult, verifyBackup } from './backup/verify.js';
export {
  CONFIG_VARIABLES,
  type Config,
  type ConfigKey,
  configField,
  describeConfig,
  loadConfig,
} from './config/config.js';
export {
  booleanField,
  choiceField,
  integerField,
  isoDateField,
  LOG_LEVELS,
  type LogLevel,
  numberField,
  pathField,
  s3UrlField,
  textField,
  urlField,
  windowField,
} from './config/fields.js';
export {
  DEFAULT_BUSY_TIMEOUT_MS,
  type OpenOptions,
  OraDatabase,
  openDatabase,
  PRODUCTION_PRAGMAS,
  readConnectionSettings,
  switchJournalToWal,
} from './connection/connection.js';
export { checkDatabaseFile, type DatabaseHeader, fileSizeOrZero } from './connection/file-checks.js';
export { journalMode } from './connection/journal.js';
export { translateSqliteError } from './connection/sqlite-errors.js';
export { type ExplainOptions, type ExplainResult, explainStatement } from './diagnostics/explain.js';
export { type ForeignKeyViolation, foreignKeyViolations } from './diagnostics/foreign-keys.js';
export { diagnoseLocks, type FileHolder, type LockDiagnosis, processesHolding } from './diagnostics/locks.js';
export {
  BackupInvalidError,
  ConfigError,
  DatabaseCorruptError,
  DatabaseEmptyError,
  DatabaseIsDirectoryError,
  DatabaseLockedError,
  DatabaseNotFoundError,
  EXIT,
  type ExitStatus,
  InsufficientStockError,
  InvalidInputError,
  IoError,
  isOraError,
  LockHeldError,
  NotADatabaseError,
  OraError,
  PragmaError,
  RestoreFailedError,
  type SchemaErrorCode,
  SchemaVersionError,
  StoppedError,
  TargetNotEmptyError,
  throwIfStopped,
  UnknownSkuError,
} from './errors/errors.js';
export { formatMib, mib, textTable } from './format.js';
export { appendNoFollow, publishExclusively, realDir, refuseSymlink, writeFileDurably } from './fs/files.js';
export { checkHealth, type HealthCheckOptions, type HealthOutcome, healthReport } from './health/check.js';
export {
  assertHealthThresholds,
  type CheckLevel,
  evaluateHealth,
  type HealthCheck,
  type HealthEvaluation,
  type HealthThresholds,
} from './health/evaluate.js';
export {
  checkIntegrity,
  checkIntegrityParallel,
  type IntegrityOptions,
  type IntegrityResult,
} from './integrity/integrity.js';
export { type AcquireOptions, acquireJobLock, type JobLock, type LockHolder, lockPathFor } from './locking/job-lock.js';
export { type AnalyzeReport, analyzeDatabase } from './maintenance/analyze.js';
export {
  type CheckpointMode,
  type CheckpointResult,
  checkpoint,
  checkpointWal,
  type WalCheckpointReport,
  withBusyTimeout,
} from './maintenance/checkpoint.js';
export { type DailyMaintenanceOptions, type DailyMaintenanceResult, dailyMaintenance } from './maintenance/daily.js';
export { planVacuum, type VacuumModeChoice, type VacuumPlan, vacuumWindowRefusal } from './maintenance/plan-vacuum.js';
export {
  checkVacuumSpace,
  freeBytesAt,
  type SpaceCheck,
  sqliteTempDir,
  type VacuumOptions,
  type VacuumReport,
  vacuumFull,
  vacuumIncremental,
} from './maintenance/vacuum.js';
export { type WeeklyVacuumOptions, type WeeklyVacuumResult, weeklyVacuum } from './maintenance/weekly.js';
export { isInWindow, type MaintenanceWindow, parseWindow } from './maintenance/window.js';
export { type CollectMetricsOptions, collectMetrics } from './metrics/collect.js';
export {
  type IndexUsageReport,
  indexUsage,
  knownQueries,
  type NamedQuery,
  type PlanStep,
  queryPlan,
} from './metrics/index-usage.js';
export {
  enableSlowQueryLog,
  normalizeSql,
  readSlowQueryLog,
  type SlowQueryEntry,
  SlowQueryLog,
  type SlowQueryLogOptions,
  type SlowQuerySummary,
  summarizeSlowQueries,
} from './metrics/slow-query-log.js';
export { collectTableStats, type IndexInfo, type TableInfo } from './metrics/table-stats.js';
export type { ProgressSink } from './progress.js';
export { decodeRecord, parsePageHeader, readIndexCell, readLeafCell, type SqlValue } from './recovery/btree.js';
export { indexWal, openPageSource, type PageSource, readWal } from './recovery/file-format.js';
export { type RecoverOptions, type RecoverReport, recoverDatabase } from './recovery/recover.js';
export { type SalvageResult, salvage } from './recovery/salvage.js';
export {
  type AlertLevel,
  type InventoryItem,
  type InventoryLevel,
  type InventoryTransaction,
  inventoryItemSchema,
  inventoryTransactionSchema,
  type LowStockItem,
  listInventoryLevels,
  listLowStock,
  type RecordedTransaction,
  recordInventoryTransaction,
  TRANSACTION_TYPES,
  type TransactionType,
  upsertInventoryItem,
} from './repositories/inventory.js';
export { type DailyKpis, dailyKpisSchema, upsertDailyKpis } from './repositories/kpis.js';
export { insertShipments, type ShippedOrder, shippedOrderSchema } from './repositories/shipments.js';
export { parseInput } from './repositories/validate.js';
export { updateWorkflowStatus, type WorkflowStatus, workflowStatusSchema } from './repositories/workflows.js';
export { initDatabase, initialiseSchema, openOrCreateDatabase } from './schema/create.js';
export {
  type ColumnDescription,
  describeCurrentSchema,
  describeSchema,
  renderSchemaMarkdown,
  type TableDescription,
} from './schema/describe.js';
export { assertSchemaCurrent, type MigrateResult, migrate, schemaVersion } from './schema/migrate.js';
export { alertLevelSql, LATEST_SCHEMA_VERSION, MIGRATIONS, type Migration } from './schema/migrations.js';
export {
  type AdoptionPlan,
  type AdoptionStep,
  adoptionRefusal,
  adoptSchema,
  assertOraSchema,
  assertOraSchemaAt,
  describeDifferences,
  inspectOraSchema,
  type OraSchemaStatus,
  oraTableNames,
  planAdoption,
  type SchemaDifference,
  type SchemaKind,
} from './schema/ora-schema.js';
export { prng, SEED_SIZES, type SeedOptions, type SeedResult, type SeedSize, seedDemoData } from './seed/demo-data.js';
export { hasTable, quoteIdentifier, type SchemaObject, schemaObjects, userTables } from './sql/index.js';
export { collectStats, type DatabaseStats } from './stats/database-stats.js';
export { VERSION } from './version.js';
