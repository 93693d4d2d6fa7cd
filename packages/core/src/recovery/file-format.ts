import { closeSync, existsSync, fstatSync, openSync, readSync } from 'node:fs';

/**
 * A read-only view of an SQLite database file at the page level (file format §1), built only
 * from the documented format, for salvaging damaged files. Every read is bounds-checked: damaged
 * input yields null, never an exception or an unbounded allocation.
 *
 * Memory is bounded whatever the file's size: pages are read on demand in blocks of about
 * 256 KiB through a least-recently-used cache of at most `CACHE_BYTES`, and the WAL is held as an
 * index (page number → offset of its newest committed frame), its frames read on demand.
 */
export interface PageSource {
  pageSize: number;
  /** Page size minus the reserved bytes at the end of each page. */
  usableSize: number;
  /** Pages that can be read: the file's whole pages, or more when the WAL has later pages. */
  pageCount: number;
  /** The page count the header claims (0 when the header is unusable or its count is stale). */
  headerPageCount: number;
  /** Whether the 100-byte header was usable; when not, the page size was inferred from the pages. */
  headerValid: boolean;
  textEncoding: 'utf8' | 'utf16le' | 'utf16be';
  userVersion: number;
  applicationId: number;
  /** auto_vacuum mode from the header: 0 none, 1 full, 2 incremental (pointer-map pages present when not 0). */
  autoVacuum: 0 | 1 | 2;
  /** The page (1-based), the WAL's last committed version when there is one; null if unreadable. */
  page(n: number): Buffer | null;
  /** Whether page `n` is a pointer-map page (auto_vacuum databases, file format §1.7). */
  isPointerMap(n: number): boolean;
  /** Pages taken from the WAL. */
  walPages: number;
  close(): void;
}

const MAX_PAGE_COUNT = 1 << 30;
/** Bytes of file content cached at most (blocks of `BLOCK_BYTES`). */
const CACHE_BYTES = 16 * 1024 * 1024;
const BLOCK_BYTES = 256 * 1024;

function readAt(fd: number, position: number, length: number): Buffer | null {
  if (length <= 0 || length > 65536) return null;
  const buf = Buffer.allocUnsafe(length);
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
 * Indexes the committed frames of a WAL file: for each page, the offset of its newest committed
 * version, by the rules SQLite itself uses (matching salts, valid cumulative checksums, stop at the
 * first bad frame — a torn last frame included — and keep only frames up to the last commit frame).
 * Frames are checksummed as they are read, one at a time; nothing but the index is kept.
 */
export function indexWal(path: string, pageSize: number): Map<number, number> & { committedPages?: number } {
  const frames: Map<number, number> & { committedPages?: number } = new Map<number, number>();
  if (!existsSync(path)) return frames;
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch {
    return frames;
  }
  try {
    const header = readAt(fd, 0, 32);
    if (!header) return frames;
    const magic = header.readUInt32BE(0);
    if (magic !== 0x377f0682 && magic !== 0x377f0683) return frames;
    const bigEndian = magic === 0x377f0683;
    if (header.readUInt32BE(8) !== pageSize) return frames;
    const salt1 = header.readUInt32BE(16);
    const salt2 = header.readUInt32BE(20);
    let [c0, c1] = walChecksum(header.subarray(0, 24), 0, 0, bigEndian);
    if (c0 !== header.readUInt32BE(24) || c1 !== header.readUInt32BE(28)) return frames;
    const size = fstatSync(fd).size;
    const frameSize = 24 + pageSize;
    const pending = new Map<number, number>();
    const frame = Buffer.allocUnsafe(frameSize);
    for (let offset = 32; offset + frameSize <= size; offset += frameSize) {
      let n: number;
      try {
        n = readSync(fd, frame, 0, frameSize, offset);
      } catch {
        break;
      }
      if (n !== frameSize) break;
      if (frame.readUInt32BE(8) !== salt1 || frame.readUInt32BE(12) !== salt2) break;
      [c0, c1] = walChecksum(frame.subarray(0, 8), c0, c1, bigEndian);
      [c0, c1] = walChecksum(frame.subarray(24), c0, c1, bigEndian);
      if (c0 !== frame.readUInt32BE(16) || c1 !== frame.readUInt32BE(20)) break;
      if (frame.readUInt32BE(0) === 0) break; // no page 0: SQLite stops here too
      pending.set(frame.readUInt32BE(0), offset + 24);
      if (frame.readUInt32BE(4) !== 0) {
        // A commit frame: everything so far is committed, and the database is this many pages.
        for (const [page, at] of pending) frames.set(page, at);
        pending.clear();
        frames.committedPages = frame.readUInt32BE(4);
      }
    }
  } finally {
    closeSync(fd);
  }
  return frames;
}

/**
 * Reads the committed frames of a WAL file into memory: the newest committed version of each page.
 * For small files and tests; `openPageSource` indexes the WAL instead of holding it.
 */
export function readWal(path: string, pageSize: number): Map<number, Buffer> {
  const pages = new Map<number, Buffer>();
  const frames = indexWal(path, pageSize);
  if (frames.size === 0) return pages;
  const fd = openSync(path, 'r');
  try {
    for (const [n, at] of frames) {
      const p = readAt(fd, at, pageSize);
      if (p) pages.set(n, p);
    }
  } finally {
    closeSync(fd);
  }
  return pages;
}

const isPageSize = (n: number) => n >= 512 && n <= 65536 && (n & (n - 1)) === 0;

/**
 * Infers the page size of a file whose header is destroyed: the size at which the most of the
 * first pages (after page 1) start like a b-tree page.
 */
function inferPageSize(fd: number, fileBytes: number): number {
  const rates: [number, number][] = [];
  for (let size = 512; size <= 65536; size *= 2) {
    let score = 0;
    const probes = Math.min(64, Math.floor(fileBytes / size) - 1);
    for (let i = 1; i <= probes; i++) {
      const head = readAt(fd, i * size, 8);
      if (!head) break;
      const type = head[0];
      if (type !== 2 && type !== 5 && type !== 10 && type !== 13) continue;
      const cells = head.readUInt16BE(3);
      const content = head.readUInt16BE(5) || 65536;
      if (cells > 0 && cells * 2 < size && content <= size && content >= 8) score++;
    }
    rates.push([size, probes > 0 ? score / probes : 0]);
  }
  // A size larger than the real one probes a subset of the real page starts (about the same
  // rate); a smaller one lands mostly inside pages. So: the smallest size near the best rate.
  const max = Math.max(...rates.map(([, r]) => r));
  if (max === 0) return 4096;
  return (rates.find(([, r]) => r >= max * 0.8) as [number, number])[0];
}

/** Opens a (possibly damaged) database file for page-level reading; null when it cannot be opened. */
export function openPageSource(path: string, options: { useWal?: boolean } = {}): PageSource | null {
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch {
    return null;
  }
  const size = fstatSync(fd).size;
  const header = readAt(fd, 0, 100);
  let headerValid = false;
  let pageSize = 0;
  let reserved = 0;
  let encoding: PageSource['textEncoding'] = 'utf8';
  let userVersion = 0;
  let applicationId = 0;
  let autoVacuum: PageSource['autoVacuum'] = 0;
  let headerPageCount = 0;
  const readHeader = (h: Buffer) => {
    reserved = h[20] ?? 0;
    if (pageSize - reserved < 480) reserved = 0;
    const enc = h.readUInt32BE(56);
    encoding = enc === 2 ? 'utf16le' : enc === 3 ? 'utf16be' : 'utf8';
    userVersion = h.readInt32BE(60);
    applicationId = h.readInt32BE(68);
    autoVacuum = h.readUInt32BE(52) !== 0 ? (h.readUInt32BE(64) !== 0 ? 2 : 1) : 0;
    headerPageCount = h.readUInt32BE(92) === h.readUInt32BE(24) ? h.readUInt32BE(28) : 0;
  };
  const magic = (h: Buffer | null) => h !== null && h.subarray(0, 16).toString('latin1') === 'SQLite format 3\0';
  if (header && magic(header)) {
    const raw = header.readUInt16BE(16);
    const candidate = raw === 1 ? 65536 : raw;
    if (isPageSize(candidate)) {
      headerValid = true;
      pageSize = candidate;
      readHeader(header);
    }
  }
  if (!headerValid) pageSize = inferPageSize(fd, size);
  const wal: ReturnType<typeof indexWal> =
    options.useWal === false ? new Map<number, number>() : indexWal(`${path}-wal`, pageSize);
  let walFd: number | null = null;
  if (wal.size > 0) {
    try {
      walFd = openSync(`${path}-wal`, 'r');
    } catch {
      wal.clear();
      delete wal.committedPages;
    }
  }
  // The newest header is the WAL's page 1, when it has one (a migration's user_version, say).
  const walHeader = walFd !== null && wal.has(1) ? readAt(walFd, wal.get(1) as number, 100) : null;
  if (walHeader && magic(walHeader)) {
    headerValid = true;
    readHeader(walHeader);
  }
  // How many pages the database has: the last WAL commit says; else the header, when its count is
  // valid and smaller than the file (pages past it are stale, e.g. left by a vacuum); a count
  // larger than the file (cut short) is not believed, and the pages that are there are read.
  const filePages = Math.floor(size / pageSize);
  let pageCount = filePages;
  if (wal.committedPages) pageCount = wal.committedPages;
  else if (headerPageCount > 0 && headerPageCount < filePages) pageCount = headerPageCount;
  pageCount = Math.min(pageCount, MAX_PAGE_COUNT);
  const usableSize = pageSize - reserved;
  const pagesPerBlock = Math.max(1, Math.floor(BLOCK_BYTES / pageSize));
  const maxBlocks = Math.max(4, Math.floor(CACHE_BYTES / (pagesPerBlock * pageSize)));
  // Insertion-ordered Map as an LRU: a hit moves the block to the end, eviction takes the first.
  const blocks = new Map<number, Buffer | null>();
  // Evicted blocks' buffers are reused, so reading a large file makes no garbage. A page handed
  // out is a view into a block: valid until that block is evicted (the salvage copies each page it
  // works on before reading further pages).
  const spare: Buffer[] = [];
  const readBlock = (b: number): Buffer | null => {
    const cached = blocks.get(b);
    if (cached !== undefined) {
      blocks.delete(b);
      blocks.set(b, cached);
      return cached;
    }
    if (blocks.size >= maxBlocks) {
      const oldest = blocks.keys().next().value as number;
      const evicted = blocks.get(oldest);
      blocks.delete(oldest);
      if (evicted && evicted.buffer.byteLength === pagesPerBlock * pageSize)
        spare.push(Buffer.from(evicted.buffer, evicted.byteOffset, pagesPerBlock * pageSize));
    }
    const start = b * pagesPerBlock * pageSize;
    const length = Math.min(pagesPerBlock * pageSize, size - start);
    let buf: Buffer | null = null;
    if (length > 0) {
      buf = spare.pop() ?? Buffer.allocUnsafeSlow(pagesPerBlock * pageSize);
      try {
        const n = readSync(fd, buf, 0, length, start);
        buf = buf.subarray(0, n - (n % pageSize));
      } catch {
        buf = null;
      }
    }
    blocks.set(b, buf);
    return buf;
  };
  // Pointer-map pages (file format §1.7): page 2, then one every usable/5 + 1 pages.
  const ptrmapSpan = Math.floor(usableSize / 5) + 1;
  return {
    pageSize,
    usableSize,
    pageCount,
    headerPageCount,
    headerValid,
    textEncoding: encoding,
    userVersion,
    applicationId,
    autoVacuum,
    walPages: wal.size,
    close: () => {
      closeSync(fd);
      if (walFd !== null) closeSync(walFd);
    },
    isPointerMap: (n) => autoVacuum !== 0 && n >= 2 && (n - 2) % ptrmapSpan === 0,
    page(n: number): Buffer | null {
      if (!Number.isInteger(n) || n < 1 || n > pageCount) return null;
      const at = wal.get(n);
      if (at !== undefined && walFd !== null) return readAt(walFd, at, pageSize);
      const b = Math.floor((n - 1) / pagesPerBlock);
      const block = readBlock(b);
      if (!block) return null;
      const offset = ((n - 1) % pagesPerBlock) * pageSize;
      return offset + pageSize <= block.length ? block.subarray(offset, offset + pageSize) : null;
    },
  };
}
