import { loadKeyring } from '../crypto/keys.js';
import { InvalidInputError } from '../errors/errors.js';
import { type BackupStore, localStore, s3Store } from './store.js';

export interface BackupStoreSettings {
  /** The local backup directory; with `dest`, only the staging area for temp files. */
  backupDir: string;
  /** Destinations instead of `backupDir`: s3://bucket/prefix URLs or local directories. */
  dest?: readonly string[] | undefined;
  s3Endpoint?: string | undefined;
  s3Region: string;
  s3ForcePathStyle: boolean;
  /** Key files, comma-separated or an array (`--encrypt-key-file`, `ORA_BACKUP_KEY_FILE`). */
  encryptKeyFile?: string | readonly string[] | undefined;
}

/** One destination: an S3 URL, or a local directory. */
export function openDestination(dest: string, settings: BackupStoreSettings): BackupStore {
  if (!dest.includes('://')) return localStore(dest);
  return s3Store({
    url: dest,
    endpoint: settings.s3Endpoint,
    region: settings.s3Region,
    forcePathStyle: settings.s3ForcePathStyle,
    stagingDir: settings.backupDir,
  });
}

/**
 * Every store a job's flags/environment select: one per `dest` (in order), else the local backup
 * directory. A backup is published to each; list and verify report each.
 */
export function openBackupStores(settings: BackupStoreSettings): BackupStore[] {
  // The key files are read once, here: every store encrypts new backups and reads encrypted ones with them.
  const keyring = loadKeyring(settings.encryptKeyFile);
  const stores =
    !settings.dest || settings.dest.length === 0
      ? [localStore(settings.backupDir)]
      : settings.dest.map((d) => openDestination(d, settings));
  for (const store of stores) store.keyring = keyring;
  return stores;
}

/**
 * The store a job that reads one store uses (restore, pin, forget, migrate's backup): the first
 * `dest`, else the local backup directory.
 */
export function openBackupStore(settings: BackupStoreSettings): BackupStore {
  return openBackupStores(settings)[0] as BackupStore;
}

/** Refuses more than one destination where only one makes sense (`what` says where). */
export function singleDestination(settings: BackupStoreSettings, what: string): void {
  if (settings.dest && settings.dest.length > 1) {
    throw new InvalidInputError(
      `${what} uses one destination, got ${settings.dest.length} (--dest ${settings.dest.join(' --dest ')}); give one --dest`,
    );
  }
}
