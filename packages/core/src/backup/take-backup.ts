import { openDatabase } from '../connection/connection.js';
import type { ProgressSink } from '../progress.js';
import { applyRetention, createBackup, type RetentionReport } from './backup.js';
import type { Compression } from './compress.js';
import { compressionLevelFor } from './compression-defaults.js';
import type { Manifest } from './manifest.js';
import { openBackupStores, type BackupStoreSettings as StoreSettings } from './open-store.js';
import type { SnapshotMethod } from './snapshot.js';
import type { BackupStore } from './store.js';

/** Where backups go: the local directory, or each `dest` (see `openBackupStores`). */
export type BackupStoreSettings = StoreSettings;

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
      /** `failed`: published to the first destination, but not to every other (see `destinations`). */
      status: 'ok' | 'failed';
      backupId: string;
      artifact: string;
      manifest: Manifest;
      timings: { snapshotMs: number; integrityMs: number; compressMs: number; verifyMs: number };
      /** Retention of the first destination. */
      retention: RetentionReport;
      /** Every destination, in order: published or why not, and its own retention. */
      destinations: DestinationOutcome[];
    };

export interface DestinationOutcome {
  location: string;
  published: boolean;
  error?: string;
  /** Null where the backup was not published (retention runs only after a success there). */
  retention: RetentionReport | null;
}

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
  const stores = openBackupStores(o);
  const store = stores[0] as BackupStore;
  const copies = stores.slice(1);
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
      copies,
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
  const now = new Date();
  const retention = await applyRetention(store, policy, now, false);
  const destinations: DestinationOutcome[] = [{ location: store.location, published: true, retention }];
  for (const [i, c] of report.copies.entries()) {
    destinations.push({
      location: c.location,
      published: c.ok,
      ...(c.error ? { error: c.error } : {}),
      retention: c.ok ? await applyRetention(copies[i] as BackupStore, policy, now, false) : null,
    });
  }
  const m = report.manifest;
  return {
    status: destinations.every((d) => d.published) ? 'ok' : 'failed',
    destinations,
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
