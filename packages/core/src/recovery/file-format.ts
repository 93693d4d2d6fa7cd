import { closeSync, existsSync, fstatSync, openSync, readSync } from 'node:fs';

/**
 * A read-only view of an SQLite database file at the page level (file format §1), built only
 * from the documented format, for salvaging damaged files. Every read is bounds-checked: damaged
 * input yields null, never an exception or an unbounded allocation.
 */
export interface PageSource {
  pageSize: number;
  /** Page size minus the reserved bytes at the end of each page. */
  usableSize: number;
  pageCount: number;
  textEncoding: 'utf8' | 'utf16le' | 'utf16be';
  userVersion: number;
  /** The page (1-based), the WAL's last committed version when there is one; null if unreadable. */
  page(n: number): Buffer | null;
  /** Pages taken from the WAL. */
  walPages: number;
  close(): void;
}

const MAX_PAGE_COUNT = 1 << 30;

function readAt(fd: number, position: number, length: number): Buffer | null {
  if (length <= 0 || length > 65536) return null;
  const buf = Buffer.alloc(length);
  try {
    const n = readSync(fd, buf, 0, length, position);
    return n === length ? buf : null;
  } catch {
    return null;
  }
}

/** WAL checksum (file format §4.4): pairs of 32-bit words, in the byte order the magic says. */
function walChecksum(data: Buffer, s0: number, s1: number, bigEndian: boolean): [number, number] {
  let a = s0 >>> 0;
  let b = s1 >>> 0;
  for (let i = 0; i + 8 <= data.length; i += 8) {
    const x = bigEndian ? data.readUInt32BE(i) : data.readUInt32LE(i);
    const y = bigEndian ? data.readUInt32BE(i + 4) : data.readUInt32LE(i + 4);
    a = (a + x + b) >>> 0;
    b = (b + y + a) >>> 0;
  }
  return [a, b];
}

/**
 * Reads the committed frames of a WAL file: the newest committed version of each page, by the
 * rules SQLite itself uses (matching salts, valid cumulative checksums, stop at the first bad
 * frame, keep only frames up to the last commit frame).
 */
export function readWal(path: string, pageSize: number): Map<number, Buffer> {
  const pages = new Map<number, Buffer>();
  if (!existsSync(path)) return pages;
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch {
    return pages;
  }
  try {
    const header = readAt(fd, 0, 32);
    if (!header) return pages;
    const magic = header.readUInt32BE(0);
    if (magic !== 0x377f0682 && magic !== 0x377f0683) return pages;
    const bigEndian = magic === 0x377f0683;
    if (header.readUInt32BE(8) !== pageSize) return pages;
    const salt1 = header.readUInt32BE(16);
    const salt2 = header.readUInt32BE(20);
    let [c0, c1] = walChecksum(header.subarray(0, 24), 0, 0, bigEndian);
    if (c0 !== header.readUInt32BE(24) || c1 !== header.readUInt32BE(28)) return pages;
    const size = fstatSync(fd).size;
    const frameSize = 24 + pageSize;
    const pending = new Map<number, Buffer>();
    for (let offset = 32; offset + frameSize <= size; offset += frameSize) {
      const frame = readAt(fd, offset, 24);
      const data = readAt(fd, offset + 24, pageSize);
      if (!frame || !data) break;
      if (frame.readUInt32BE(8) !== salt1 || frame.readUInt32BE(12) !== salt2) break;
      [c0, c1] = walChecksum(frame.subarray(0, 8), c0, c1, bigEndian);
      [c0, c1] = walChecksum(data, c0, c1, bigEndian);
      if (c0 !== frame.readUInt32BE(16) || c1 !== frame.readUInt32BE(20)) break;
      pending.set(frame.readUInt32BE(0), data);
      if (frame.readUInt32BE(4) !== 0) {
        // A commit frame: everything so far is committed.
        for (const [n, page] of pending) pages.set(n, page);
        pending.clear();
      }
    }
  } finally {
    closeSync(fd);
  }
  return pages;
}

/** Opens a (possibly damaged) database file for page-level reading; null when even the header is unusable. */
export function openPageSource(path: string, options: { useWal?: boolean } = {}): PageSource | null {
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch {
    return null;
  }
  const size = fstatSync(fd).size;
  const header = readAt(fd, 0, 100);
  let pageSize = 4096;
  let reserved = 0;
  let encoding: PageSource['textEncoding'] = 'utf8';
  let userVersion = 0;
  if (header && header.subarray(0, 16).toString('latin1') === 'SQLite format 3\0') {
    const raw = header.readUInt16BE(16);
    const candidate = raw === 1 ? 65536 : raw;
    // A damaged page-size field falls back to 4096, the default every ORA database uses.
    if (candidate >= 512 && candidate <= 65536 && (candidate & (candidate - 1)) === 0) pageSize = candidate;
    reserved = header[20] ?? 0;
    if (pageSize - reserved < 480) reserved = 0;
    const enc = header.readUInt32BE(56);
    encoding = enc === 2 ? 'utf16le' : enc === 3 ? 'utf16be' : 'utf8';
    userVersion = header.readInt32BE(60);
  }
  const wal = options.useWal === false ? new Map<number, Buffer>() : readWal(`${path}-wal`, pageSize);
  let pageCount = Math.floor(size / pageSize);
  for (const n of wal.keys()) pageCount = Math.max(pageCount, n);
  pageCount = Math.min(pageCount, MAX_PAGE_COUNT);
  const cache = new Map<number, Buffer | null>();
  return {
    pageSize,
    usableSize: pageSize - reserved,
    pageCount,
    textEncoding: encoding,
    userVersion,
    walPages: wal.size,
    close: () => closeSync(fd),
    page(n: number): Buffer | null {
      if (!Number.isInteger(n) || n < 1 || n > pageCount) return null;
      const fromWal = wal.get(n);
      if (fromWal) return fromWal;
      if (cache.has(n)) return cache.get(n) ?? null;
      const p = readAt(fd, (n - 1) * pageSize, pageSize);
      if (cache.size > 4096) cache.clear();
      cache.set(n, p);
      return p;
    },
  };
}
