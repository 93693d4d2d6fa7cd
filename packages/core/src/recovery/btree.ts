/**
 * B-tree pages and records (file format §1.6, §2.1), decoded defensively: every function returns
 * null (or skips) on anything out of bounds instead of throwing.
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

function varintNumber(buf: Buffer, offset: number): { value: number; length: number } | null {
  const v = readVarint(buf, offset);
  if (!v || v.value > BigInt(Number.MAX_SAFE_INTEGER)) return null;
  return { value: Number(v.value), length: v.length };
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
  const cells: number[] = [];
  for (let i = 0; i < cellCount; i++) {
    const ptr = page.readUInt16BE(base + headerSize + i * 2);
    if (ptr < base + headerSize + cellCount * 2 || ptr >= usableSize) return null;
    cells.push(ptr);
  }
  const rightChild = interior ? page.readUInt32BE(base + 8) : null;
  return { type, cellCount, cells, rightChild };
}

/** Left child page of a table-interior cell. */
export function interiorChild(page: Buffer, cell: number): number | null {
  return cell + 4 <= page.length ? page.readUInt32BE(cell) : null;
}

export interface LeafCell {
  rowid: bigint;
  payload: Buffer;
}

/**
 * A table-leaf cell with its whole payload, following the overflow chain when the payload does not
 * fit in the page (at most as many overflow pages as the payload needs; a loop or a missing page
 * makes the cell unreadable).
 */
export function readLeafCell(
  page: Buffer,
  cell: number,
  usableSize: number,
  getPage: (n: number) => Buffer | null,
): LeafCell | null {
  const size = varintNumber(page, cell);
  if (!size) return null;
  const rowid = readVarint(page, cell + size.length);
  if (!rowid) return null;
  const payloadSize = size.value;
  if (payloadSize > 1_000_000_000) return null;
  const start = cell + size.length + rowid.length;
  const maxLocal = usableSize - 35;
  const minLocal = Math.floor(((usableSize - 12) * 32) / 255) - 23;
  let local = payloadSize;
  if (payloadSize > maxLocal) {
    const k = minLocal + ((payloadSize - minLocal) % (usableSize - 4));
    local = k <= maxLocal ? k : minLocal;
  }
  if (start + local > usableSize) return null;
  if (local === payloadSize) return { rowid: rowid.value, payload: page.subarray(start, start + local) };
  if (start + local + 4 > usableSize) return null;
  const parts: Buffer[] = [page.subarray(start, start + local)];
  let remaining = payloadSize - local;
  let next = page.readUInt32BE(start + local);
  const seen = new Set<number>();
  const maxPages = Math.ceil(remaining / (usableSize - 4)) + 1;
  while (remaining > 0) {
    if (next === 0 || seen.has(next) || seen.size > maxPages) return null;
    seen.add(next);
    const overflow = getPage(next);
    if (!overflow) return null;
    const take = Math.min(remaining, usableSize - 4);
    parts.push(overflow.subarray(4, 4 + take));
    remaining -= take;
    next = overflow.readUInt32BE(0);
  }
  return { rowid: rowid.value, payload: Buffer.concat(parts) };
}

/** Decodes a record (file format §2.1) into its values; null if the record is malformed. */
export function decodeRecord(payload: Buffer, encoding: 'utf8' | 'utf16le' | 'utf16be'): SqlValue[] | null {
  const headerSize = varintNumber(payload, 0);
  if (!headerSize || headerSize.value > payload.length || headerSize.value < headerSize.length) return null;
  const types: number[] = [];
  let offset = headerSize.length;
  while (offset < headerSize.value) {
    const t = varintNumber(payload, offset);
    if (!t) return null;
    types.push(t.value);
    offset += t.length;
    if (types.length > 32_767) return null;
  }
  if (offset !== headerSize.value) return null;
  const values: SqlValue[] = [];
  let pos = headerSize.value;
  for (const t of types) {
    const need =
      t === 0 || t === 8 || t === 9
        ? 0
        : t <= 4
          ? t
          : t === 5
            ? 6
            : t === 6 || t === 7
              ? 8
              : t >= 12
                ? Math.floor((t - 12) / 2)
                : -1;
    if (need < 0 || pos + need > payload.length) return null;
    const slice = payload.subarray(pos, pos + need);
    pos += need;
    if (t === 0) values.push(null);
    else if (t === 8) values.push(0);
    else if (t === 9) values.push(1);
    else if (t >= 1 && t <= 6) {
      let v = 0n;
      for (const byte of slice) v = (v << 8n) | BigInt(byte);
      const bits = BigInt(need * 8);
      if (v >= 1n << (bits - 1n)) v -= 1n << bits;
      values.push(v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v);
    } else if (t === 7) values.push(slice.readDoubleBE(0));
    else if (t % 2 === 0) values.push(Buffer.from(slice));
    else {
      if (encoding === 'utf8') values.push(slice.toString('utf8'));
      else if (encoding === 'utf16le') values.push(slice.toString('utf16le'));
      else if (slice.length % 2 === 0) values.push(Buffer.from(slice).swap16().toString('utf16le'));
      else return null;
    }
  }
  if (pos !== payload.length) return null;
  return values;
}
