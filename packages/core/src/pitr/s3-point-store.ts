import { createHash } from 'node:crypto';
import {
  closeSync,
  existsSync,
  openSync,
  readdirSync,
  readFileSync,
  readSync,
  renameSync,
  rmSync,
  statSync,
} from 'node:fs';
import { join } from 'node:path';
import { BACKUP_ID_RE } from '../backup/manifest.js';
import type { S3Object, S3Objects } from '../backup/s3-store.js';
import type { Keyring } from '../crypto/keys.js';
import { BackupInvalidError, IoError, isOraError } from '../errors/errors.js';
import { ensurePrivateDir, fsyncDir, writeFileDurably } from '../fs/files.js';
import { checkPackFile, packFile } from './pack.js';
import { packKeys, packSeal } from './pack-keys.js';
import { type MapHeader, mapFile, type PackRef, readMap, readMapAt } from './page-map.js';
import type { PointStore } from './point-store.js';
import {
  type ListedPoints,
  lockForPoint,
  lockStore,
  neededFiles,
  type PointManifest,
  type PointTransfer,
  packNamesByPoint,
  packsBroken,
  pickPoint,
  planPrune,
  pointManifestSchema,
  pointPacks,
  rebuildPoint,
  storeDirs,
  sweepStore,
  takePointLocked,
  verifyListedPoints,
} from './store.js';

/**
 * Restore points on S3: the same store as a local one (points/, maps/, packs/ under
 * `s3://bucket/prefix/restore-points/`), worked through a local cache directory that is itself a
 * local point store. A point is taken in the cache (after the cache is made to match the bucket)
 * and then uploaded: its new pack, its map, its manifest last, so a point listed on S3 is always
 * complete. Reading (rebuild, verify) downloads what the cache lacks, each file checked against
 * the manifest's SHA-256 (packs) or its own checksum (maps) before it is used or kept.
 *
 * The cache's store lock serialises take and prune on this host; S3 has no lock, so one host
 * writes a given S3 point store (docs/RESTORE_POINTS.md, "On S3").
 *
 * `objects` loads the S3 client (the AWS SDK) on the store's first request.
 */
export interface S3PointStoreOptions {
  bucket: string;
  /** The `--dest` prefix, '' or ending in '/'. */
  prefix: string;
  subdir: string;
  cacheDir: string;
  objects: () => Promise<S3Objects>;
  /** Key files: new packs encrypted, encrypted packs read (see pack-keys.ts). */
  keyring?: Keyring | undefined;
}

/** GETs and DELETEs in flight at once. */
const PARALLEL = 8;

async function eachParallel<T>(items: readonly T[], fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < items.length) await fn(items[next++] as T);
  };
  await Promise.all(Array.from({ length: Math.min(PARALLEL, items.length) }, worker));
}

/** A file's MD5 (hex), read 1 MiB at a time: a single-part upload's ETag. */
function md5(path: string): string {
  const hash = createHash('md5');
  const fd = openSync(path, 'r');
  try {
    const buf = Buffer.alloc(1 << 20);
    for (;;) {
      const n = readSync(fd, buf, 0, buf.length, null);
      if (n === 0) break;
      hash.update(buf.subarray(0, n));
    }
  } finally {
    closeSync(fd);
  }
  return hash.digest('hex');
}

/** The bucket's objects under one subdirectory, by file name: what `verify` checks the cache against. */
type Remote = Map<string, S3Object>;

/** A cached file is the bucket's object when the object's ETag (a plain MD5) is the file's MD5. */
const sameAsRemote = (path: string, object: S3Object) =>
  /^[0-9a-f]{32}$/.test(object.etag) && md5(path) === object.etag;
const tempName = (file: string) => `.tmp-${process.pid}-${file}`;

export function s3PointStore(options: S3PointStoreOptions): PointStore {
  const base = `${options.prefix}${options.subdir}/`;
  const location = `s3://${options.bucket}/${base}`;
  const cache = options.cacheDir;
  const d = storeDirs(cache);
  const key = (sub: 'points' | 'maps' | 'packs', file: string) => `${base}${sub}/${file}`;
  const url = (sub: 'points' | 'maps' | 'packs', file: string) => `${location}${sub}/${file}`;
  const packUrl = (name: string) => url('packs', packFile(name));
  let client: Promise<S3Objects> | undefined;
  const s3 = () => {
    client ??= options.objects();
    return client;
  };
  const prepare = () => {
    ensurePrivateDir(cache);
    for (const sub of [d.points, d.maps, d.packs]) ensurePrivateDir(sub);
  };
  const tally = () => ({ objects: 0, bytes: 0, ms: 0 });

  /** Downloads `sub/file` into the cache through a temp file, `check`ed before it is renamed in. */
  async function download(
    sub: 'maps' | 'packs',
    file: string,
    check: (path: string) => string | null,
    got: PointTransfer['downloaded'],
  ): Promise<string | null> {
    const dir = sub === 'maps' ? d.maps : d.packs;
    const temp = join(dir, tempName(file));
    if (!(await (await s3()).getFile(key(sub, file), temp, url(sub, file)))) return 'missing on S3';
    const problem = check(temp);
    if (problem) {
      rmSync(temp, { force: true });
      return problem;
    }
    got.objects++;
    got.bytes += statSync(temp).size;
    renameSync(temp, join(dir, file));
    return null;
  }

  /**
   * The remote manifests, oldest first. A cached manifest whose MD5 equals the object's ETag is
   * read from the cache; the others are downloaded, and with `mirror` (the store's lock held)
   * written into the cache, whose manifests the bucket does not have are then deleted.
   */
  async function remoteManifests(mirror: boolean, got = tally()): Promise<ListedPoints & { objects: S3Object[] }> {
    const client = await s3();
    const prefix = key('points', '');
    const objects = (await client.list(prefix, url('points', ''))).filter((o) => {
      const name = o.key.slice(prefix.length);
      return name.endsWith('.json') && BACKUP_ID_RE.test(name.slice(0, -5));
    });
    const points: PointManifest[] = [];
    const unreadable: ListedPoints['unreadable'] = [];
    await eachParallel(objects, async (o) => {
      const name = o.key.slice(prefix.length);
      const cached = join(d.points, name);
      let text: string | null = null;
      const fresh = !(existsSync(cached) && md5(cached) === o.etag);
      if (!fresh) text = readFileSync(cached, 'utf8');
      else {
        text = await client.getText(o.key, url('points', name));
        if (text === null) return; // deleted since the listing
        got.objects++;
        got.bytes += Buffer.byteLength(text);
      }
      try {
        const parsed = pointManifestSchema.safeParse(JSON.parse(text));
        if (!parsed.success || `${parsed.data.id}.json` !== name) {
          unreadable.push({ file: name, problem: 'manifest does not match its schema' });
          return;
        }
        points.push(parsed.data);
        if (mirror && fresh) writeFileDurably(cached, text, d.points, tempName(name));
      } catch (error) {
        if (isOraError(error)) throw error;
        unreadable.push({ file: name, problem: (error as Error).message });
      }
    });
    if (mirror) {
      const remote = new Set(points.map((p) => `${p.id}.json`));
      let any = false;
      for (const name of readdirSync(d.points)) {
        if (!name.endsWith('.json') || name.startsWith('.') || remote.has(name)) continue;
        rmSync(join(d.points, name), { force: true });
        any = true;
      }
      if (any) fsyncDir(d.points);
    }
    points.sort((a, b) => (a.id < b.id ? -1 : 1));
    unreadable.sort((a, b) => (a.file < b.file ? -1 : 1));
    return { points, unreadable, objects };
  }

  /** Puts point `id`'s map chain in the cache (each map checked); throws BackupInvalidError naming the broken map. */
  async function ensureChain(
    id: string,
    got: PointTransfer['downloaded'],
    remote?: Remote,
    /** Maps whose chains this run has already ensured (a walk stops at one). */
    seen = new Set<string>(),
  ): Promise<void> {
    const problemOf = (path: string, name: string): string | null => {
      try {
        readMapAt(path, name);
        return null;
      } catch (error) {
        return (error as Error).message;
      }
    };
    let next: string | null = id;
    const walked: string[] = [];
    for (let n = 0; next !== null && !seen.has(next); n++) {
      const name: string = next;
      const file = mapFile(name);
      const cached = join(d.maps, file);
      const object = remote?.get(file);
      if (remote && !object) throw new BackupInvalidError(`page map ${url('maps', file)} is missing on S3`);
      if (
        !existsSync(cached) ||
        problemOf(cached, name) !== null ||
        (object !== undefined && !sameAsRemote(cached, object))
      ) {
        const problem = await download('maps', file, (temp) => problemOf(temp, name), got);
        if (problem === 'missing on S3') throw new BackupInvalidError(`page map ${url('maps', file)} is missing on S3`);
        if (problem) throw new BackupInvalidError(`page map ${url('maps', file)} is damaged (${problem})`);
      }
      next = readMap(d.maps, name).header.parent;
      walked.push(name);
      if (n > 100_000) throw new BackupInvalidError(`page map chain of ${id} does not end`);
    }
    for (const name of walked) seen.add(name);
  }

  /**
   * Puts `packs` in the cache, each checked against its manifest checksum (a cached copy too,
   * with `recheck`; else a cached copy of the right size is taken as is). A damaged cached copy is
   * downloaded again. With `remote` (verify), a cached copy counts only if it is also the bucket's
   * object (its MD5 is the object's ETag); otherwise the object is downloaded and checked. Returns
   * each pack's problem (null: sound).
   */
  async function ensurePacks(
    packs: readonly PackRef[],
    recheck: boolean,
    got: PointTransfer['downloaded'],
    remote?: Remote,
  ): Promise<Map<string, string | null>> {
    const problems = new Map<string, string | null>();
    const unique = [...new Map(packs.map((q) => [q.name, q])).values()];
    await eachParallel(unique, async (q) => {
      const file = packFile(q.name);
      const cached = join(d.packs, file);
      const object = remote?.get(file);
      if (remote && !object) {
        problems.set(q.name, 'missing on S3');
        return;
      }
      if (existsSync(cached)) {
        const sound =
          (recheck ? checkPackFile(cached, q.sha256) === null : statSync(cached).size === q.bytes) &&
          (object === undefined || sameAsRemote(cached, object));
        if (sound) {
          problems.set(q.name, null);
          return;
        }
      }
      problems.set(q.name, await download('packs', file, (temp) => checkPackFile(temp, q.sha256), got));
    });
    return problems;
  }

  return {
    location,
    keyring: options.keyring,

    async take(o) {
      const started = performance.now();
      await s3();
      prepare();
      const beforeLocks = performance.now();
      const locks = lockForPoint(o.database, cache, o.lockWaitMs ?? 0);
      if ('skipped' in locks) return { status: 'skipped', reason: locks.skipped };
      const lockedAt = performance.now();
      try {
        const transfer: PointTransfer = { downloaded: tally(), uploaded: tally() };
        const t0 = performance.now();
        o.progress?.phase?.('sync');
        const { points } = await remoteManifests(true, transfer.downloaded);
        const newest = points[points.length - 1];
        const notes: string[] = [];
        if (newest) {
          // A newest point the cache cannot be given (a map or pack missing or damaged on S3) makes
          // this point a full one (takePointLocked says so), as in a local store.
          try {
            await ensureChain(newest.id, transfer.downloaded);
            const problems = await ensurePacks(pointPacks(cache, newest), false, transfer.downloaded);
            for (const [name, problem] of problems) {
              if (problem) notes.push(`pack ${packUrl(name)} of the newest point ${newest.id}: ${problem}`);
            }
          } catch (error) {
            if (!(error instanceof BackupInvalidError)) throw error;
            notes.push(error.message);
          }
        }
        transfer.downloaded.ms = Math.round(performance.now() - t0);
        // lockMs: the locks alone (loading the S3 client and the sync above are in neither phase).
        const taken = takePointLocked(
          { ...o, dir: cache, ...(await packSeal(options.keyring)) },
          started,
          started + (lockedAt - beforeLocks),
        );
        const p = taken.point;
        o.progress?.phase?.('upload');
        const t1 = performance.now();
        const client = await s3();
        const uploads: { sub: 'points' | 'maps' | 'packs'; file: string; path: string; type: string }[] = [];
        if (p.pack) {
          uploads.push({
            sub: 'packs',
            file: packFile(p.pack.name),
            path: join(d.packs, packFile(p.pack.name)),
            type: 'application/octet-stream',
          });
        }
        uploads.push({
          sub: 'maps',
          file: mapFile(p.id),
          path: join(d.maps, mapFile(p.id)),
          type: 'application/octet-stream',
        });
        uploads.push({
          sub: 'points',
          file: `${p.id}.json`,
          path: join(d.points, `${p.id}.json`),
          type: 'application/json',
        });
        try {
          for (const u of uploads) {
            const bytes = statSync(u.path).size;
            await client.putFile(key(u.sub, u.file), u.path, bytes, u.type, url(u.sub, u.file));
            transfer.uploaded.objects++;
            transfer.uploaded.bytes += bytes;
          }
        } catch (error) {
          // The cache must not keep a point the bucket does not have: its next point's parent
          // would be one no other host can read. What was uploaded is garbage a prune removes.
          for (const u of [...uploads].reverse()) rmSync(u.path, { force: true });
          fsyncDir(d.points);
          throw new IoError(
            `${(error as Error).message}; restore point ${p.id} was not published (removed from the cache ${cache})`,
            'IO_ERROR',
            { cause: error },
          );
        }
        transfer.uploaded.ms = Math.round(performance.now() - t1);
        return { ...taken, notes: [...notes, ...taken.notes], transfer };
      } finally {
        locks.release();
      }
    },

    async list() {
      const { points, unreadable } = await remoteManifests(false);
      return { points, unreadable };
    },

    async rebuild(id, dest, progress) {
      progress?.phase?.('download');
      const listed = await remoteManifests(false);
      const manifest = pickPoint(listed.points, { id }, location);
      prepare();
      const got = tally();
      await ensureChain(manifest.id, got);
      const problems = await ensurePacks(pointPacks(cache, manifest), true, got);
      const damaged = new Map([...problems].filter((e): e is [string, string] => e[1] !== null));
      if (damaged.size > 0) {
        // Which other points the damage breaks: those whose chains the cache holds.
        throw new BackupInvalidError(packsBroken(packUrl, packNamesByPoint(cache, listed.points), damaged));
      }
      const cached = join(d.points, `${manifest.id}.json`);
      if (!existsSync(cached)) {
        writeFileDurably(cached, `${JSON.stringify(manifest, null, 2)}\n`, d.points, tempName(`${manifest.id}.json`));
      }
      return rebuildPoint(cache, manifest.id, dest, packKeys(options.keyring), progress);
    },

    async verify() {
      const listed = await remoteManifests(false);
      prepare();
      const got = tally();
      const remote = async (sub: 'maps' | 'packs'): Promise<Remote> => {
        const prefix = key(sub, '');
        const objects = await (await s3()).list(prefix, url(sub, ''));
        return new Map(objects.map((o) => [o.key.slice(prefix.length), o]));
      };
      // Every point's map chain first: the chains carry the points' pack lists.
      const remoteMaps = await remote('maps');
      const maps = new Map<string, string>();
      const seen = new Set<string>();
      for (const p of listed.points) {
        try {
          await ensureChain(p.id, got, remoteMaps, seen);
        } catch (error) {
          if (!(error instanceof BackupInvalidError)) throw error;
          maps.set(p.id, error.message);
        }
      }
      const headers = new Map<string, MapHeader>();
      const wanted: PackRef[] = [];
      for (const p of listed.points) {
        if (maps.has(p.id)) continue;
        try {
          wanted.push(...pointPacks(cache, p, headers));
        } catch (error) {
          if (!(error instanceof BackupInvalidError)) throw error;
          maps.set(p.id, error.message);
        }
      }
      const packs = await ensurePacks(wanted, true, got, await remote('packs'));
      const report = verifyListedPoints(cache, listed, { packs, maps });
      return report;
    },

    async setPinned(id, pinned) {
      const client = await s3();
      prepare();
      const lock = lockStore(cache, pinned ? 'pin' : 'unpin', 5000);
      try {
        const listed = await remoteManifests(true);
        const manifest = pickPoint(listed.points, { id }, location);
        const updated: PointManifest = { ...manifest, pinned };
        const text = `${JSON.stringify(updated, null, 2)}\n`;
        await client.putText(key('points', `${id}.json`), text, 'application/json', url('points', `${id}.json`));
        writeFileDurably(join(d.points, `${id}.json`), text, d.points, tempName(`${id}.json`));
        return updated;
      } finally {
        lock.release();
      }
    },

    async prune(o) {
      const client = await s3();
      prepare();
      const lock = lockStore(cache, 'prune', o.lockWaitMs ?? 0);
      try {
        const listed = await remoteManifests(true);
        const { plan, report } = planPrune(location, listed, o);
        if (o.dryRun) return report;
        const kept = plan.keep.map((k) => k.point);
        // Every kept point's map chain in the cache first: what they need is known before anything goes.
        const seen = new Set<string>();
        for (const p of kept) await ensureChain(p.id, tally(), undefined, seen);
        const { maps, packs } = neededFiles(cache, kept);
        const sizes = new Map(listed.objects.map((x) => [x.key, x.size]));
        const removeRemote = async (sub: 'points' | 'maps' | 'packs', file: string) => {
          await client.remove(key(sub, file), url(sub, file));
          report.freedBytes += sizes.get(key(sub, file)) ?? 0;
          o.onDelete?.(url(sub, file));
        };
        // Manifests first: a point is gone before anything it needs is.
        await eachParallel(plan.drop, (p) => removeRemote('points', `${p.id}.json`));
        for (const [sub, keep, deleted] of [
          ['maps', maps, report.deletedMaps],
          ['packs', packs, report.deletedPacks],
        ] as const) {
          const prefix = key(sub, '');
          const objects = await client.list(prefix, url(sub, ''));
          for (const x of objects) sizes.set(x.key, x.size);
          const drop = objects.map((x) => x.key.slice(prefix.length)).filter((f) => !keep.has(f));
          await eachParallel(drop, async (f) => {
            await removeRemote(sub, f);
            deleted.push(f);
          });
          deleted.sort();
        }
        // The same prune in the cache: its manifests become the kept ones, then what they do not need goes.
        const keptFiles = new Set(kept.map((p) => `${p.id}.json`));
        for (const name of readdirSync(d.points)) {
          if (name.endsWith('.json') && !name.startsWith('.') && !keptFiles.has(name)) rmSync(join(d.points, name));
        }
        fsyncDir(d.points);
        sweepStore(cache, kept, { deletedMaps: [], deletedPacks: [] }, (path) => rmSync(path, { force: true }));
        return report;
      } finally {
        lock.release();
      }
    },
  };
}
