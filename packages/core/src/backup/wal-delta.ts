import { spawnSync } from 'node:child_process';
import { closeSync, fstatSync, fsyncSync, ftruncateSync, openSync, readSync, writeSync } from 'node:fs';
import { endianness } from 'node:os';

/**
 * Brings a snapshot copy of a WAL-mode database up to date by applying the WAL frames committed
 * after the snapshot was taken — what a checkpoint would do, but into the copy.
 *
 * Used by the live restore: the copy of the live database is taken at T0 outside the write lock
 * (a read transaction, so the WAL cannot be reset past it), and under the write lock only the
 * frames committed since T0 are added. Every frame is checked the way SQLite checks them (salts,
 * and the cumulative checksum chain from the T0 frame to the last committed frame, which must end
 * in the checksum SQLite recorded in the wal-index for its last commit). Any doubt returns null,
 * and the caller copies the whole database under the lock instead.
 *
 * Formats: https://www.sqlite.org/fileformat2.html#walformat (WAL file, big-endian) and the
 * wal-index header at the start of the -shm file (native byte order; two copies of 48 bytes).
 */

export interface WalIndexHeader {
  /** Raw 48 bytes (the first copy), to compare two reads. */
  raw: Buffer;
  mxFrame: number;
  nPage: number;
  frameCksum: [number, number];
  /** Salts as the raw big-endian bytes SQLite copies from the WAL header. */
  salt: Buffer;
  bigEndCksum: boolean;
}

const LE = endianness() === 'LE';

/**
 * Reads the wal-index header from `<db>-shm`; null when it is missing or not in a state to trust.
 *
 * Read by a child process, never through a file descriptor of ours: SQLite's WAL locks are POSIX
 * locks on the -shm file, and closing *any* descriptor of a file drops all of the process's locks
 * on it — the write lock of the restore's own connection included (tried: the database was then
 * written by two processes at once and was corrupt).
 */
export function readWalIndexHeader(dbPath: string): WalIndexHeader | null {
  const r = spawnSync('head', ['-c', '96', '--', `${dbPath}-shm`], { maxBuffer: 4096 });
  if (r.status !== 0 || !Buffer.isBuffer(r.stdout) || r.stdout.length !== 96) return null;
  const buf = r.stdout;
  const a = buf.subarray(0, 48);
  const b = buf.subarray(48, 96);
  // SQLite writes the second copy, then the first: unequal copies mean a write in progress.
  if (!a.equals(b)) return null;
  const u32 = (o: number) => (LE ? a.readUInt32LE(o) : a.readUInt32BE(o));
  if (u32(0) !== 3007000 || a[12] !== 1) return null;
  return {
    raw: Buffer.from(a),
    mxFrame: u32(16),
    nPage: u32(20),
    frameCksum: [u32(24), u32(28)],
    salt: Buffer.from(a.subarray(32, 40)),
    bigEndCksum: a[13] === 1,
  };
}

/** SQLite's WAL checksum (walChecksumBytes) over `data` (a multiple of 8 bytes), chained from `s`. */
function checksum(data: Buffer, s: [number, number], bigEndian: boolean): [number, number] {
  let s1 = s[0];
  let s2 = s[1];
  const n = data.length;
  if (bigEndian) {
    for (let i = 0; i < n; i += 8) {
      s1 = (s1 + data.readUInt32BE(i) + s2) >>> 0;
      s2 = (s2 + data.readUInt32BE(i + 4) + s1) >>> 0;
    }
  } else if (data.byteOffset % 4 === 0) {
    const w = new Uint32Array(data.buffer, data.byteOffset, n >>> 2);
    for (let i = 0; i < w.length; i += 2) {
      s1 = (s1 + (w[i] as number) + s2) >>> 0;
      s2 = (s2 + (w[i + 1] as number) + s1) >>> 0;
    }
  } else {
    for (let i = 0; i < n; i += 8) {
      s1 = (s1 + data.readUInt32LE(i) + s2) >>> 0;
      s2 = (s2 + data.readUInt32LE(i + 4) + s1) >>> 0;
    }
  }
  return [s1, s2];
}

export interface DeltaResult {
  /** Frames applied (the same page may appear more than once). */
  frames: number;
  /** Pages of the copy afterwards. */
  pages: number;
}

/**
 * Applies to `copyPath` (a copy of the database as of wal-index header `before`) every frame
 * committed up to wal-index header `after`, then fsyncs it. Returns null, with the copy possibly
 * modified (the caller discards it), when anything does not check out.
 *
 * The caller guarantees: a read transaction begun at `before` stayed open until `after` was read
 * (so the WAL could be reset at most once, and only if `before` was fully checkpointed), and
 * `after` was read while holding the write lock (so it is the last commit, and stable).
 */
export function applyWalDelta(
  dbPath: string,
  copyPath: string,
  pageSize: number,
  before: WalIndexHeader,
  after: WalIndexHeader,
): DeltaResult | null {
  if (after.bigEndCksum !== before.bigEndCksum) return null;
  let start: number;
  let chain: [number, number] | null;
  if (after.salt.equals(before.salt)) {
    if (after.mxFrame < before.mxFrame) return null;
    start = before.mxFrame + 1;
    chain = before.mxFrame === 0 ? null : before.frameCksum;
  } else if (after.salt.readUInt32BE(0) === (before.salt.readUInt32BE(0) + 1) >>> 0) {
    // The WAL was reset once (possible only when the snapshot's frames were all checkpointed):
    // every frame of the new generation was committed after the snapshot.
    start = 1;
    chain = null;
  } else {
    return null;
  }
  const walFd = openSync(`${dbPath}-wal`, 'r');
  const copyFd = openSync(copyPath, 'r+');
  try {
    const copyBytes = fstatSync(copyFd).size;
    if (copyBytes % pageSize !== 0) return null;
    const pagesBefore = copyBytes / pageSize;
    if (after.mxFrame < start) {
      // Nothing committed since the snapshot.
      if (after.salt.equals(before.salt) && after.mxFrame === before.mxFrame) {
        fsyncSync(copyFd);
        return { frames: 0, pages: pagesBefore };
      }
      return null;
    }
    const header = Buffer.alloc(32);
    if (readSync(walFd, header, 0, 32, 0) !== 32) return null;
    const magic = header.readUInt32BE(0);
    if (magic !== 0x377f0682 && magic !== 0x377f0683) return null;
    const bigEndian = magic === 0x377f0683;
    if (bigEndian !== after.bigEndCksum) return null;
    if (header.readUInt32BE(8) !== pageSize) return null;
    if (start === 1) {
      if (!header.subarray(16, 24).equals(after.salt)) return null;
      chain = [header.readUInt32BE(24), header.readUInt32BE(28)];
    }
    const frameBytes = 24 + pageSize;
    // Aligned, for the word view in checksum().
    const frame = Buffer.from(new ArrayBuffer(frameBytes + 8), 0, frameBytes + 8);
    let pageOne = false;
    let lastTruncate = 0;
    let s = chain as [number, number];
    for (let i = start; i <= after.mxFrame; i++) {
      const offset = 32 + (i - 1) * frameBytes;
      if (readSync(walFd, frame, 0, frameBytes, offset) !== frameBytes) return null;
      if (!frame.subarray(8, 16).equals(after.salt)) return null;
      // The checksum covers the first 8 bytes of the frame header, then the page.
      s = checksum(frame.subarray(0, 8), s, bigEndian);
      s = checksum(frame.subarray(24, frameBytes), s, bigEndian);
      if (s[0] !== frame.readUInt32BE(16) || s[1] !== frame.readUInt32BE(20)) return null;
      const pgno = frame.readUInt32BE(0);
      if (pgno === 0) return null;
      if (pgno === 1) pageOne = true;
      lastTruncate = frame.readUInt32BE(4);
      writeSync(copyFd, frame, 24, pageSize, (pgno - 1) * pageSize);
    }
    // The last frame is the last commit, and the chain ends where SQLite says it does.
    if (lastTruncate === 0 || lastTruncate !== after.nPage) return null;
    if (s[0] !== after.frameCksum[0] || s[1] !== after.frameCksum[1]) return null;
    // Without page 1 among the frames the database size cannot have changed (SQLite rewrites
    // page 1, which holds the size, whenever the file grows or shrinks).
    if (!pageOne && after.nPage !== pagesBefore) return null;
    ftruncateSync(copyFd, after.nPage * pageSize);
    fsyncSync(copyFd);
    return { frames: after.mxFrame - start + 1, pages: after.nPage };
  } finally {
    closeSync(walFd);
    closeSync(copyFd);
  }
}
