/**
 * B-tree pages and records (file format §1.6, §2.1), decoded defensively: every function returns
 * null (or skips) on anything out of bounds instead of throwing. Varints and integers are read as
 * plain numbers where they fit (the common case); BigInt only for values beyond 2^53.
 */
export type SqlValue = null | number | bigint | string | Buffer;

export interface PageHeader {
  type: 2 | 5 | 10 | 13;
  cellCount: number;
  /** Offsets of the cells in the page. */
  cells: number[];
  /** Interior pages: the right-most child. */
  rightChild: number | null;
}

/** Reads a varint (1-9 bytes, big-endian, 7 bits per byte, the 9th byte 8 bits). */
export function readVarint(buf: Buffer, offset: number): { value: bigint; length: number } | null {
  let value = 0n;
  for (let i = 0; i < 9; i++) {
    const byte = buf[offset + i];
    if (byte === undefined) return null;
    if (i === 8) return { value: (value << 8n) | BigInt(byte), length: 9 };
    value = (value << 7n) | BigInt(byte & 0x7f);
    if ((byte & 0x80) === 0) return { value, length: i + 1 };
  }
  return null;
}

/** Scratch result of `varint`: avoids an allocation per varint on the hot path. */
const vi = { value: 0, length: 0 };

/**
 * Reads a varint into `vi` as a number; false when it runs off the buffer or exceeds 2^53
 * (never the case for sizes and serial types; rowids that large go through `readVarint`).
 */
function varint(buf: Buffer, offset: number): boolean {
  let value = 0;
  for (let i = 0; i < 8; i++) {
    const byte = buf[offset + i];
    if (byte === undefined) return false;
    value = value * 128 + (byte & 0x7f);
    if ((byte & 0x80) === 0) {
      if (value > Number.MAX_SAFE_INTEGER) return false;
      vi.value = value;
      vi.length = i + 1;
      return true;
    }
  }
  return false;
}

/** Parses a b-tree page header and its cell pointer array; null if it is not a valid b-tree page. */
export function parsePageHeader(page: Buffer, pageNumber: number, usableSize: number): PageHeader | null {
  const base = pageNumber === 1 ? 100 : 0;
  const type = page[base];
  if (type !== 2 && type !== 5 && type !== 10 && type !== 13) return null;
  const interior = type === 2 || type === 5;
  const headerSize = interior ? 12 : 8;
  if (base + headerSize > usableSize) return null;
  const cellCount = page.readUInt16BE(base + 3);
  const contentStart = page.readUInt16BE(base + 5) || 65536;
  if (base + headerSize + cellCount * 2 > usableSize) return null;
  if (contentStart > usableSize) return null;
  const cells: number[] = new Array(cellCount);
  const first = base + headerSize + cellCount * 2;
  for (let i = 0; i < cellCount; i++) {
    const ptr = page.readUInt16BE(base + headerSize + i * 2);
    if (ptr < first || ptr >= usableSize) return null;
    cells[i] = ptr;
  }
  const rightChild = interior ? page.readUInt32BE(base + 8) : null;
  return { type, cellCount, cells, rightChild };
}

/** Left child page of an interior cell (table or index). */
export function interiorChild(page: Buffer, cell: number): number | null {
  return cell + 4 <= page.length ? page.readUInt32BE(cell) : null;
}

export interface LeafCell {
  /** A number where it is safe (nearly always), else a bigint. */
  rowid: number | bigint;
  payload: Buffer;
}

/**
 * The payload at `start` of `payloadSize` bytes, `local` of them on the page and the rest on the
 * overflow chain. The chain is followed first and the payload allocated only once it has proved to
 * hold that many bytes: a garbled size (up to ~1e9 from a hostile varint) with a chain that is cut
 * short, missing or loops costs a walk of the pages that are really there, never an allocation of
 * what the size claims. A chain needs exactly as many distinct pages as the payload fills. `onOverflow`
 * learns each overflow page, so a scan can skip them.
 */
function readPayload(
  page: Buffer,
  start: number,
  payloadSize: number,
  local: number,
  usableSize: number,
  getPage: (n: number) => Buffer | null,
  onOverflow?: (n: number) => void,
): Buffer | null {
  if (start + local > usableSize || start + local > page.length) return null;
  if (local === payloadSize) return page.subarray(start, start + local);
  if (start + local + 4 > usableSize) return null;
  const perPage = usableSize - 4;
  const need = Math.ceil((payloadSize - local) / perPage);
  // The local part, copied first: `page` may be a view that reading the chain recycles.
  const head = Buffer.from(page.subarray(start, start + local));
  // Pass 1: the chain's pages, distinct (a loop of any length ends it), as many as needed. The set
  // grows only with pages that exist; its insertion order is the chain's.
  const chain = new Set<number>();
  let next = page.readUInt32BE(start + local);
  while (chain.size < need) {
    if (next === 0 || chain.has(next)) return null;
    const overflow = getPage(next);
    if (!overflow || overflow.length < usableSize) return null;
    chain.add(next);
    onOverflow?.(next);
    next = overflow.readUInt32BE(0);
  }
  // Pass 2: the bytes (pages read again: the first pass's views may have been recycled by the cache).
  const out = Buffer.allocUnsafe(payloadSize);
  head.copy(out, 0);
  let filled = local;
  for (const n of chain) {
    const overflow = getPage(n);
    if (!overflow) return null;
    const take = Math.min(payloadSize - filled, perPage);
    overflow.copy(out, filled, 4, 4 + take);
    filled += take;
  }
  return out;
}

/**
 * A table-leaf cell with its whole payload, following the overflow chain when the payload does not
 * fit in the page.
 */
export function readLeafCell(
  page: Buffer,
  cell: number,
  usableSize: number,
  getPage: (n: number) => Buffer | null,
  onOverflow?: (n: number) => void,
): LeafCell | null {
  if (!varint(page, cell)) return null;
  const payloadSize = vi.value;
  const sizeLength = vi.length;
  if (payloadSize > 1_000_000_000) return null;
  let rowid: number | bigint;
  let rowidLength: number;
  if (varint(page, cell + sizeLength)) {
    rowid = vi.value;
    rowidLength = vi.length;
  } else {
    const big = readVarint(page, cell + sizeLength);
    if (!big) return null;
    const signed = BigInt.asIntN(64, big.value);
    rowid =
      signed >= BigInt(Number.MIN_SAFE_INTEGER) && signed <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(signed) : signed;
    rowidLength = big.length;
  }
  const start = cell + sizeLength + rowidLength;
  const maxLocal = usableSize - 35;
  const minLocal = Math.floor(((usableSize - 12) * 32) / 255) - 23;
  let local = payloadSize;
  if (payloadSize > maxLocal) {
    const k = minLocal + ((payloadSize - minLocal) % (usableSize - 4));
    local = k <= maxLocal ? k : minLocal;
  }
  const payload = readPayload(page, start, payloadSize, local, usableSize, getPage, onOverflow);
  return payload ? { rowid, payload } : null;
}

/**
 * The record of an index cell (leaf, or interior when `interior`: index interior cells carry a
 * key too). WITHOUT ROWID tables are index b-trees whose records are the rows.
 */
export function readIndexCell(
  page: Buffer,
  cell: number,
  interior: boolean,
  usableSize: number,
  getPage: (n: number) => Buffer | null,
  onOverflow?: (n: number) => void,
): Buffer | null {
  const at = interior ? cell + 4 : cell;
  if (!varint(page, at)) return null;
  const payloadSize = vi.value;
  if (payloadSize > 1_000_000_000) return null;
  const start = at + vi.length;
  const maxLocal = Math.floor(((usableSize - 12) * 64) / 255) - 23;
  const minLocal = Math.floor(((usableSize - 12) * 32) / 255) - 23;
  let local = payloadSize;
  if (payloadSize > maxLocal) {
    const k = minLocal + ((payloadSize - minLocal) % (usableSize - 4));
    local = k <= maxLocal ? k : minLocal;
  }
  return readPayload(page, start, payloadSize, local, usableSize, getPage, onOverflow);
}

const utf16be = new TextDecoder('utf-16be');

/**
 * Decodes a record (file format §2.1) into its values; null if the record is malformed. `serialTypes`,
 * when given, receives each value's serial type (JavaScript numbers do not tell 2 from 2.0). With
 * `raw`, text and blobs come back as views into `payload`, undecoded (the caller binds text bytes
 * as they are and must copy anything it keeps).
 */
export function decodeRecord(
  payload: Buffer,
  encoding: 'utf8' | 'utf16le' | 'utf16be',
  serialTypes?: number[],
  raw = false,
): SqlValue[] | null {
  if (!varint(payload, 0)) return null;
  const headerSize = vi.value;
  if (headerSize > payload.length || headerSize < vi.length) return null;
  let offset = vi.length;
  const values: SqlValue[] = [];
  let pos = headerSize;
  while (offset < headerSize) {
    if (!varint(payload, offset)) return null;
    const t = vi.value;
    offset += vi.length;
    if (values.length >= 32_767) return null;
    serialTypes?.push(t);
    if (t === 0) {
      values.push(null);
      continue;
    }
    if (t === 8 || t === 9) {
      values.push(t - 8);
      continue;
    }
    if (t >= 1 && t <= 6) {
      const need = t <= 4 ? t : t === 5 ? 6 : 8;
      if (pos + need > payload.length) return null;
      if (need <= 6) values.push(payload.readIntBE(pos, need));
      else {
        const v = payload.readBigInt64BE(pos);
        values.push(v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v);
      }
      pos += need;
      continue;
    }
    if (t === 7) {
      if (pos + 8 > payload.length) return null;
      values.push(payload.readDoubleBE(pos));
      pos += 8;
      continue;
    }
    if (t < 12) return null; // 10 and 11 are reserved
    const need = Math.floor((t - 12) / 2);
    if (pos + need > payload.length) return null;
    if (raw) values.push(payload.subarray(pos, pos + need));
    else if (t % 2 === 0) values.push(Buffer.from(payload.subarray(pos, pos + need)));
    else if (encoding === 'utf8') values.push(payload.toString('utf8', pos, pos + need));
    else if (encoding === 'utf16le') values.push(payload.toString('utf16le', pos, pos + need));
    else if (need % 2 === 0) values.push(utf16be.decode(payload.subarray(pos, pos + need)));
    else return null;
    pos += need;
  }
  if (offset !== headerSize || pos !== payload.length) return null;
  return values;
}

/** A text value decoded in raw mode, as a string. */
export function textOf(value: Buffer, encoding: 'utf8' | 'utf16le' | 'utf16be'): string {
  if (encoding === 'utf8') return value.toString('utf8');
  if (encoding === 'utf16le') return value.toString('utf16le');
  return utf16be.decode(value);
}
