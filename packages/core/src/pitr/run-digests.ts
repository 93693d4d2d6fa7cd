import { hash as digest } from 'node:crypto';
import { closeSync, openSync, readdirSync, readFileSync, renameSync, rmSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { ensurePrivateDir } from '../fs/files.js';

/**
 * Run digests: a shortcut for finding a point's unchanged pages without hashing every page.
 *
 * Hashing each page on its own costs a call per page (about 2.5 µs of call overhead on top of
 * about 3 µs of SHA-256 for 4 KiB here: ~2 s per GiB). So each point also hashes *runs* of
 * RUN_PAGES consecutive pages as one SHA-256 (one call per 128 KiB, at the hash's own speed) and
 * keeps them for the next point in `<store>/runs/<point id>.runs`. The next point hashes the same
 * runs of its snapshot; a run whose digest equals its parent's — same pages, same length — holds
 * exactly the parent's pages (SHA-256 collision resistance, as for the pages themselves), so its
 * pages keep the parent's map entries and are not hashed one by one. Only the pages of the runs
 * that differ are hashed (SHA-256 each, content addressing as before).
 *
 * The file is a cache, never needed to restore: it names the point whose snapshot it describes,
 * its page size and count, and ends with the SHA-256 of what precedes it. A missing, damaged or
 * mismatched file (another point, another page size) makes the next point hash every page. Only
 * the newest point's file is kept (a point removes the others once its manifest is published).
 *
 * Layout: "ORARUNS1" | u32 pageSize | u32 pageCount | u32 RUN_PAGES | u32 id length | id |
 * runs × 32-byte SHA-256 | SHA-256 of all before.
 */

/** Pages per run: divides the snapshot reader's batch, so a run never spans two batches. */
export const RUN_PAGES = 32;
const MAGIC = Buffer.from('ORARUNS1');
const RUNS = 'runs';

export const runsDir = (storeDir: string) => join(storeDir, RUNS);
const runsFile = (storeDir: string, id: string) => join(runsDir(storeDir), `${id}.runs`);

export interface RunDigests {
  id: string;
  pageSize: number;
  pageCount: number;
  /** 32 bytes a run; run `r` is pages r·RUN_PAGES+1 … min((r+1)·RUN_PAGES, pageCount). */
  digests: Buffer;
}

export const runCount = (pageCount: number) => Math.ceil(pageCount / RUN_PAGES);

/** The digest of `pages` (one run's bytes). */
export const runDigest = (pages: Buffer): Buffer => digest('sha256', pages, 'buffer');

/**
 * Reads point `id`'s run digests, or null when there are none usable: missing, damaged, or not of
 * a snapshot of `pageSize` × `pageCount` (the point's own manifest and map say which).
 */
export function readRunDigests(storeDir: string, id: string, pageSize: number, pageCount: number): RunDigests | null {
  let data: Buffer;
  try {
    data = readFileSync(runsFile(storeDir, id));
  } catch {
    return null;
  }
  if (data.length < 24 + 32 || !data.subarray(0, 8).equals(MAGIC)) return null;
  const body = data.subarray(0, data.length - 32);
  if (!digest('sha256', body, 'buffer').equals(data.subarray(data.length - 32))) return null;
  const idLength = data.readUInt32LE(20);
  if (data.readUInt32LE(8) !== pageSize || data.readUInt32LE(12) !== pageCount || data.readUInt32LE(16) !== RUN_PAGES)
    return null;
  if (data.subarray(24, 24 + idLength).toString('utf8') !== id) return null;
  const digests = body.subarray(24 + idLength);
  if (digests.length !== runCount(pageCount) * 32) return null;
  return { id, pageSize, pageCount, digests };
}

/**
 * Whether run `r` of a snapshot — `pages` pages long, digest `digest` — is the parent's run `r`:
 * the same length (so the same page numbers) and the same digest.
 */
export function sameAsParentRun(parent: RunDigests, r: number, pages: number, digest: Buffer): boolean {
  if (Math.min(RUN_PAGES, parent.pageCount - r * RUN_PAGES) !== pages) return false;
  return parent.digests.compare(digest, 0, 32, r * 32, r * 32 + 32) === 0;
}

/** Writes point `id`'s run digests (temp → rename; no fsync: a torn file fails its checksum and is not used). */
export function writeRunDigests(storeDir: string, runs: RunDigests): void {
  const dir = runsDir(storeDir);
  ensurePrivateDir(dir);
  const id = Buffer.from(runs.id, 'utf8');
  const head = Buffer.alloc(24);
  MAGIC.copy(head, 0);
  head.writeUInt32LE(runs.pageSize, 8);
  head.writeUInt32LE(runs.pageCount, 12);
  head.writeUInt32LE(RUN_PAGES, 16);
  head.writeUInt32LE(id.length, 20);
  const body = Buffer.concat([head, id, runs.digests]);
  const temp = join(dir, `.tmp-${process.pid}-${runs.id}.runs`);
  const fd = openSync(temp, 'w', 0o600);
  try {
    writeSync(fd, body);
    writeSync(fd, digest('sha256', body, 'buffer'));
  } finally {
    closeSync(fd);
  }
  renameSync(temp, runsFile(storeDir, runs.id));
}

/** Removes every run-digest file but `keep`'s (and temps of runs that died). */
export function removeOtherRunDigests(storeDir: string, keep: string): void {
  let names: string[];
  try {
    names = readdirSync(runsDir(storeDir));
  } catch {
    return;
  }
  for (const name of names) if (name !== `${keep}.runs`) rmSync(join(runsDir(storeDir), name), { force: true });
}
