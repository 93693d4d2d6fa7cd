import { isVerified, type Manifest } from '../backup/manifest.js';
import type { BackupStore } from '../backup/store.js';
import { InvalidInputError } from '../errors/errors.js';
import type { Pin, PointStore } from './point-store.js';
import type { PointManifest, PruneReport } from './store.js';

/** What `backup pin|unpin|forget` found the id to name. */
type Found =
  | { kind: 'backup'; manifest: Manifest; newest: boolean }
  | { kind: 'point'; manifest: PointManifest; newest: boolean };

async function find(backupStore: BackupStore, pointStore: PointStore, id: string): Promise<Found> {
  const [{ backups }, { points }] = await Promise.all([backupStore.list(), pointStore.list()]);
  const b = backups.find((m) => m.id === id);
  if (b) {
    const newestVerified = [...backups].reverse().find(isVerified);
    return { kind: 'backup', manifest: b, newest: newestVerified?.id === id };
  }
  const p = points.find((q) => q.id === id);
  if (p) return { kind: 'point', manifest: p, newest: points[points.length - 1]?.id === id };
  throw new InvalidInputError(
    `no backup or restore point ${id} in ${backupStore.location} or ${pointStore.location}; list them with 'ora-db backup list'`,
  );
}

export interface PinResult {
  kind: 'backup' | 'point';
  id: string;
  createdAt: string;
  pinned: Pin | null;
  /** Already in the asked state: nothing was written. */
  unchanged: boolean;
}

/**
 * Pins (`reason` given) or unpins (null) a full backup or a restore point: its manifest is
 * rewritten with `pinned`, which retention and prune honour (a pinned backup is never deleted by
 * retention; a pinned point, with the maps and packs it needs, never by prune).
 */
export async function setPin(
  backupStore: BackupStore,
  pointStore: PointStore,
  id: string,
  reason: string | null,
  now = new Date(),
): Promise<PinResult> {
  const found = await find(backupStore, pointStore, id);
  const current = found.manifest.pinned ?? null;
  const base = { kind: found.kind, id, createdAt: found.manifest.createdAt };
  if ((reason === null && current === null) || (reason !== null && current?.reason === reason)) {
    return { ...base, pinned: current, unchanged: true };
  }
  const pinned = reason === null ? null : { at: now.toISOString(), reason };
  if (found.kind === 'backup') await backupStore.saveManifest({ ...found.manifest, pinned });
  else await pointStore.setPinned(id, pinned);
  return { ...base, pinned, unchanged: false };
}

export interface ForgetResult {
  kind: 'backup' | 'point';
  id: string;
  createdAt: string;
  /** Restore points: the maps and packs no other point needs, deleted with it. */
  prune: PruneReport | null;
}

/**
 * Deletes one full backup (manifest first, then its artifact) or one restore point (its manifest,
 * then only the maps and packs no other point needs: later points that build on it keep what
 * they use). Refuses a pinned one, and the newest verified backup or the newest point without
 * `force`.
 */
export async function forget(
  backupStore: BackupStore,
  pointStore: PointStore,
  id: string,
  options: { force: boolean },
): Promise<ForgetResult> {
  const found = await find(backupStore, pointStore, id);
  const what = found.kind === 'backup' ? 'backup' : 'restore point';
  if (found.manifest.pinned) {
    throw new InvalidInputError(
      `${what} ${id} is pinned (${found.manifest.pinned.reason}); unpin it first with 'ora-db backup unpin ${id}' — nothing was deleted`,
    );
  }
  if (found.newest && !options.force) {
    throw new InvalidInputError(
      `${what} ${id} is the newest ${found.kind === 'backup' ? 'verified backup' : 'restore point'}; give --force to delete it anyway — nothing was deleted`,
    );
  }
  const base = { kind: found.kind, id, createdAt: found.manifest.createdAt };
  if (found.kind === 'backup') {
    await backupStore.remove(id);
    return { ...base, prune: null };
  }
  return { ...base, prune: await pointStore.prune({ forget: [id], lockWaitMs: 5000 }) };
}
