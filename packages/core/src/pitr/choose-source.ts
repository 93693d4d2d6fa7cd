import { BACKUP_ID_RE, isVerified, type Manifest } from '../backup/manifest.js';
import { backupSource, type RestoreSource } from '../backup/restore.js';
import type { BackupStore } from '../backup/store.js';
import { InvalidInputError } from '../errors/errors.js';
import type { PointStore } from './point-store.js';
import { pointSource } from './restore-source.js';
import type { PointManifest } from './store.js';

export interface SourceSelector {
  /** A backup's or a restore point's id, or `latest`. */
  id?: string | undefined;
  /** The newest verified backup or restore point taken at or before this time. */
  at?: Date | undefined;
}

export interface ChosenSource {
  source: RestoreSource;
  /** What else was considered, for the result: the newest candidate of the other kind. */
  considered: { backups: number; points: number };
  /** Unreadable point manifests (named in the result, never silently skipped). */
  unreadablePoints: { file: string; problem: string }[];
}

/**
 * Picks what a restore restores among the full backups and the restore points: by id (either
 * kind), `latest` (the newest verified backup or point), or `at` (the newest verified backup or
 * point taken at or before it; a restore point is verified when it is rebuilt). Ties go to the
 * full backup (one file, checked end to end).
 */
export async function chooseRestoreSource(
  backupStore: BackupStore,
  pointStore: PointStore,
  selector: SourceSelector,
): Promise<ChosenSource> {
  const id = selector.id ?? 'latest';
  if (!selector.at && id !== 'latest' && !BACKUP_ID_RE.test(id)) {
    throw new InvalidInputError(
      `'${id}' is not a backup or restore point id (like ora-20261125T023500123Z-3fa9c1) or 'latest'`,
    );
  }
  const [{ backups }, { points, unreadable }] = await Promise.all([backupStore.list(), pointStore.list()]);
  const considered = { backups: backups.length, points: points.length };
  const done = (source: RestoreSource): ChosenSource => ({ source, considered, unreadablePoints: unreadable });
  const fromBackup = (m: Manifest) => done(backupSource(backupStore, m));
  const fromPoint = (p: PointManifest) => done(pointSource(pointStore, p));
  const where = `${backupStore.location} or ${pointStore.location}`;

  if (!selector.at && id !== 'latest') {
    const b = backups.find((m) => m.id === id);
    if (b) return fromBackup(b);
    const p = points.find((q) => q.id === id);
    if (p) return fromPoint(p);
    throw new InvalidInputError(`no backup or restore point ${id} in ${where}; list them with 'ora-db backup list'`);
  }
  const limit = selector.at ? selector.at.getTime() : Number.POSITIVE_INFINITY;
  const b = [...backups].reverse().find((m) => isVerified(m) && Date.parse(m.createdAt) <= limit);
  const p = [...points].reverse().find((q) => Date.parse(q.createdAt) <= limit);
  if (b && (!p || Date.parse(b.createdAt) >= Date.parse(p.createdAt))) return fromBackup(b);
  if (p) return fromPoint(p);
  if (selector.at) {
    const oldest = [backups.find(isVerified)?.createdAt, points[0]?.createdAt].filter(Boolean).sort()[0];
    throw new InvalidInputError(
      `no verified backup or restore point at or before ${selector.at.toISOString()} in ${where} (${oldest ? `the oldest is from ${oldest}` : 'there are none'}); list them with 'ora-db backup list'`,
    );
  }
  throw new InvalidInputError(
    `no verified backup or restore point in ${where}; take one with 'ora-db backup' or 'ora-db backup --incremental'`,
  );
}
