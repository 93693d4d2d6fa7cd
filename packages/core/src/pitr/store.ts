import { hash as digest } from 'node:crypto';
import {
  closeSync,
  existsSync,
  fsyncSync,
  openSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeSync,
} from 'node:fs';
import { join } from 'node:path';
import * as z from 'zod';
import { openCopy } from '../backup/backup.js';
import { BACKUP_ID_RE, encryptionSchema, newBackupId } from '../backup/manifest.js';
import { withDatabase } from '../connection/connection.js';
import { ENCRYPTION_SCHEME } from '../crypto/stream.js';
import { BackupInvalidError, InvalidInputError, LockHeldError } from '../errors/errors.js';
import { ensurePrivateDir, fsyncDir, ioError, writeFileDurably } from '../fs/files.js';
import { checkIntegrity } from '../integrity/integrity.js';
import { acquireJobLock, type JobLock } from '../locking/job-lock.js';
import { lapTimer, type ProgressSink } from '../progress.js';
import { VERSION } from '../version.js';
import { PageHashIndex } from './hash-index.js';
import { checkPackFile, type PackKeys, PackReader, type PackSeal, PackWriter, packFile } from './pack.js';
import {
  chainPackRefs,
  encodeDeltaMap,
  encodeFullMap,
  headerChain,
  type MapEntry,
  type MapHeader,
  mapChain,
  mapFile,
  type PackRef,
  type PageState,
  packRefSchema,
  referencedPacks,
  resolveChain,
  resolveMap,
  writeMap,
} from './page-map.js';
import { DEFAULT_POINT_RETENTION, type PointPlan, type PointRetention, planPointRetention } from './retention.js';
import {
  RUN_PAGES,
  readRunDigests,
  removeOtherRunDigests,
  runDigest,
  sameAsParentRun,
  writeRunDigests,
} from './run-digests.js';
import {
  BATCH_PAGES,
  openSnapshotSource,
  readSnapshotPages,
  type SnapshotInfo,
  type SnapshotSource,
} from './snapshot-pages.js';

/**
 * A store of restore points in a local directory:
 *
 *     points/<id>.json   one manifest per point — a point exists once its manifest does
 *     maps/<id>.map      its page map (full, or a delta against its parent's; see page-map.ts)
 *     packs/<id>.pack    the pages it added, content-addressed (see pack.ts); none if it added none
 *     store.ora-job-lock held while a point is written or the store is pruned
 *
 * Files are written temp → fsync → rename → fsync dir, manifest last; prune deletes manifests
 * first, then what no remaining manifest references. So a crash at any instant leaves every
 * published point complete, plus at most some garbage the next prune removes.
 */

/** Manifests this code writes; it reads 1 too (whose manifests list their packs, see pointPacks). */
const FORMAT_VERSION = 2;

export const pointManifestSchema = z.object({
  format: z.literal('ora-restore-point'),
  formatVersion: z.union([z.literal(1), z.literal(FORMAT_VERSION)]),
  id: z.string().regex(BACKUP_ID_RE),
  createdAt: z.string(),
  tool: z.object({ name: z.string(), version: z.string() }),
  source: z.string(),
  parent: z.string().regex(BACKUP_ID_RE).nullable(),
  pageSize: z.number(),
  pageCount: z.number(),
  userVersion: z.number(),
  snapshot: z.object({
    method: z.literal('read-transaction'),
    journalMode: z.string(),
    mxFrame: z.number(),
    walPages: z.number(),
  }),
  changedPages: z.number(),
  newPages: z.number(),
  /** Bytes this point added to the store: its pack, its map, its manifest (about). */
  storedBytes: z.number(),
  map: z.object({
    kind: z.enum(['full', 'delta']),
    bytes: z.number(),
    /** Delta bytes since the last full map in its chain, this one included. */
    chainBytes: z.number(),
    /** Bytes of the full map its chain starts from (its own if full). */
    fullBytes: z.number(),
    chainLength: z.number(),
  }),
  /** The pack this point wrote, if it wrote one. */
  pack: packRefSchema.nullable(),
  /**
   * Format 1 only: every pack the point's pages live in, with their checksums. From format 2 the
   * page maps carry this list as deltas (see page-map.ts, and pointPacks).
   */
  packs: z.array(packRefSchema).optional(),
  durationMs: z.number(),
  /** Kept by every prune until unpinned (`backup pin`). */
  pinned: z.object({ at: z.string(), reason: z.string() }).nullable().optional(),
  /** Its own pack's blocks are encrypted under this key (docs/BACKUP.md, "Encryption at rest"). */
  encryption: encryptionSchema.optional(),
});
export type PointManifest = z.infer<typeof pointManifestSchema>;

const POINTS = 'points';
const MAPS = 'maps';
const PACKS = 'packs';
/** A chain of deltas longer than this gets a full map (bounds the files a restore reads). */
const MAX_CHAIN = 500;
/** Deltas may add up to the last full map's size, or this much when that map is smaller. */
const MIN_CHAIN_BYTES = 16 * 1024;

/** The store's subdirectories: manifests, maps, packs. */
export function storeDirs(dir: string) {
  return { points: join(dir, POINTS), maps: join(dir, MAPS), packs: join(dir, PACKS) };
}

/** The store's lock (held while a point is written or the store is pruned). */
export function lockStore(dir: string, job: string, waitMs: number): JobLock {
  ensurePrivateDir(dir);
  return acquireJobLock(join(dir, 'store'), { job, waitMs });
}

/**
 * Every pack point `manifest`'s pages live in, with its checksum: the list its page-map chain
 * carries (format 2), or its manifest's own (format 1). `headers` caches map headers across
 * calls (chains share maps). Throws BackupInvalidError when the chain cannot be read.
 */
export function pointPacks(dir: string, manifest: PointManifest, headers?: Map<string, MapHeader>): PackRef[] {
  if (manifest.packs) return manifest.packs;
  const refs = chainPackRefs(headerChain(storeDirs(dir).maps, manifest.id, headers));
  if (!refs) throw new BackupInvalidError(`restore point ${manifest.id}: its page maps do not list its packs`);
  return refs;
}

/**
 * The pack names of each of `points` whose list can be read (a point whose map chain is broken
 * is left out: verify reports its chain).
 */
export function packNamesByPoint(dir: string, points: readonly PointManifest[]): Map<string, Set<string>> {
  const headers = new Map<string, MapHeader>();
  const byPoint = new Map<string, Set<string>>();
  for (const p of points) {
    try {
      byPoint.set(p.id, new Set(pointPacks(dir, p, headers).map((q) => q.name)));
    } catch (error) {
      if (!(error instanceof BackupInvalidError)) throw error;
    }
  }
  return byPoint;
}

export interface ListedPoints {
  /** Oldest first. */
  points: PointManifest[];
  unreadable: { file: string; problem: string }[];
}

/** The published points of a store, oldest first; unreadable manifests are named, not skipped silently. */
export function listPoints(dir: string): ListedPoints {
  const d = storeDirs(dir).points;
  if (!existsSync(d)) return { points: [], unreadable: [] };
  const points: PointManifest[] = [];
  const unreadable: ListedPoints['unreadable'] = [];
  for (const name of readdirSync(d).sort()) {
    if (!name.endsWith('.json') || name.startsWith('.')) continue;
    try {
      const parsed = pointManifestSchema.safeParse(JSON.parse(readFileSync(join(d, name), 'utf8')));
      if (parsed.success && `${parsed.data.id}.json` === name) points.push(parsed.data);
      else unreadable.push({ file: name, problem: 'manifest does not match its schema' });
    } catch (error) {
      unreadable.push({ file: name, problem: (error as Error).message });
    }
  }
  points.sort((a, b) => (a.id < b.id ? -1 : 1));
  return { points, unreadable };
}

/** One line of `backup list` for points: what each holds and the time its restore stands for. */
export interface PointSummary {
  id: string;
  createdAt: string;
  kind: 'full' | 'delta';
  parent: string | null;
  pageCount: number;
  changedPages: number;
  storedBytes: number;
  /** The point is the state from `createdAt` until the next point's time (null: the newest). */
  coversUntil: string | null;
}

export function summarizePoints(points: readonly PointManifest[]): PointSummary[] {
  return points.map((p, i) => ({
    id: p.id,
    createdAt: p.createdAt,
    kind: p.map.kind,
    parent: p.parent,
    pageCount: p.pageCount,
    changedPages: p.changedPages,
    storedBytes: p.storedBytes,
    coversUntil: points[i + 1]?.createdAt ?? null,
  }));
}

/** Picks a point by id, or the newest at or before `at`. */
export function pickPoint(
  points: readonly PointManifest[],
  selector: { id?: string; at?: Date },
  dir: string,
): PointManifest {
  if (selector.id !== undefined) {
    if (!BACKUP_ID_RE.test(selector.id)) {
      throw new InvalidInputError(
        `restore point id '${selector.id}' is not an id (ora-YYYYMMDDTHHMMSSmmmZ-xxxxxx); list them with backup list`,
      );
    }
    const p = points.find((q) => q.id === selector.id);
    if (!p) throw new InvalidInputError(`no restore point ${selector.id} in ${dir}; list them with backup list`);
    return p;
  }
  if (selector.at) {
    const at = selector.at.getTime();
    const p = [...points].reverse().find((q) => Date.parse(q.createdAt) <= at);
    if (!p) {
      throw new InvalidInputError(
        `no restore point at or before ${selector.at.toISOString()} in ${dir} (the oldest is ${points[0]?.createdAt ?? 'none: the store is empty'})`,
      );
    }
    return p;
  }
  const p = points[points.length - 1];
  if (!p) throw new InvalidInputError(`no restore points in ${dir}`);
  return p;
}

export interface TakePointOptions {
  database: string;
  dir: string;
  now?: Date;
  /** How long to wait for the database's job lock and the store's lock (default 0: skip at once). */
  lockWaitMs?: number;
  busyTimeoutMs?: number;
  /** Encrypt the new pack's blocks with this key (a point never reuses an unencrypted pack then). */
  seal?: PackSeal | undefined;
  /** Phases `snapshot` (pages read and hashed, of the snapshot's page count) and `publish`. */
  progress?: ProgressSink | undefined;
  /** The database opened already (takePoint opens it once it holds the locks); else opened for the snapshot. */
  source?: SnapshotSource;
}

export type TakePointResult =
  | {
      status: 'taken';
      point: PointManifest;
      snapshot: SnapshotInfo;
      phases: PointPhases;
      /** Pages hashed one by one (the others were in runs whose digest equals the parent's). */
      pagesHashed: number;
      notes: string[];
      /** A point store on S3: what went over the network for this point. */
      transfer?: PointTransfer;
    }
  | { status: 'skipped'; reason: string };

/** Objects and bytes a point moved to and from S3, and the time spent (ms). */
export interface PointTransfer {
  /** The cache made to match the bucket: manifests, and the newest point's maps and packs it lacked. */
  downloaded: { objects: number; bytes: number; ms: number };
  /** The new point: its pack (if it added pages), its map, its manifest (last). */
  uploaded: { objects: number; bytes: number; ms: number };
}

/** Where a point's time went (ms): the two locks, reading the parent's map and pack indexes, the snapshot read and hashing, writing pack, map and manifest. */
export interface PointPhases {
  lockMs: number;
  parentMs: number;
  snapshotMs: number;
  publishMs: number;
}

interface ParentState {
  manifest: PointManifest;
  state: PageState;
  /** Its pack list (pointPacks), and whether its maps carry it (a delta may only follow such a chain). */
  refs: PackRef[];
  mapsListPacks: boolean;
  /** By the state's pack number; null for a pack its chain names but no page of it uses (a prune may have deleted it). */
  readers: (PackReader | null)[];
}

function loadParent(dir: string, manifest: PointManifest): ParentState {
  const d = storeDirs(dir);
  const chain = mapChain(d.maps, manifest.id);
  const state = resolveChain(chain, manifest.id);
  const listed = chainPackRefs(chain.map((m) => m.header));
  const refs = manifest.packs ?? listed;
  if (!refs) throw new BackupInvalidError(`restore point ${manifest.id}: its page maps do not list its packs`);
  const mapsListPacks = listed !== null;
  const readers: (PackReader | null)[] = [];
  const used = new Set(referencedPacks(state));
  try {
    for (const name of state.packs) readers.push(used.has(name) ? new PackReader(join(d.packs, packFile(name))) : null);
  } catch (error) {
    for (const r of readers) r?.close();
    throw error;
  }
  return { manifest, state, refs, mapsListPacks, readers };
}

/**
 * Takes a restore point of `database` into the store at `dir`: one consistent snapshot read
 * under a read transaction (no write lock), every page hashed (SHA-256), the pages whose hash the
 * parent point does not have for that page number looked up among the parent's packs (content
 * addressing: a page moved or restored to earlier content is not stored again) and otherwise
 * added to this point's pack; then its page map and manifest.
 *
 * Returns `skipped` when the database's job lock (a vacuum, a restore …) or the store's lock (a
 * prune) is held past `lockWaitMs`.
 */
export function takePoint(options: TakePointOptions): TakePointResult {
  const started = performance.now();
  const locks = lockForPoint(options.database, options.dir, options.lockWaitMs ?? 0);
  if ('skipped' in locks) return { status: 'skipped', reason: locks.skipped };
  try {
    // Opened as soon as the locks are held and closed last: while it is open, a client with a
    // connection per transaction (the guide's) commits without checkpointing at each close.
    const source = openSnapshotSource(options.database, {
      ...(options.busyTimeoutMs !== undefined ? { busyTimeoutMs: options.busyTimeoutMs } : {}),
    });
    try {
      const taken = takePointLocked({ ...options, source }, started);
      // What the WAL gained while the point ran is copied by us, not by the next writer's close.
      source.checkpoint();
      return taken;
    } finally {
      source.close();
    }
  } finally {
    locks.release();
  }
}

/**
 * The locks a point holds: the database's job lock, then the store's. `skipped` (nothing held)
 * when either is held past `waitMs`.
 */
export function lockForPoint(
  database: string,
  dir: string,
  waitMs: number,
): { release: () => void } | { skipped: string } {
  let dbLock: JobLock;
  try {
    dbLock = acquireJobLock(database, { job: 'backup --incremental', waitMs });
  } catch (error) {
    if (error instanceof LockHeldError) return { skipped: error.message };
    throw error;
  }
  try {
    const storeLock = lockStore(dir, 'backup --incremental', waitMs);
    return {
      release: () => {
        storeLock.release();
        dbLock.release();
      },
    };
  } catch (error) {
    dbLock.release();
    if (error instanceof LockHeldError) return { skipped: error.message };
    throw error;
  }
}

/**
 * takePoint's work, with both of lockForPoint's locks held by the caller: `started` is when the
 * point began, `lockedAt` when the locks were held (default: now; the phases' `lockMs` is the time
 * between, and anything the caller did after `lockedAt` counts in no phase but in `durationMs`).
 */
export function takePointLocked(
  options: TakePointOptions,
  started: number,
  lockedAt?: number,
): TakePointResult & { status: 'taken' } {
  let parent: ParentState | undefined;
  let loaded: ParentState | undefined;
  let writer: PackWriter | undefined;
  try {
    const d = storeDirs(options.dir);
    for (const sub of [d.points, d.maps, d.packs]) ensurePrivateDir(sub);
    const entered = performance.now();
    const lap = lapTimer(entered);
    const phases: PointPhases = {
      lockMs: Math.round((lockedAt ?? entered) - started),
      parentMs: 0,
      snapshotMs: 0,
      publishMs: 0,
    };
    const now = options.now ?? new Date();
    const id = newBackupId(now);
    const { points } = listPoints(options.dir);
    const last = points[points.length - 1];
    const notes: string[] = [];
    if (last) {
      // A parent whose map or packs cannot be read would leave the store without new points
      // until someone repairs it: this point is then a full one (and says why).
      try {
        loaded = loadParent(options.dir, last);
        parent = loaded;
      } catch (error) {
        if (!(error instanceof BackupInvalidError)) throw error;
        notes.push(`the newest point ${last.id} cannot be read (${error.message}); this point stores every page`);
      }
      // Encryption turned on: no page of this point may stay in an unencrypted pack.
      if (parent && options.seal && parent.readers.some((r) => r && !r.encrypted)) {
        parent = undefined;
        notes.push(
          'encryption is on and the newest point has unencrypted packs: this point stores every page, encrypted',
        );
      }
    }
    phases.parentMs = lap();

    const hashAt = (i: number): Buffer | null => {
      if (!parent || i >= parent.state.pageCount) return null;
      return (parent.readers[parent.state.pack[i] as number] as PackReader).hashOf(parent.state.slot[i] as number);
    };
    // Every page the parent's packs hold, by hash (built at the first changed page), and this point's.
    let known: PageHashIndex | null = null;
    const knownPages = (): PageHashIndex => {
      if (known) return known;
      const readers = parent?.readers ?? [];
      const index = new PageHashIndex(readers.reduce((n, r) => n + (r?.pages ?? 0), 0) + 1024);
      parent?.state.packs.forEach((name, k) => {
        const r = readers[k];
        if (!r) return; // a pack none of the parent's pages uses any more (it may be pruned)
        index.addPack(name, r.hashes);
      });
      index.startNew(id, parent ? 1024 : 65536);
      known = index;
      return index;
    };
    // Runs of pages whose digest equals the parent's hold the parent's pages (run-digests.ts).
    const parentRuns =
      parent && parent.state.pageCount > 0
        ? readRunDigests(options.dir, parent.manifest.id, parent.state.pageSize, parent.state.pageCount)
        : null;
    const runs: Buffer[] = [];
    const sameRun = new Uint8Array(BATCH_PAGES / RUN_PAGES);
    let batchFirst = 1;
    let pagesHashed = 0;
    const entries: MapEntry[] = [];
    const progress = options.progress;
    progress?.phase?.('snapshot');
    const read = (
      onPage: (pgno: number, page: Buffer) => void,
      onBatch: (first: number, pages: Buffer, pageSize: number, pageCount: number) => void,
    ): SnapshotInfo =>
      options.source
        ? options.source.read(onPage, onBatch)
        : readSnapshotPages(options.database, onPage, {
            ...(options.busyTimeoutMs !== undefined ? { busyTimeoutMs: options.busyTimeoutMs } : {}),
            onBatch,
          });
    const snapshot = read(
      (pgno, page) => {
        if (!writer) {
          // A page size changed (VACUUM with a new page_size) starts over: a full point.
          if (parent && parent.state.pageSize !== page.length) parent = undefined;
          writer = new PackWriter(d.packs, id, page.length, options.seal);
        }
        if (sameRun[((pgno - batchFirst) / RUN_PAGES) | 0]) return;
        pagesHashed++;
        const hash = digest('sha256', page, 'buffer');
        if (hashAt(pgno - 1)?.equals(hash)) return;
        const found = knownPages().find(hash);
        if (found) {
          entries.push({ pgno, pack: found.pack, slot: found.slot });
          return;
        }
        const slot = writer.add(hash, page);
        knownPages().addNew(hash);
        entries.push({ pgno, pack: id, slot });
      },
      (first, pages, pageSize, pageCount) => {
        progress?.update(first - 1, pageCount, 'pages');
        batchFirst = first;
        sameRun.fill(0);
        const usable = parentRuns !== null && parentRuns.pageSize === pageSize;
        for (let k = 0, o = 0; o < pages.length; k++, o += RUN_PAGES * pageSize) {
          const run = pages.subarray(o, o + RUN_PAGES * pageSize);
          const digest = runDigest(run);
          runs.push(digest);
          if (usable && sameAsParentRun(parentRuns, (first - 1) / RUN_PAGES + k, run.length / pageSize, digest)) {
            sameRun[k] = 1;
          }
        }
      },
    );
    progress?.update(snapshot.pageCount, snapshot.pageCount, 'pages');
    phases.snapshotMs = lap();
    progress?.phase?.('publish');
    const pageSize = snapshot.pageSize;
    const newPages = writer?.pages ?? 0;
    const pack = writer && newPages > 0 ? writer.finish() : null;
    if (writer && newPages === 0) writer.abort();
    writer = undefined;

    // The new state: the parent's, cut or grown to the new size, with the changed pages.
    const base = parent?.state;
    const packs = base ? [...base.packs] : [];
    const packIndex = new Map(packs.map((n, i) => [n, i]));
    // The parent's columns are not needed after the snapshot: the same size reuses them.
    const reuse = base !== undefined && base.pageCount === snapshot.pageCount;
    const state: PageState = {
      pageSize,
      pageCount: snapshot.pageCount,
      packs,
      pack: reuse ? base.pack : new Uint32Array(snapshot.pageCount),
      slot: reuse ? base.slot : new Uint32Array(snapshot.pageCount),
    };
    if (base && !reuse) {
      const keep = Math.min(base.pageCount, snapshot.pageCount);
      state.pack.set(base.pack.subarray(0, keep));
      state.slot.set(base.slot.subarray(0, keep));
    }
    for (const e of entries) {
      let k = packIndex.get(e.pack);
      if (k === undefined) {
        k = packs.length;
        packs.push(e.pack);
        packIndex.set(e.pack, k);
      }
      state.pack[e.pgno - 1] = k;
      state.slot[e.pgno - 1] = e.slot;
    }
    const pm = parent?.manifest;
    // This point's pack list: the packs its pages live in, with checksums from the parent's list.
    const known2 = new Map<string, PackRef>();
    for (const q of parent?.refs ?? []) known2.set(q.name, q);
    if (pack) known2.set(pack.name, pack);
    const referenced = referencedPacks(state).map((n) => {
      const info = known2.get(n);
      if (!info) throw new BackupInvalidError(`restore point ${pm?.id}: pack ${n} is not in its pack list`);
      return info;
    });
    const listed = new Set(referenced.map((q) => q.name));
    const before = new Set((parent?.refs ?? []).map((q) => q.name));
    let mapData =
      pm && parent?.mapsListPacks
        ? encodeDeltaMap(id, pm.id, pageSize, snapshot.pageCount, entries, {
            added: referenced.filter((q) => !before.has(q.name)),
            dropped: [...before].filter((n) => !listed.has(n)),
          })
        : null;
    let map: PointManifest['map'];
    if (
      pm &&
      mapData &&
      pm.map.chainBytes + mapData.length <= Math.max(pm.map.fullBytes, MIN_CHAIN_BYTES) &&
      pm.map.chainLength < MAX_CHAIN
    ) {
      map = {
        kind: 'delta',
        bytes: mapData.length,
        chainBytes: pm.map.chainBytes + mapData.length,
        fullBytes: pm.map.fullBytes,
        chainLength: pm.map.chainLength + 1,
      };
    } else {
      mapData = encodeFullMap(id, state, known2);
      map = { kind: 'full', bytes: mapData.length, chainBytes: 0, fullBytes: mapData.length, chainLength: 0 };
    }
    writeMap(d.maps, id, mapData);

    const manifest: PointManifest = {
      format: 'ora-restore-point',
      formatVersion: FORMAT_VERSION,
      id,
      createdAt: now.toISOString(),
      tool: { name: 'ora-db', version: VERSION },
      source: options.database,
      parent: pm?.id ?? null,
      pageSize,
      pageCount: snapshot.pageCount,
      userVersion: snapshot.userVersion,
      snapshot: {
        method: 'read-transaction',
        journalMode: snapshot.journalMode,
        mxFrame: snapshot.mxFrame,
        walPages: snapshot.walPages,
      },
      changedPages: entries.length,
      newPages,
      storedBytes: 0,
      map,
      pack,
      durationMs: 0,
      ...(options.seal ? { encryption: { scheme: ENCRYPTION_SCHEME, ...options.seal.info } } : {}),
    };
    manifest.durationMs = Math.round(performance.now() - started);
    const draft = JSON.stringify(manifest, null, 2);
    manifest.storedBytes = (pack?.bytes ?? 0) + mapData.length + draft.length + 8;
    writePointManifest(options.dir, manifest);
    // The next point's shortcut; a cache, so failing to write it fails nothing.
    try {
      writeRunDigests(options.dir, { id, pageSize, pageCount: snapshot.pageCount, digests: Buffer.concat(runs) });
      removeOtherRunDigests(options.dir, id);
    } catch (error) {
      notes.push(`run digests not written (${(error as Error).message}): the next point hashes every page`);
    }
    phases.publishMs = lap();
    return { status: 'taken', point: manifest, snapshot, phases, pagesHashed, notes };
  } finally {
    writer?.abort();
    for (const r of loaded?.readers ?? []) r?.close();
  }
}

/** The message that refuses damaged packs, naming every point each breaks; `where` names a pack (its path or URL). */
export function packsBroken(
  where: (name: string) => string,
  packsOf: ReadonlyMap<string, ReadonlySet<string>>,
  damaged: Map<string, string>,
): string {
  const lines = [...damaged].map(([name, problem]) => {
    const breaks = [...packsOf].filter(([, names]) => names.has(name)).map(([id]) => id);
    return `pack ${where(name)} is damaged (${problem}); it breaks restore point${breaks.length === 1 ? '' : 's'} ${breaks.join(', ')}`;
  });
  return lines.join('; ');
}

export interface RebuildReport {
  id: string;
  dest: string;
  pageCount: number;
  bytes: number;
  packsRead: number;
  integrity: { ok: boolean; durationMs: number };
  durationMs: number;
}

/**
 * Rebuilds point `id` into the new file `dest` and verifies it: the packs' checksums against the
 * manifest, the maps' checksums, every page's hash as it is decoded, then `integrity_check` and
 * the page count and `user_version` against the manifest. A damaged pack is refused, naming
 * every point it breaks; on any failure `dest` is removed.
 */
export function rebuildPoint(
  dir: string,
  id: string,
  dest: string,
  keys?: PackKeys,
  progress?: ProgressSink,
): RebuildReport {
  const started = performance.now();
  const { points } = listPoints(dir);
  const manifest = pickPoint(points, { id }, dir);
  const d = storeDirs(dir);
  const damaged = new Map<string, string>();
  const packs = pointPacks(dir, manifest);
  for (const q of packs) {
    const problem = checkPackFile(join(d.packs, packFile(q.name)), q.sha256);
    if (problem) damaged.set(q.name, problem);
  }
  if (damaged.size > 0) {
    throw new BackupInvalidError(
      packsBroken((name) => join(d.packs, packFile(name)), packNamesByPoint(dir, points), damaged),
    );
  }
  const state = resolveMap(d.maps, manifest.id);
  if (state.pageCount !== manifest.pageCount || state.pageSize !== manifest.pageSize) {
    throw new BackupInvalidError(`restore point ${id}: its page map does not match its manifest`);
  }
  const listed = new Set(packs.map((q) => q.name));
  for (const n of referencedPacks(state)) {
    if (!listed.has(n))
      throw new BackupInvalidError(`restore point ${id}: page map names pack ${n}, its pack list does not`);
  }
  let fd: number;
  try {
    fd = openSync(dest, 'wx', 0o600);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'EEXIST') {
      throw new InvalidInputError(`${dest} already exists; rebuild a point into a new file`);
    }
    throw ioError(error, `creating ${dest}`);
  }
  let ok = false;
  try {
    progress?.phase?.('rebuild');
    writePages(d.packs, state, fd, keys, progress);
    fsyncSync(fd);
    closeSync(fd);
    fd = -1;
    progress?.phase?.('integrity_check');
    const integrity = withDatabase(openCopy(dest), (db) => {
      const r = checkIntegrity(db, { full: true, maxProblems: 10 });
      const pages = Number(db.pragma('page_count'));
      const uv = Number(db.pragma('user_version'));
      if (r.ok && (pages !== manifest.pageCount || uv !== manifest.userVersion)) {
        return {
          ...r,
          ok: false,
          problems: [
            `page_count ${pages} / user_version ${uv}, manifest ${manifest.pageCount} / ${manifest.userVersion}`,
          ],
        };
      }
      return r;
    });
    if (!integrity.ok) {
      throw new BackupInvalidError(
        `restore point ${id} rebuilt into ${dest} fails integrity_check: ${integrity.problems.join('; ')}`,
      );
    }
    ok = true;
    return {
      id,
      dest,
      pageCount: state.pageCount,
      bytes: state.pageCount * state.pageSize,
      packsRead: state.packs.length,
      integrity: { ok: true, durationMs: integrity.durationMs },
      durationMs: Math.round(performance.now() - started),
    };
  } finally {
    if (fd >= 0) closeSync(fd);
    if (!ok) {
      rmSync(dest, { force: true });
      rmSync(`${dest}-wal`, { force: true });
      rmSync(`${dest}-shm`, { force: true });
    }
  }
}

/**
 * Writes every page of `state` into `fd`, one pack and one block at a time, coalescing runs;
 * `progress` counts the pages written, of the state's page count.
 */
function writePages(
  packDir: string,
  state: PageState,
  fd: number,
  keys: PackKeys | undefined,
  progress: ProgressSink | undefined,
): void {
  const ps = state.pageSize;
  let written = 0;
  progress?.update(0, state.pageCount, 'pages');
  // Pages grouped by pack, each group ordered by slot (so each block is decoded once).
  const groups: number[][] = state.packs.map(() => []);
  for (let i = 0; i < state.pageCount; i++) (groups[state.pack[i] as number] as number[]).push(i);
  state.packs.forEach((name, k) => {
    const pages = (groups[k] as number[]).sort(
      (a, b) => (state.slot[a] as number) - (state.slot[b] as number) || a - b,
    );
    if (pages.length === 0) return;
    const reader = new PackReader(join(packDir, packFile(name)), keys);
    try {
      if (reader.pageSize !== ps)
        throw new BackupInvalidError(`pack ${reader.path} has pages of ${reader.pageSize} bytes, not ${ps}`);
      let blockNo = -1;
      let block: Buffer = Buffer.alloc(0);
      let run: { start: number; from: number; count: number } | null = null; // pages `start..`, block offset `from`
      const flush = () => {
        if (!run) return;
        writeSync(fd, block, run.from * ps, run.count * ps, run.start * ps);
        written += run.count;
        progress?.update(written, state.pageCount, 'pages');
        run = null;
      };
      for (const i of pages) {
        const slot = state.slot[i] as number;
        if (slot >= reader.pages) throw new BackupInvalidError(`pack ${reader.path} has no slot ${slot}`);
        const b = Math.floor(slot / 64);
        if (b !== blockNo) {
          flush();
          block = reader.readBlock(b);
          blockNo = b;
        }
        const within = slot % 64;
        const r = run as { start: number; from: number; count: number } | null;
        if (r && r.start + r.count === i && r.from + r.count === within) r.count++;
        else {
          flush();
          run = { start: i, from: within, count: 1 };
        }
      }
      flush();
    } finally {
      reader.close();
    }
  });
}

export interface VerifyPointsReport {
  ok: boolean;
  points: { id: string; ok: boolean; problems: string[] }[];
  damagedPacks: { name: string; problem: string; breaks: string[] }[];
}

/**
 * Checks every pack's checksum and every point's map chain, and names the points each damaged
 * pack or map breaks. (Rebuilding points and `integrity_check` on them is `rebuildPoint`.)
 */
export function verifyPoints(dir: string): VerifyPointsReport {
  const { points, unreadable } = listPoints(dir);
  return verifyListedPoints(dir, { points, unreadable });
}

/**
 * verifyPoints over `listed`, whose packs and maps are files of the store at `dir`. `known` may
 * hold packs already checked (null: sound) and points whose map chain is known to be broken.
 */
export function verifyListedPoints(
  dir: string,
  listed: ListedPoints,
  known: { packs?: Map<string, string | null>; maps?: Map<string, string> } = {},
): VerifyPointsReport {
  const { points, unreadable } = listed;
  const d = storeDirs(dir);
  const packProblems = known.packs ?? new Map<string, string | null>();
  const report: VerifyPointsReport = { ok: unreadable.length === 0, points: [], damagedPacks: [] };
  const headers = new Map<string, MapHeader>();
  const packsOf = new Map<string, Set<string>>();
  for (const p of points) {
    const problems: string[] = [];
    let packs: PackRef[] = [];
    let listProblem: string | null = null;
    try {
      if (!known.maps?.has(p.id)) packs = pointPacks(dir, p, headers);
    } catch (error) {
      if (!(error instanceof BackupInvalidError)) throw error;
      listProblem = error.message; // a broken chain: the chain check below names it
    }
    packsOf.set(p.id, new Set(packs.map((q) => q.name)));
    for (const q of packs) {
      if (!packProblems.has(q.name)) packProblems.set(q.name, checkPackFile(join(d.packs, packFile(q.name)), q.sha256));
      const problem = packProblems.get(q.name);
      if (problem) problems.push(`pack ${q.name}: ${problem}`);
    }
    const mapProblem = known.maps?.get(p.id);
    if (mapProblem) problems.push(mapProblem);
    else
      try {
        const state = resolveMap(d.maps, p.id);
        if (state.pageCount !== p.pageCount)
          problems.push(`page map has ${state.pageCount} pages, manifest ${p.pageCount}`);
        if (listProblem) problems.push(listProblem);
      } catch (error) {
        problems.push((error as Error).message);
      }
    if (problems.length > 0) report.ok = false;
    report.points.push({ id: p.id, ok: problems.length === 0, problems });
  }
  for (const [name, problem] of packProblems) {
    if (!problem) continue;
    report.damagedPacks.push({
      name,
      problem,
      breaks: [...packsOf].filter(([, names]) => names.has(name)).map(([id]) => id),
    });
  }
  return report;
}

/**
 * Sets or clears point `id`'s pin under the store's lock (never while a point is written or the
 * store pruned): its manifest is rewritten through a temp file, fsync and rename.
 */
export function setPointPinned(
  dir: string,
  id: string,
  pinned: { at: string; reason: string } | null,
  waitMs = 5000,
): PointManifest {
  const lock = lockStore(dir, pinned ? 'pin' : 'unpin', waitMs);
  try {
    const manifest = pickPoint(listPoints(dir).points, { id }, dir);
    const updated: PointManifest = { ...manifest, pinned };
    writePointManifest(dir, updated);
    return updated;
  } finally {
    lock.release();
  }
}

/** Publishes a point's manifest (temp, fsync, rename, fsync dir): once it exists, the point does. */
export function writePointManifest(dir: string, manifest: PointManifest): void {
  const d = storeDirs(dir).points;
  writeFileDurably(
    join(d, `${manifest.id}.json`),
    `${JSON.stringify(manifest, null, 2)}\n`,
    d,
    `.tmp-${process.pid}-${manifest.id}.json`,
  );
}

export interface PruneOptions {
  now?: Date;
  policy?: PointRetention;
  lockWaitMs?: number;
  dryRun?: boolean;
  /** Called after each file it deletes (tests use it to pace the run). */
  onDelete?: (path: string) => void;
  /** Drop exactly these points (`backup forget`) instead of applying the policy. */
  forget?: readonly string[];
}

export interface PruneReport {
  kept: { id: string; reason: string }[];
  dropped: string[];
  deletedMaps: string[];
  deletedPacks: string[];
  freedBytes: number;
}

/**
 * Applies the retention policy under the store's lock (never while a point is written): deletes
 * the dropped points' manifests first, then every map no remaining point's chain reads, then
 * every pack no remaining point references (and temps of runs that died). Each step deletes only
 * what no manifest still on disk needs, so a crash at any instant leaves every remaining point
 * restorable. An unreadable manifest stops the prune before anything is deleted.
 */
export function prunePoints(dir: string, options: PruneOptions = {}): PruneReport {
  const lock = lockStore(dir, 'prune', options.lockWaitMs ?? 0);
  try {
    const d = storeDirs(dir);
    const { plan, report } = planPrune(dir, listPoints(dir), options);
    if (options.dryRun) return report;
    const remove = (path: string) => {
      let bytes = 0;
      try {
        bytes = statSync(path).size;
      } catch {
        // gone already
      }
      rmSync(path, { force: true });
      report.freedBytes += bytes;
      options.onDelete?.(path);
    };
    for (const p of plan.drop) remove(join(d.points, `${p.id}.json`));
    if (plan.drop.length > 0) fsyncDir(d.points);
    sweepStore(
      dir,
      plan.keep.map((k) => k.point),
      report,
      remove,
    );
    return report;
  } finally {
    lock.release();
  }
}

/**
 * A prune's plan over `listed` (the store at `location`) and its report so far (nothing deleted
 * yet). An unreadable manifest stops the prune: it may reference packs the prune would delete.
 */
export function planPrune(
  location: string,
  listed: ListedPoints,
  options: PruneOptions,
): { plan: PointPlan<PointManifest>; report: PruneReport } {
  const u = listed.unreadable[0];
  if (u) {
    throw new BackupInvalidError(
      `cannot prune ${location}: manifest ${u.file} is unreadable (${u.problem}); it may reference packs a prune would delete — move it away or repair it`,
    );
  }
  const forget = options.forget ? new Set(options.forget) : null;
  const plan: PointPlan<PointManifest> = forget
    ? {
        keep: listed.points.filter((p) => !forget.has(p.id)).map((point) => ({ point, reason: 'not forgotten' })),
        drop: listed.points.filter((p) => forget.has(p.id)),
      }
    : planPointRetention(listed.points, options.now ?? new Date(), options.policy ?? DEFAULT_POINT_RETENTION);
  const report: PruneReport = {
    kept: plan.keep.map((k) => ({ id: k.point.id, reason: k.reason })),
    dropped: plan.drop.map((p) => p.id),
    deletedMaps: [],
    deletedPacks: [],
    freedBytes: 0,
  };
  return { plan, report };
}

/** The maps and packs the chains and manifests of `kept` need (file names). */
export function neededFiles(dir: string, kept: readonly PointManifest[]): { maps: Set<string>; packs: Set<string> } {
  const maps = new Set<string>();
  const packs = new Set<string>();
  const headers = new Map<string, MapHeader>();
  for (const p of kept) {
    for (const h of headerChain(storeDirs(dir).maps, p.id, headers)) maps.add(mapFile(h.id));
    for (const q of pointPacks(dir, p, headers)) packs.add(packFile(q.name));
  }
  return { maps, packs };
}

/**
 * Prune's second half, with the store's lock held and the dropped manifests gone: deletes every
 * map and pack `kept` (the remaining points) does not need, and temps of runs that died.
 */
export function sweepStore(
  dir: string,
  kept: readonly PointManifest[],
  report: Pick<PruneReport, 'deletedMaps' | 'deletedPacks'>,
  remove: (path: string) => void,
): void {
  const d = storeDirs(dir);
  const { maps, packs } = neededFiles(dir, kept);
  for (const [sub, keep, list] of [
    [d.maps, maps, report.deletedMaps],
    [d.packs, packs, report.deletedPacks],
  ] as const) {
    if (!existsSync(sub)) continue;
    let any = false;
    for (const name of readdirSync(sub)) {
      if (keep.has(name)) continue;
      remove(join(sub, name));
      list.push(name);
      any = true;
    }
    if (any) fsyncDir(sub);
  }
  for (const name of existsSync(d.points) ? readdirSync(d.points) : []) {
    if (name.startsWith('.tmp-')) remove(join(d.points, name));
  }
}
