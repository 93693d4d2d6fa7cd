import { type BackupStore, localStore, s3Store } from './store.js';

/** The store a job's flags/environment select: `dest` (S3) when given, else the local backup directory. */
export function openBackupStore(settings: {
  backupDir: string;
  dest?: string | undefined;
  s3Endpoint?: string | undefined;
  s3Region: string;
  s3ForcePathStyle: boolean;
}): BackupStore {
  if (!settings.dest) return localStore(settings.backupDir);
  return s3Store({
    url: settings.dest,
    endpoint: settings.s3Endpoint,
    region: settings.s3Region,
    forcePathStyle: settings.s3ForcePathStyle,
    stagingDir: settings.backupDir,
  });
}
