import { join, resolve } from 'node:path';
import type { BackupStoreSettings } from '../backup/open-store.js';
import { parseS3Url } from '../backup/store.js';
import { type Keyring, loadKeyring } from '../crypto/keys.js';
import { InvalidInputError } from '../errors/errors.js';
import { realDir } from '../fs/files.js';
import type { ProgressSink } from '../progress.js';
import { packKeys, packSeal } from './pack-keys.js';
import { s3PointStore } from './s3-point-store.js';
import {
  type ListedPoints,
  listPoints,
  type PointManifest,
  type PruneOptions,
  type PruneReport,
  prunePoints,
  type RebuildReport,
  rebuildPoint,
  setPointPinned,
  type TakePointOptions,
  type TakePointResult,
  takePoint,
  type VerifyPointsReport,
  verifyPoints,
} from './store.js';

/** Restore points live in this subdirectory (or key prefix) of the backup directory (or `--dest`). */
export const POINTS_SUBDIR = 'restore-points';

/**
 * Where restore points live: a local directory, or an S3-compatible bucket. The jobs (`backup
 * --incremental`, `restore`, `backup list|verify|prune`) go through this, so each works the same
 * on both. Every operation is async because the S3 store's are.
 */
export interface PointStore {
  /** For messages: the directory, or `s3://bucket/prefix/restore-points/`. */
  readonly location: string;
  take(options: Omit<TakePointOptions, 'dir'>): Promise<TakePointResult>;
  list(): Promise<ListedPoints>;
  /** Rebuilds point `id` into the new local file `dest` and verifies it (see rebuildPoint). */
  rebuild(id: string, dest: string, progress?: ProgressSink): Promise<RebuildReport>;
  /** Every pack's checksum and every point's map chain (no rebuild). */
  verify(): Promise<VerifyPointsReport>;
  prune(options: PruneOptions): Promise<PruneReport>;
  /** Sets or clears point `id`'s pin (its manifest rewritten, under the store lock); returns the manifest. */
  setPinned(id: string, pinned: Pin | null): Promise<PointManifest>;
  /** The key files given: new packs are encrypted with the first, encrypted packs read with any. */
  keyring?: Keyring | undefined;
}

/** Why and since when a backup or point is kept whatever the retention says. */
export interface Pin {
  at: string;
  reason: string;
}

export function localPointStore(backupDir: string, keyring?: Keyring): PointStore {
  const dir = join(realDir(resolve(backupDir)), POINTS_SUBDIR);
  return {
    location: dir,
    keyring,
    take: async (o) => takePoint({ ...o, dir, ...(await packSeal(keyring)) }),
    list: async () => listPoints(dir),
    rebuild: async (id, dest, progress) => rebuildPoint(dir, id, dest, packKeys(keyring), progress),
    verify: async () => verifyPoints(dir),
    prune: async (o) => prunePoints(dir, o),
    setPinned: async (id, pinned) => setPointPinned(dir, id, pinned),
  };
}

export type PointStoreSettings = BackupStoreSettings;

/** The cache of an S3 point store lives in this subdirectory of the backup (staging) directory. */
export const POINTS_CACHE_SUBDIR = 'restore-points-cache';

/**
 * The point store a job's flags select: under the first `dest` (S3, or a directory) when given,
 * else under the backup directory (restore points go to one destination: `backup --incremental`
 * refuses more). The URL is checked here, at once; the AWS SDK is loaded on the S3 store's first
 * request. An S3 store's cache is `<backupDir>/restore-points-cache/<bucket>/<prefix>/`.
 */
export function openPointStore(settings: PointStoreSettings): PointStore {
  const keyring = loadKeyring(settings.encryptKeyFile);
  const dest = settings.dest?.[0];
  if (!dest) return localPointStore(settings.backupDir, keyring);
  if (!dest.includes('://')) return localPointStore(dest, keyring);
  const loc = parseS3Url(dest);
  if (!loc) throw new InvalidInputError(`--dest ${dest} is not an s3://bucket/prefix URL`);
  const client = {
    region: settings.s3Region,
    forcePathStyle: settings.s3ForcePathStyle,
    endpoint: settings.s3Endpoint,
  };
  return s3PointStore({
    bucket: loc.bucket,
    prefix: loc.prefix,
    subdir: POINTS_SUBDIR,
    cacheDir: join(realDir(resolve(settings.backupDir)), POINTS_CACHE_SUBDIR, loc.bucket, cacheName(loc.prefix)),
    objects: () => import('../backup/s3-store.js').then((m) => m.s3Objects(client, loc.bucket)),
    keyring,
  });
}

/**
 * A key prefix as one directory name, one to one: every character but letters, digits, `_` and
 * `-` as `%XX` (`prod/db/` → `prod%2Fdb`), the empty prefix as `%`.
 */
export function cacheName(prefix: string): string {
  const p = prefix.replace(/\/$/, '');
  if (p === '') return '%';
  return [...Buffer.from(p)]
    .map((b) => {
      const c = String.fromCharCode(b);
      return /[A-Za-z0-9_-]/.test(c) ? c : `%${b.toString(16).toUpperCase().padStart(2, '0')}`;
    })
    .join('');
}
