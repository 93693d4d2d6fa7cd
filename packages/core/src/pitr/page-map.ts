import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import * as z from 'zod';
import { compress, decompress } from 'zstd-napi';
import { BackupInvalidError } from '../errors/errors.js';
import { writeFileDurably } from '../fs/files.js';

/**
 * Page maps: where each page of a point lives (pack, slot).
 *
 * A point's map is either *full* (every page) or a *delta* against its parent point's map (the
 * pages that changed, plus the new page count). Rebuilding a point's map reads back to the
 * nearest full map and applies the deltas in order. A point writes a full map instead of a delta
 * once the deltas since the last full map would add up to more than that full map: so the map
 * bytes a point stores grow with the pages that changed (a delta), the full maps cost at most as
 * much again, and resolving a point reads at most about twice a full map (or a full map plus
 * 16 KiB of deltas, for a small map). (A full map per point
 * would be about 8 bytes × pages before compression; a full map of pages that sit in the order a
 * pack stored them compresses to almost nothing, one that went through many changes does not.)
 *
 * Maps also carry the point's pack list (every pack its pages live in, with its checksum), the
 * same way: a full map lists them all (`packRefs`), a delta the packs its point added to the list
 * and dropped from it (`packsAdded`, `packsDropped`). So a manifest does not list its packs, and
 * what a point stores does not grow with the number of packs in the store. (Maps written before
 * this carry no lists; their points' manifests do, format version 1: see chainPackRefs.)
 *
 * File layout: "ORAPMAP1" | u32 header length | JSON header | zstd(entries) | SHA-256 of all before.
 * Entries are columns of little-endian int32 (so zstd sees runs): full maps `pack[]`, then each
 * slot minus the slot after the previous page's (0 for pages a pack stored in order); deltas the
 * gap to the previous changed page number, `pack[]`, and slots the same way.
 */

const MAGIC = Buffer.from('ORAPMAP1');

export const mapFile = (name: string) => `${name}.map`;

export interface MapHeader {
  id: string;
  kind: 'full' | 'delta';
  /** The parent point's map (a delta's base), or null for a full map. */
  parent: string | null;
  pageSize: number;
  pageCount: number;
  /** Pack names the entries' pack numbers index. */
  packs: string[];
  entries: number;
  /** A full map: every pack the point's pages live in, with its checksum (absent in older maps). */
  packRefs?: PackRef[];
  /** A delta: the packs its point lists and its parent did not (absent in older maps). */
  packsAdded?: PackRef[];
  /** A delta: the packs its parent lists and its point does not (absent in older maps). */
  packsDropped?: string[];
}

/** A pack a point's pages live in: its name, the SHA-256 of its file, its bytes and pages. */
export interface PackRef {
  name: string;
  sha256: string;
  bytes: number;
  pages: number;
}

/** A resolved map: for page `p` (1-based), pack `packs[pack[p-1]]`, slot `slot[p-1]`. */
export interface PageState {
  pageSize: number;
  pageCount: number;
  packs: string[];
  pack: Uint32Array;
  slot: Uint32Array;
}

export interface MapEntry {
  pgno: number;
  pack: string;
  slot: number;
}

function column(n: number, f: (i: number) => number): Buffer {
  const b = Buffer.alloc(n * 4);
  for (let i = 0; i < n; i++) b.writeInt32LE(f(i) | 0, i * 4);
  return b;
}

/**
 * Encodes a full map of `state`. Only the packs it uses are named, each with its entry in `refs`
 * (which must hold every one of them).
 */
export function encodeFullMap(id: string, state: PageState, refs: ReadonlyMap<string, PackRef>): Buffer {
  const { used, remap } = usedPacks(state.packs, state.pack, state.pageCount);
  const n = state.pageCount;
  const packs = column(n, (i) => remap[state.pack[i] as number] as number);
  const slots = column(n, (i) => (state.slot[i] as number) - (i === 0 ? 0 : (state.slot[i - 1] as number) + 1));
  const packRefs = used.map((name) => {
    const ref = refs.get(name);
    if (!ref) throw new BackupInvalidError(`page map ${id}: no checksum known for pack ${name}`);
    return ref;
  });
  return encode(
    { id, kind: 'full', parent: null, pageSize: state.pageSize, pageCount: n, packs: used, entries: n, packRefs },
    [packs, slots],
  );
}

/** Encodes a delta map: `entries` sorted by page number; `lists` the pack list's change since the parent. */
export function encodeDeltaMap(
  id: string,
  parent: string,
  pageSize: number,
  pageCount: number,
  entries: readonly MapEntry[],
  lists: { added: PackRef[]; dropped: string[] },
): Buffer {
  const used = [...new Set(entries.map((e) => e.pack))];
  const index = new Map(used.map((p, i) => [p, i]));
  const n = entries.length;
  const e = (i: number) => entries[i] as MapEntry;
  const gaps = column(n, (i) => e(i).pgno - (i === 0 ? 0 : e(i - 1).pgno));
  const packs = column(n, (i) => index.get(e(i).pack) as number);
  const slots = column(n, (i) => e(i).slot - (i === 0 ? 0 : e(i - 1).slot + 1));
  return encode(
    {
      id,
      kind: 'delta',
      parent,
      pageSize,
      pageCount,
      packs: used,
      entries: n,
      packsAdded: lists.added,
      packsDropped: lists.dropped,
    },
    [gaps, packs, slots],
  );
}

function encode(header: MapHeader, columns: Buffer[]): Buffer {
  const json = Buffer.from(JSON.stringify(header));
  const len = Buffer.alloc(4);
  len.writeUInt32LE(json.length, 0);
  const body = Buffer.concat([MAGIC, len, json, compress(Buffer.concat(columns), { compressionLevel: 9 })]);
  return Buffer.concat([body, createHash('sha256').update(body).digest()]);
}

function usedPacks(packs: string[], pack: Uint32Array, n: number): { used: string[]; remap: number[] } {
  const remap: number[] = new Array(packs.length).fill(-1);
  const used: string[] = [];
  for (let i = 0; i < n; i++) {
    const p = pack[i] as number;
    if (remap[p] === -1) {
      remap[p] = used.length;
      used.push(packs[p] as string);
    }
  }
  return { used, remap };
}

/** The packs a resolved state references. */
export function referencedPacks(state: PageState): string[] {
  return usedPacks(state.packs, state.pack, state.pageCount).used;
}

export interface DecodedMap {
  header: MapHeader;
  /** Int32 columns (see the file comment). */
  columns: Int32Array[];
  bytes: number;
}

/** Reads and checks one map file. */
export function readMap(dir: string, name: string): DecodedMap {
  return readMapAt(join(dir, mapFile(name)), name);
}

/** Reads and checks the map of point `name` at `path` (wherever it is, e.g. a download's temp file). */
export function readMapAt(path: string, name: string): DecodedMap {
  const { buf, body, header, len } = readChecked(path, name);
  const bad = (what: string) => new BackupInvalidError(`page map ${path} is damaged: ${what}`);
  const data = decompress(body.subarray(12 + len));
  const ncol = header.kind === 'full' ? 2 : 3;
  if (data.length !== header.entries * 4 * ncol) throw bad('entries do not match the header');
  const columns: Int32Array[] = [];
  for (let c = 0; c < ncol; c++) {
    const copy = Buffer.from(data.subarray(c * header.entries * 4, (c + 1) * header.entries * 4));
    columns.push(new Int32Array(copy.buffer, copy.byteOffset, header.entries));
  }
  return { header, columns, bytes: buf.length };
}

/** A PackRef as manifests (format 1) and map headers hold it. */
export const packRefSchema: z.ZodType<PackRef> = z.object({
  name: z.string(),
  sha256: z.string().regex(/^[0-9a-f]{64}$/),
  bytes: z.number(),
  pages: z.number(),
});
const mapHeaderSchema = z.object({
  id: z.string(),
  kind: z.enum(['full', 'delta']),
  parent: z.string().nullable(),
  pageSize: z.number().int().positive(),
  pageCount: z.number().int().nonnegative(),
  packs: z.array(z.string()),
  entries: z.number().int().nonnegative(),
  packRefs: z.array(packRefSchema).optional(),
  packsAdded: z.array(packRefSchema).optional(),
  packsDropped: z.array(z.string()).optional(),
});

/** The file at `path`, its checksum checked, and its header (entries not decoded). */
function readChecked(path: string, name: string): { buf: Buffer; body: Buffer; header: MapHeader; len: number } {
  let buf: Buffer;
  try {
    buf = readFileSync(path);
  } catch (error) {
    throw new BackupInvalidError(`page map ${path} is unreadable (${(error as NodeJS.ErrnoException).code ?? error})`);
  }
  const bad = (what: string) => new BackupInvalidError(`page map ${path} is damaged: ${what}`);
  if (buf.length < 12 + 32 || !buf.subarray(0, 8).equals(MAGIC)) throw bad('not a page map');
  const body = buf.subarray(0, buf.length - 32);
  if (
    !createHash('sha256')
      .update(body)
      .digest()
      .equals(buf.subarray(buf.length - 32))
  )
    throw bad('checksum mismatch');
  const len = buf.readUInt32LE(8);
  let raw: unknown;
  try {
    raw = JSON.parse(buf.subarray(12, 12 + len).toString());
  } catch {
    throw bad('its header is not JSON');
  }
  const parsed = mapHeaderSchema.safeParse(raw);
  if (!parsed.success) throw bad('its header does not match its schema');
  const header = parsed.data as MapHeader;
  if (header.id !== name) throw bad(`it names itself ${header.id}`);
  return { buf, body, header, len };
}

/** Reads and checks map `name` in `dir`, without decoding its entries. */
export function readMapHeader(dir: string, name: string): MapHeader {
  return readChecked(join(dir, mapFile(name)), name).header;
}

/**
 * The pack list of the point whose map chain (`headers`, oldest first: a full map, then deltas)
 * this is: the full map's, with each delta's additions and drops applied in order. Null when a
 * map of the chain carries no list (written before maps had them: the manifest has the list).
 */
export function chainPackRefs(headers: readonly MapHeader[]): PackRef[] | null {
  const first = headers[0];
  if (first?.kind !== 'full' || !first.packRefs) return null;
  const refs = new Map(first.packRefs.map((r) => [r.name, r]));
  for (const h of headers.slice(1)) {
    if (!h.packsAdded || !h.packsDropped) return null;
    for (const name of h.packsDropped) refs.delete(name);
    for (const r of h.packsAdded) refs.set(r.name, r);
  }
  return [...refs.values()];
}

/**
 * The headers of the maps `name` depends on, oldest (the full map) first, each file checked;
 * `cache` (map name → header) spares re-reading maps several chains share.
 */
export function headerChain(dir: string, name: string, cache = new Map<string, MapHeader>()): MapHeader[] {
  const chain: MapHeader[] = [];
  let next: string | null = name;
  while (next !== null) {
    let h = cache.get(next);
    if (!h) {
      h = readMapHeader(dir, next);
      cache.set(next, h);
    }
    chain.push(h);
    next = h.parent;
    if (chain.length > 100_000) throw new BackupInvalidError(`page map chain of ${name} does not end`);
  }
  return chain.reverse();
}

/** Writes a map file durably into `dir`. */
export function writeMap(dir: string, name: string, data: Buffer): void {
  writeFileDurably(join(dir, mapFile(name)), data, dir, `.tmp-${process.pid}-${mapFile(name)}`);
}

/**
 * The maps `name` depends on, oldest (the full map) first, itself last — reading only headers'
 * parent pointers (each file checked).
 */
export function mapChain(dir: string, name: string): DecodedMap[] {
  const chain: DecodedMap[] = [];
  let next: string | null = name;
  while (next !== null) {
    const m = readMap(dir, next);
    chain.push(m);
    next = m.header.parent;
    if (chain.length > 100_000) throw new BackupInvalidError(`page map chain of ${name} does not end`);
  }
  return chain.reverse();
}

/** Resolves `name` into every page's (pack, slot). */
export function resolveMap(dir: string, name: string): PageState {
  return resolveChain(mapChain(dir, name), name);
}

/** Resolves the map chain `chain` (mapChain's) of point `name` into every page's (pack, slot). */
export function resolveChain(chain: readonly DecodedMap[], name: string): PageState {
  const first = chain[0] as DecodedMap;
  if (first.header.kind !== 'full') throw new BackupInvalidError(`page map chain of ${name} has no full map`);
  const packs: string[] = [];
  const packIndex = new Map<string, number>();
  const global = (names: string[]) =>
    names.map((p) => {
      let i = packIndex.get(p);
      if (i === undefined) {
        i = packs.length;
        packs.push(p);
        packIndex.set(p, i);
      }
      return i;
    });
  let pageCount = first.header.pageCount;
  let capacity = pageCount;
  for (const m of chain) capacity = Math.max(capacity, m.header.pageCount);
  const pack = new Uint32Array(capacity).fill(0xffffffff);
  const slot = new Uint32Array(capacity);
  {
    const g = global(first.header.packs);
    const [pc, sc] = first.columns as [Int32Array, Int32Array];
    let s = -1;
    for (let i = 0; i < pageCount; i++) {
      pack[i] = g[pc[i] as number] as number;
      s = s + 1 + (sc[i] as number);
      slot[i] = s;
    }
  }
  for (const m of chain.slice(1)) {
    if (m.header.pageSize !== first.header.pageSize)
      throw new BackupInvalidError(`page map ${m.header.id} changes the page size`);
    const g = global(m.header.packs);
    const [gc, pc, sc] = m.columns as [Int32Array, Int32Array, Int32Array];
    // Pages past the new end are gone; pages past the old end must come in this delta.
    for (let i = m.header.pageCount; i < pageCount; i++) pack[i] = 0xffffffff;
    pageCount = m.header.pageCount;
    let p = 0;
    let s = -1;
    for (let i = 0; i < m.header.entries; i++) {
      p += gc[i] as number;
      s = s + 1 + (sc[i] as number);
      if (p < 1 || p > pageCount)
        throw new BackupInvalidError(`page map ${m.header.id} names page ${p} of ${pageCount}`);
      pack[p - 1] = g[pc[i] as number] as number;
      slot[p - 1] = s;
    }
  }
  for (let i = 0; i < pageCount; i++) {
    if (pack[i] === 0xffffffff) throw new BackupInvalidError(`page map ${name} does not say where page ${i + 1} is`);
  }
  return {
    pageSize: first.header.pageSize,
    pageCount,
    packs,
    pack: pack.subarray(0, pageCount),
    slot: slot.subarray(0, pageCount),
  };
}
