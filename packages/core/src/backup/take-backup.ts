import { openDatabase } from '../connection/connection.js';
import type { ProgressSink } from '../progress.js';
import { applyRetention, createBackup, type RetentionReport } from './backup.js';
import type { Compression } from './compress.js';
import { compressionLevelFor } from './compression-defaults.js';
import type { Manifest } from './manifest.js';
import { openBackupStore } from './open-store.js';
import type { SnapshotMethod } from './snapshot.js';

/** Where backups go: the local directory, or `dest` on S3 (see `openBackupStore`). */
export type BackupStoreSettings = Parameters<typeof openBackupStore>[0];

export interface TakeBackupOptions extends BackupStoreSettings {
  method: SnapshotMethod;
  compression: Compression;
  /** Default: the format's own (`compressionLevelFor`). */
  compressionLevel?: number | undefined;
  keepDays: number;
  keepMonths: number;
  /** Take no backup, delete nothing: report what retention would delete now. */
  dryRun: boolean;
  busyTimeoutMs: number;
  maxProblems: number;
  progress?: ProgressSink;
  signal?: AbortSignal | undefined;
  /** Told which temp files of an earlier run that died were removed (for the log). */
  onRemovedTemps?: (paths: string[]) => void;
}

export type TakeBackupResult =
  | {
      status: 'skipped';
      reason: string;
      backupDir: string;
      retention: { dryRun: true; kept: RetentionReport['kept']; deleted: string[] };
      backupId?: undefined;
      manifest?: undefined;
    }
  | {
      status: 'ok';
      backupId: string;
      artifact: string;
      manifest: Manifest;
      timings: { snapshotMs: number; integrityMs: number; compressMs: number; verifyMs: number };
      retention: RetentionReport;
    };

/**
 * `takeBackup(path, options): Promise<TakeBackupResult>` — the backup job: a snapshot of `path` on
 * a read-only connection (a backup never writes to the database it copies), integrity-checked,
 * compressed, hashed and published by `createBackup`; then retention, only after that backup
 * succeeded and verified (SPEC §4, invariant 3). With `dryRun` nothing is taken or deleted and the
 * result lists what retention would delete.
 *
 * ### Examples
 * ```ts
 * const r = await takeBackup('ora.db', { ...config, method: 'backup-api',
 *   compression: 'zstd', keepDays: 30, keepMonths: 12, dryRun: false, busyTimeoutMs: 8000, maxProblems: 100 });
 * r.status === 'ok' && r.manifest.artifact.sha256;
 * ```
 */
export async function takeBackup(path: string, o: TakeBackupOptions): Promise<TakeBackupResult> {
  const compressionLevel = compressionLevelFor(o.compression, o.compressionLevel);
  const policy = { keepDays: o.keepDays, keepMonths: o.keepMonths };
  const store = openBackupStore(o);
  if (o.dryRun) {
    const plan = await applyRetention(store, policy, new Date(), true);
    return {
      status: 'skipped',
      reason: 'dry run: no backup taken, nothing deleted',
      backupDir: store.location,
      retention: { dryRun: true, kept: plan.kept, deleted: plan.deleted },
    };
  }
  const db = openDatabase(path, { readonly: true, busyTimeoutMs: o.busyTimeoutMs });
  let report: Awaited<ReturnType<typeof createBackup>>;
  try {
    report = await createBackup(db, {
      store,
      method: o.method,
      compression: o.compression,
      compressionLevel,
      maxProblems: o.maxProblems,
      ...(o.progress ? { progress: o.progress } : {}),
      ...(o.signal ? { signal: o.signal } : {}),
    });
  } finally {
    db.close();
  }
  if (report.removedTemps.length > 0) o.onRemovedTemps?.(report.removedTemps);
  o.progress?.phase?.('retention');
  const retention = await applyRetention(store, policy, new Date(), false);
  const m = report.manifest;
  return {
    status: 'ok',
    backupId: m.id,
    artifact: report.artifactPath,
    manifest: m,
    timings: {
      snapshotMs: report.snapshotMs,
      integrityMs: report.integrityMs,
      compressMs: report.compressMs,
      verifyMs: report.verifyMs,
    },
    retention,
  };
}
