import { singleDestination } from '../backup/open-store.js';
import { checkDatabaseFile } from '../connection/file-checks.js';
import { BackupInvalidError } from '../errors/errors.js';
import type { ProgressSink } from '../progress.js';
import { openPointStore, type PointStoreSettings } from './point-store.js';
import type { PointRetention } from './retention.js';
import type { PointManifest, PointPhases, PruneReport } from './store.js';

export interface RestorePointOptions extends PointStoreSettings {
  busyTimeoutMs: number;
  retention: PointRetention;
  /** Take no point; say what retention would drop now. */
  dryRun: boolean;
  now?: Date;
  /** Phases snapshot (pages read and hashed), publish and prune; on S3 also sync and upload. */
  progress?: ProgressSink | undefined;
}

export type RestorePointResult =
  | {
      status: 'ok' | 'warn';
      location: string;
      point: PointManifest;
      phases: PointPhases;
      /** Pages hashed one by one (the others were in runs whose digest equals the parent's). */
      pagesHashed: number;
      notes: string[];
      prune: PruneReport | null;
      /** Set (status `warn`) when the point was taken but the prune after it failed. */
      pruneError?: string;
    }
  | { status: 'skipped'; location: string; reason: string; prune: PruneReport | null };

/**
 * `backup --incremental`: one restore point of `db` into the store under the backup directory
 * (or `--dest`), then the store pruned to the retention policy. A point that finds the
 * database's job lock (a vacuum, a restore, a full backup …) or the store's lock (another point,
 * a prune) taken is `skipped`, not an error: the next one, minutes later, takes its changes too.
 * A prune that fails after the point was taken leaves the point and makes the run `warn`.
 */
export async function takeRestorePoint(db: string, o: RestorePointOptions): Promise<RestorePointResult> {
  singleDestination(o, 'backup --incremental (a restore point)');
  checkDatabaseFile(db);
  const store = openPointStore(o);
  const now = o.now ?? new Date();
  if (o.dryRun) {
    const prune = await store.prune({ policy: o.retention, now, dryRun: true });
    return {
      status: 'skipped',
      location: store.location,
      reason: `dry run: no point taken; retention would keep ${prune.kept.length} and drop ${prune.dropped.length}`,
      prune,
    };
  }
  const taken = await store.take({ database: db, now, busyTimeoutMs: o.busyTimeoutMs, progress: o.progress });
  if (taken.status === 'skipped') {
    return { status: 'skipped', location: store.location, reason: taken.reason, prune: null };
  }
  const { point, phases, pagesHashed, notes } = taken;
  const base = { location: store.location, point, phases, pagesHashed, notes };
  try {
    o.progress?.phase?.('prune');
    const prune = await store.prune({ policy: o.retention, now });
    return { status: 'ok', ...base, prune };
  } catch (error) {
    if (!(error instanceof BackupInvalidError)) throw error;
    return { status: 'warn', ...base, prune: null, pruneError: error.message };
  }
}
