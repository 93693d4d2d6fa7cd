// `@ora/core/backup`: snapshots, compression, manifests, the stores, retention, verify and restore.
// The S3 store's client is `@ora/core/s3`, loaded on the store's first request (store.ts).

// Here, not in the main barrel: it backs up first, so it reaches the stores (and the S3 chunk).
export { type MigrateDatabaseOptions, migrateDatabase } from '../schema/migrate-database.js';
export {
  applyRetention,
  type BackupOptions,
  type BackupReport,
  createBackup,
  type RetentionReport,
} from './backup.js';
export {
  type Compression,
  decompressFile,
  gzipFileParallel,
  hashArtifact,
  zstdFile,
} from './compress.js';
export { COMPRESSION_LEVELS, compressionLevelFor } from './compression-defaults.js';
export { artifactOpener } from './encryption.js';
export { backupSelectorField, backupStoreFields, isoTimeField } from './fields.js';
export {
  artifactFiles,
  BACKUP_ID_RE,
  encryptionSchema,
  isVerified,
  type ListedBackups,
  listBackups,
  type Manifest,
  pickBackup,
} from './manifest.js';
export { type BackupStoreSettings, openBackupStore, openBackupStores, singleDestination } from './open-store.js';
export {
  backupSource,
  type ExpectedContent,
  type RestoreOptions,
  type RestoreReport,
  type RestoreSource,
  restoreBackup,
} from './restore.js';
export { planRetention, type RetainedBackup, type RetentionPlan, type RetentionPolicy } from './retention.js';
export { type SnapshotMethod, snapshotDatabase } from './snapshot.js';
export { type BackupStore, localStore, parseS3Url, type S3Location, type S3StoreOptions, s3Store } from './store.js';
export {
  type DestinationOutcome,
  type TakeBackupOptions,
  type TakeBackupResult,
  takeBackup,
} from './take-backup.js';
export { type VerifyResult, verifyBackup } from './verify.js';
