import { type OraDatabase, openRaw, withDatabase } from '../connection/connection.js';
import { MIGRATIONS } from '../schema/migrations.js';
import {
  decodeRecord,
  interiorChild,
  type PageHeader,
  parsePageHeader,
  readIndexCell,
  readLeafCell,
  type SqlValue,
} from './btree.js';
import type { PageSource } from './file-format.js';

/**
 * Streaming salvage of a damaged database, in two passes over the file, holding nothing that grows
 * with it but one 4-byte owner per page:
 *
 * 1. **Plan** (`planSalvage`): the schema from the `sqlite_schema` tree, then every b-tree walked
 *    from its root through its interior pages, marking which tree owns each page; the freelist
 *    marked too. A tree with a page it cannot read is *damaged*.
 * 2. **Rows** (`salvageRows`): each table's tree walked again, its rows decoded and handed to a
 *    sink as they come; then every page no tree and no freelist owns is scanned for table leaves,
 *    whose rows go to the one *damaged* table they fit (column count and storage classes), or to
 *    lost-and-found. An intact tree reached all its leaves, so a stray leaf cannot be its own: such
 *    pages are stale (a freelist page the damaged freelist lost), and their rows are shown, never
 *    put back into a table.
 */

export interface SchemaEntry {
  type: string;
  name: string;
  tableName: string;
  rootPage: number;
  sql: string | null;
}

export interface ColumnShape {
  name: string;
  type: string;
  notNull: boolean;
  /** The INTEGER PRIMARY KEY of a rowid table: stored as NULL in the record, its value is the rowid. */
  ipk: boolean;
  /** A generated column (its value is computed, never inserted). */
  generated: boolean;
}

export interface TableShape {
  name: string;
  /** The columns in the order the record stores them (virtual generated columns are not stored). */
  columns: ColumnShape[];
  withoutRowid: boolean;
  /** A virtual table's shadow table (e.g. `notes_fts_data`): created by its virtual table, not by its own SQL. */
  shadow: boolean;
}

export interface RecoveredRow {
  /** The rowid (0 for a WITHOUT ROWID row): a number where safe, else a bigint. */
  rowid: number | bigint;
  values: SqlValue[];
  /** Each value's serial type: a number's storage class (2 and 2.0 are one JavaScript number). */
  types: number[];
}

export interface TreeState {
  kind: 'table' | 'index';
  name: string;
  /** The table's shape; null for an index tree or the schema tree. */
  shape: TableShape | null;
  root: number;
  /** Pages of this tree that could not be read (damaged header or wrong kind), counted. */
  unreadablePages: number;
  /** The first few of them, for the report. */
  unreadableSample: number[];
  /** Cells on otherwise readable pages that did not decode. */
  unreadableCells: number;
  /** Whether any page of this tree was unreadable, or its root is unknown. */
  damaged: boolean;
}

export interface SalvagePlan {
  schema: SchemaEntry[];
  /** Where the schema came from: the file's own sqlite_schema, or this code's migrations. */
  schemaSource: 'file' | 'migrations';
  shapes: TableShape[];
  /** Trees by id (owner values); id 0 is unused, 1 is sqlite_schema. */
  trees: TreeState[];
  /** Per page: 0 unowned, > 0 the owning tree's id (overflow pages included once pass 2 has read them), -1 freelist. */
  owner: Int32Array;
  freelistPages: number;
  /**
   * Whether the freelist was read whole. When not (a damaged trunk, or no header), stray pages may
   * be freed pages whose deleted rows would come back: the report says so.
   */
  freelistComplete: boolean;
}

/**
 * Where salvaged rows go. With `raw`, text and blob values are undecoded views into buffers that
 * are reused once the call returns (bind or copy them at once); otherwise they are owned values.
 */
export interface SalvageSink {
  raw?: boolean;
  /** A row read from `tree`'s own b-tree. */
  treeRow(tree: TreeState, row: RecoveredRow): void;
  /** A row from a stray leaf attributed to `tree` (the sink skips rowids the table already has). */
  scanRow(tree: TreeState, row: RecoveredRow): void;
  /** A row from a stray leaf that fits no damaged table, or several. */
  lost(page: number, row: RecoveredRow): void;
}

export type SalvageProgress = (done: number, total: number) => void;

const FREELIST = -1;
/** A page two trees reach: neither takes it; it is scanned as a stray. */
const CONTESTED = -3;
/** Added to a tree's id once pass 2 has visited the page: a damaged pointer back up the tree cannot loop. */
const VISITED = 1 << 30;

/**
 * Page `n` copied into `scratch`: the source's pages are views into a cache that reading overflow
 * pages may recycle, and a page is read cell by cell, overflow chains in between.
 */
function copyPage(source: PageSource, n: number, scratch: Buffer): Buffer | null {
  const page = source.page(n);
  if (!page) return null;
  page.copy(scratch, 0, 0, source.pageSize);
  return scratch;
}

const cellRow = (source: PageSource, page: Buffer, cell: number, owner: Int32Array, id: number, raw = false) => {
  const leaf = readLeafCell(page, cell, source.usableSize, source.page, (n) => {
    if (id > 0 && n < owner.length && owner[n] === 0) owner[n] = id + VISITED;
  });
  const types: number[] = [];
  const values = leaf ? decodeRecord(leaf.payload, source.textEncoding, types, raw) : null;
  return leaf && values ? { rowid: leaf.rowid, values, types } : null;
};

/**
 * Walks a b-tree from its root through its interior pages (table trees: interior 5 / leaf 13;
 * index trees: 2 / 10), left to right, handing each readable page to `visit`. A page that is
 * unreadable, of another kind, or already owned by another tree is counted against this tree and
 * its subtree skipped.
 */
function walk(
  source: PageSource,
  owner: Int32Array,
  id: number,
  tree: TreeState,
  claim: boolean,
  visit: (n: number, page: Buffer, header: PageHeader) => void,
  trees?: TreeState[],
): void {
  const interiorKind = tree.kind === 'index' || tree.shape?.withoutRowid ? 2 : 5;
  const leafKind = interiorKind === 2 ? 10 : 13;
  const stack = [tree.root];
  const scratch = Buffer.allocUnsafeSlow(source.pageSize);
  let steps = 0;
  while (stack.length > 0 && steps++ <= owner.length) {
    const n = stack.pop() as number;
    const mine = n > 0 && n < owner.length && (claim ? owner[n] === 0 : owner[n] === id);
    const page = mine ? copyPage(source, n, scratch) : null;
    const header = page ? parsePageHeader(page, n, source.usableSize) : null;
    if (claim && !mine && n > 0 && n < owner.length && (owner[n] as number) > 1 && owner[n] !== id) {
      // Two trees reach one page: one of them has a damaged pointer, and which is unknown. Neither
      // takes the page (it is scanned as a stray) and both count as damaged, so its rows go where
      // the shape alone decides, or to lost_and_found.
      const other = trees?.[owner[n] as number];
      if (other) other.damaged = true;
      owner[n] = CONTESTED;
    }
    if (!page || !header || (header.type !== interiorKind && header.type !== leafKind)) {
      if (claim || mine) {
        tree.damaged = true;
        tree.unreadablePages++;
        if (tree.unreadableSample.length < 20) tree.unreadableSample.push(n);
      }
      continue;
    }
    owner[n] = claim ? id : id + VISITED;
    visit(n, page, header);
    if (header.type === leafKind) continue;
    // Right-most child first onto the stack, so the leftmost is walked first (key order).
    if (header.rightChild) stack.push(header.rightChild);
    for (let i = header.cells.length - 1; i >= 0; i--) {
      const child = interiorChild(page, header.cells[i] as number);
      if (child) stack.push(child);
    }
  }
}

/** The freelist's trunk and leaf pages (file format §1.5): old deleted content that must not come back. */
function markFreelist(source: PageSource, owner: Int32Array): { marked: number; complete: boolean } {
  const header = source.page(1);
  if (!header || !source.headerValid) return { marked: 0, complete: false };
  let trunk = header.readUInt32BE(32);
  const total = header.readUInt32BE(36);
  let marked = 0;
  const mark = (n: number) => {
    if (n > 0 && n < owner.length && owner[n] === 0) {
      owner[n] = FREELIST;
      marked++;
    }
  };
  let trunks = 0;
  let complete = true;
  while (trunk !== 0) {
    if (trunk >= owner.length || owner[trunk] !== 0 || trunks++ > total) {
      complete = false;
      break;
    }
    mark(trunk);
    const page = source.page(trunk);
    const leaves = page ? page.readUInt32BE(4) : Number.POSITIVE_INFINITY;
    if (!page || leaves > (source.usableSize - 8) / 4) {
      complete = false; // a damaged trunk: what it lists is unknown
      break;
    }
    for (let i = 0; i < leaves; i++) mark(page.readUInt32BE(8 + i * 4));
    trunk = page.readUInt32BE(0);
  }
  return { marked, complete: complete && marked === total };
}

/** Marks a page listed by the freelist trunk candidate `trunk` (decoded by `listedBy`). */
const LISTED = -16;
const listedBy = (o: number) => (o <= LISTED ? LISTED - o : 0);

/**
 * The freelist when its head is lost (page 1 destroyed) or a trunk of it is damaged: every page no
 * tree reached that has a trunk's shape (file format §1.5: the next trunk, 0 or a page of the file,
 * then a count of at most usable/4 - 2 and that many distinct pages of the file, none reached by a
 * tree) is taken as a trunk, and the pages it lists as freed. Freed pages keep their old cells, so
 * without this the rows deleted before the damage would come back. A b-tree page never has that
 * shape (its first byte is its type; a trunk's is the high byte of a page number, 0). A candidate is
 * dropped when a b-tree interior page that is not itself freed points to a page it lists: live trees
 * do not point into the freelist. Returns the pages marked.
 */
function findFreelist(source: PageSource, owner: Int32Array): number {
  const last = source.pageCount;
  const maxLeaves = Math.floor(source.usableSize / 4) - 2;
  const trunks: number[] = [];
  for (let n = 2; n <= last; n++) {
    if (owner[n] !== 0 || source.isPointerMap(n)) continue;
    const page = source.page(n);
    if (!page || page.length < source.usableSize) continue;
    const next = page.readUInt32BE(0);
    const leaves = page.readUInt32BE(4);
    if (next === 1 || next === n || next > last || leaves < 1 || leaves > maxLeaves) continue;
    let ok = true;
    for (let i = 0; i < leaves && ok; i++) {
      const leaf = page.readUInt32BE(8 + i * 4);
      // A page a tree reached, or that another candidate lists, cannot be a leaf of this trunk.
      ok = leaf >= 2 && leaf <= last && leaf !== n && (owner[leaf] === 0 || owner[leaf] === FREELIST);
    }
    if (!ok) continue;
    for (let i = 0; i < leaves; i++) {
      const leaf = page.readUInt32BE(8 + i * 4);
      if (owner[leaf] === 0) owner[leaf] = LISTED - n;
    }
    trunks.push(n);
  }
  if (trunks.length === 0) return 0;
  const trunkSet = new Set(trunks);
  // Live interior pages (neither trunks nor listed) must not point at a listed page.
  const dropped = new Set<number>();
  for (let n = 2; n <= last; n++) {
    const o = owner[n] as number;
    if (o !== 0 || trunkSet.has(n)) continue;
    const page = source.page(n);
    const header = page ? parsePageHeader(page, n, source.usableSize) : null;
    if (!page || !header || (header.type !== 2 && header.type !== 5)) continue;
    const children = header.cells.map((c) => interiorChild(page, c));
    children.push(header.rightChild);
    for (const child of children) {
      if (child && child <= last && listedBy(owner[child] as number) > 0) dropped.add(listedBy(owner[child] as number));
    }
  }
  let marked = 0;
  for (let n = 2; n <= last; n++) {
    const by = listedBy(owner[n] as number);
    if (by > 0) {
      owner[n] = dropped.has(by) ? 0 : FREELIST;
      if (!dropped.has(by)) marked++;
    }
  }
  for (const n of trunks) {
    if (dropped.has(n) || owner[n] !== 0) continue;
    owner[n] = FREELIST;
    marked++;
  }
  return marked;
}

/** The schema as this code creates it (used when the damaged file's own schema is unreadable). */
export function migrationSchema(): SchemaEntry[] {
  return withDatabase(openRaw(':memory:'), (db) => {
    for (const m of MIGRATIONS) db.exec(m.sql);
    return db
      .prepare(
        "SELECT type, name, tbl_name AS tableName, 0 AS rootPage, sql FROM sqlite_schema WHERE name NOT LIKE 'sqlite_%'",
      )
      .all() as SchemaEntry[];
  });
}

/** Creates the schema's tables in `db`: virtual tables first (they create their shadow tables). */
export function createTables(db: OraDatabase, schema: SchemaEntry[]): { failed: string[] } {
  const failed: string[] = [];
  const isVirtual = (e: SchemaEntry) => /^\s*create\s+virtual\s+table/i.test(e.sql ?? '');
  const tables = schema.filter((e) => e.type === 'table' && e.sql && !e.name.startsWith('sqlite_'));
  for (const e of [...tables.filter(isVirtual), ...tables.filter((x) => !isVirtual(x))]) {
    const exists = db.prepare('SELECT 1 FROM sqlite_schema WHERE type = ? AND name = ?').get('table', e.name);
    if (exists) continue; // a shadow table its virtual table has just created
    try {
      db.exec(e.sql as string);
    } catch {
      failed.push(e.name);
    }
  }
  return { failed };
}

/**
 * The column shapes of the schema's tables, read by creating them in an in-memory database:
 * record order (WITHOUT ROWID tables store their primary key first), generated columns, the
 * INTEGER PRIMARY KEY, and which tables are shadow tables of a virtual table.
 */
export function tableShapes(schema: SchemaEntry[]): TableShape[] {
  return withDatabase(openRaw(':memory:'), (db) => {
    createTables(db, schema);
    const list = new Map(
      (
        db.prepare("SELECT name, type, wr FROM pragma_table_list WHERE schema = 'main'").all() as {
          name: string;
          type: string;
          wr: number;
        }[]
      ).map((r) => [r.name, r]),
    );
    const shapes: TableShape[] = [];
    for (const e of schema) {
      if (e.type !== 'table' || !e.sql) continue;
      const info = list.get(e.name);
      if (!info || info.type === 'virtual') continue;
      if (e.name.startsWith('sqlite_') && e.name !== 'sqlite_sequence') continue;
      const cols = db
        .prepare('SELECT cid, name, type, "notnull" AS nn, pk, hidden FROM pragma_table_xinfo(?) ORDER BY cid')
        .all(e.name) as { cid: number; name: string; type: string; nn: number; pk: number; hidden: number }[];
      const pkCols = cols.filter((c) => c.pk > 0);
      const withoutRowid = info.wr === 1;
      // `INTEGER PRIMARY KEY DESC` is no rowid alias: it is stored and has its own pk index.
      const pkIndex = db.prepare("SELECT name FROM pragma_index_list(?) WHERE origin = 'pk'").pluck().get(e.name) as
        | string
        | undefined;
      const alias = !withoutRowid && pkCols.length === 1 && pkIndex === undefined;
      const shape = (c: (typeof cols)[number]): ColumnShape => ({
        name: c.name,
        type: c.type.toUpperCase(),
        notNull: c.nn === 1,
        ipk: alias && c.pk === 1 && c.type.toUpperCase() === 'INTEGER',
        generated: c.hidden === 2 || c.hidden === 3,
      });
      // Virtual generated columns (hidden 2) are not in the record.
      let stored = cols.filter((c) => c.hidden !== 2);
      if (withoutRowid) {
        const pkIndex = db.prepare("SELECT name FROM pragma_index_list(?) WHERE origin = 'pk'").pluck().get(e.name) as
          | string
          | undefined;
        const order = pkIndex
          ? (db.prepare('SELECT cid FROM pragma_index_xinfo(?) ORDER BY seqno').pluck().all(pkIndex) as number[])
          : [];
        const byCid = new Map(cols.map((c) => [c.cid, c]));
        const ordered = order.map((cid) => byCid.get(cid)).filter((c) => c !== undefined && c.hidden !== 2);
        if (ordered.length === stored.length) stored = ordered as typeof cols;
      }
      shapes.push({ name: e.name, columns: stored.map(shape), withoutRowid, shadow: info.type === 'shadow' });
    }
    return shapes;
  });
}

/**
 * Whether a row could belong to `shape`, from its values' serial types: column count and each
 * value's storage class (an INTEGER PRIMARY KEY is stored as NULL; TEXT columns hold text,
 * INTEGER columns integers, REAL columns numbers, NOT NULL columns no NULL).
 */
export function fits(types: number[], shape: TableShape): boolean {
  if (types.length > shape.columns.length || types.length === 0) return false;
  return shape.columns.every((c, i) => {
    if (i >= types.length) return !c.notNull; // added later by ALTER TABLE: absent means default
    const t = types[i] as number;
    if (c.ipk) return t === 0;
    if (t === 0) return !c.notNull;
    const integer = (t >= 1 && t <= 6) || t === 8 || t === 9;
    if (c.type.includes('INT')) return integer;
    if (c.type.includes('CHAR') || c.type.includes('CLOB') || c.type.includes('TEXT')) return t >= 13 && t % 2 === 1;
    if (c.type.includes('BLOB') || c.type === '' || c.type === 'ANY') return true;
    if (c.type.includes('REAL') || c.type.includes('FLOA') || c.type.includes('DOUB')) return integer || t === 7;
    return true; // NUMERIC affinity stores any class
  });
}

const SCHEMA_TYPES = new Set(['table', 'index', 'view', 'trigger']);
const schemaEntry = (r: RecoveredRow): SchemaEntry | null =>
  r.values.length === 5 &&
  typeof r.values[0] === 'string' &&
  SCHEMA_TYPES.has(r.values[0]) &&
  typeof r.values[1] === 'string' &&
  typeof r.values[2] === 'string' &&
  (typeof r.values[3] === 'number' || r.values[3] === null) &&
  (typeof r.values[4] === 'string' || r.values[4] === null)
    ? {
        type: r.values[0],
        name: r.values[1],
        tableName: r.values[2],
        rootPage: typeof r.values[3] === 'number' ? r.values[3] : 0,
        sql: r.values[4] as string | null,
      }
    : null;

/**
 * Pass 1: the schema, and which tree owns each page. Reads the interior pages of every tree and
 * the first bytes of each leaf; nothing is kept but the owner array. `progress` is told the pages
 * claimed so far (of the file's pages), every few thousand pages.
 */
export function planSalvage(source: PageSource, progress?: SalvageProgress): SalvagePlan {
  const owner = new Int32Array(source.pageCount + 1);
  let claimed = 0;
  const tick = () => {
    if (progress && ++claimed % 2048 === 0) progress(claimed, source.pageCount);
  };
  const trees: TreeState[] = [];
  const newTree = (kind: TreeState['kind'], name: string, root: number, shape: TableShape | null): TreeState => ({
    kind,
    name,
    shape,
    root,
    unreadablePages: 0,
    unreadableSample: [],
    unreadableCells: 0,
    damaged: root <= 0,
  });
  trees.push(newTree('index', '', 0, null)); // id 0: unowned
  const schemaTree = newTree('table', 'sqlite_schema', 1, null);
  trees.push(schemaTree);
  const entries: SchemaEntry[] = [];
  walk(source, owner, 1, schemaTree, true, (_n, page, header) => {
    if (header.type !== 13) return;
    for (const cell of header.cells) {
      const row = cellRow(source, page, cell, owner, 1);
      const entry = row ? schemaEntry(row) : null;
      if (entry) entries.push(entry);
    }
  });
  if (!entries.some((e) => e.type === 'table')) {
    // Page 1 unreadable: a schema larger than one page still has leaves elsewhere.
    const scratch = Buffer.allocUnsafeSlow(source.pageSize);
    for (let n = 2; n <= source.pageCount; n++) {
      if (owner[n] !== 0) continue;
      const page = copyPage(source, n, scratch);
      const header = page ? parsePageHeader(page, n, source.usableSize) : null;
      if (!page || header?.type !== 13) continue;
      const found: SchemaEntry[] = [];
      for (const cell of header.cells) {
        const row = cellRow(source, page, cell, owner, 1);
        const entry = row ? schemaEntry(row) : null;
        if (!entry) break;
        found.push(entry);
      }
      if (found.length === header.cells.length && found.length > 0) {
        entries.push(...found);
        owner[n] = 1;
      }
    }
  }
  let schema = entries;
  let schemaSource: SalvagePlan['schemaSource'] = 'file';
  if (!schema.some((e) => e.type === 'table' && !e.name.startsWith('sqlite_'))) {
    schema = migrationSchema();
    schemaSource = 'migrations';
  }
  const shapes = tableShapes(schema);
  const shapeOf = new Map(shapes.map((s) => [s.name, s]));
  // Every table tree is claimed, those without a shape too (sqlite_stat1, a virtual table's
  // module we lack): their pages are not strays.
  for (const e of schema) {
    if (e.type === 'table') trees.push(newTree('table', e.name, e.rootPage, shapeOf.get(e.name) ?? null));
  }
  for (const e of schema)
    if (e.type === 'index' && e.rootPage > 0) trees.push(newTree('index', e.name, e.rootPage, null));
  for (let id = 2; id < trees.length; id++) {
    const tree = trees[id] as TreeState;
    if (tree.root > 0) walk(source, owner, id, tree, true, tick, trees);
  }
  const free = markFreelist(source, owner);
  // A lost head or a damaged trunk: the rest of the freelist is found by its shape.
  const found = free.complete ? 0 : findFreelist(source, owner);
  progress?.(source.pageCount, source.pageCount); // every page is planned: owned, free or stray
  return {
    schema,
    schemaSource,
    shapes,
    trees,
    owner,
    freelistPages: free.marked + found,
    freelistComplete: free.complete,
  };
}

/**
 * Pass 2: every row, streamed to `sink` — each table's own tree first, then the stray table
 * leaves (and WITHOUT ROWID leaves) that no tree reached, attributed to the one damaged table they
 * fit. `progress` is told the pages done so far.
 */
export function salvageRows(
  source: PageSource,
  plan: SalvagePlan,
  sink: SalvageSink,
  progress?: SalvageProgress,
): { pagesScanned: number } {
  const { owner, trees } = plan;
  const raw = sink.raw === true;
  const total = source.pageCount;
  let done = 0;
  let reported = 0;
  const tick = () => {
    done++;
    if (progress && done - reported >= 2048) {
      reported = done;
      progress(done, total);
    }
  };
  for (let id = 2; id < trees.length; id++) {
    const tree = trees[id] as TreeState;
    if (tree.kind !== 'table' || tree.root <= 0) continue;
    if (!tree.shape) {
      // A table we cannot recreate (its SQL fails here): its rows are shown, not dropped.
      if (tree.name.startsWith('sqlite_')) continue;
      walk(source, owner, id, tree, false, (n, page, header) => {
        tick();
        if (header.type !== 13) return;
        for (const cell of header.cells) {
          const row = cellRow(source, page, cell, owner, id, raw);
          if (row) sink.lost(n, row);
        }
      });
      continue;
    }
    const wr = tree.shape.withoutRowid;
    walk(source, owner, id, tree, false, (_n, page, header) => {
      tick();
      if (wr) {
        const interior = header.type === 2;
        for (const cell of header.cells) {
          const payload = readIndexCell(page, cell, interior, source.usableSize, source.page, (o) => {
            if (o < owner.length && owner[o] === 0) owner[o] = id + VISITED;
          });
          const types: number[] = [];
          const values = payload ? decodeRecord(payload, source.textEncoding, types, raw) : null;
          if (values) sink.treeRow(tree, { rowid: 0, values, types });
          else tree.unreadableCells++;
        }
        return;
      }
      if (header.type !== 13) return;
      for (const cell of header.cells) {
        const row = cellRow(source, page, cell, owner, id, raw);
        if (row) sink.treeRow(tree, row);
        else tree.unreadableCells++;
      }
    });
  }
  // A damaged schema tree read from the file may have lost the entry of a table whose intact tree
  // then looks stray: its leaves would fit some damaged table. Nothing is attributed then.
  const schemaTree = trees[1] as TreeState;
  const attribute = !(schemaTree.damaged && plan.schemaSource === 'file');
  const damaged = attribute
    ? trees.filter((t) => t.kind === 'table' && t.shape && t.damaged && t.name !== 'sqlite_schema')
    : [];
  const damagedRowid = damaged.filter((t) => !t.shape?.withoutRowid);
  const damagedWr = damaged.filter((t) => t.shape?.withoutRowid);
  // Stray index leaves look like WITHOUT ROWID rows: with an index damaged, none is attributed.
  const indexDamaged = trees.some((t) => t.kind === 'index' && t.damaged);
  let pagesScanned = 0;
  const scratch = Buffer.allocUnsafeSlow(source.pageSize);
  // Strays: pages no tree owns, pages two trees reached, and pages a table tree claimed in pass 1
  // that its walk in pass 2 did not reach again (below a contested page).
  const stray = (o: number) =>
    o === 0 || o === CONTESTED || (o > 1 && o < VISITED && trees[o]?.kind === 'table' && trees[o]?.shape !== null);
  for (let n = 2; n <= source.pageCount; n++) {
    if (!stray(owner[n] as number)) continue;
    tick();
    if (source.isPointerMap(n)) continue;
    const page = copyPage(source, n, scratch);
    const header = page ? parsePageHeader(page, n, source.usableSize) : null;
    if (!page || !header) continue;
    if (header.type === 13) {
      pagesScanned++;
      const rows: RecoveredRow[] = [];
      for (const cell of header.cells) {
        const row = cellRow(source, page, cell, owner, 0, raw);
        if (row) rows.push(row);
      }
      if (rows.length === 0) continue;
      // A page belongs to one table: attribute it only when exactly one damaged table fits every row.
      const candidates = damagedRowid.filter((t) => rows.every((r) => fits(r.types, t.shape as TableShape)));
      const target = candidates.length === 1 ? candidates[0] : undefined;
      for (const r of rows) {
        if (target) sink.scanRow(target, r);
        else sink.lost(n, r);
      }
    } else if (header.type === 10 && damagedWr.length > 0) {
      // A stray leaf of a WITHOUT ROWID table, or of an index (rebuilt anyway: not lost).
      pagesScanned++;
      const rows: RecoveredRow[] = [];
      for (const cell of header.cells) {
        const payload = readIndexCell(page, cell, false, source.usableSize, source.page);
        const types: number[] = [];
        const values = payload ? decodeRecord(payload, source.textEncoding, types, raw) : null;
        if (values) rows.push({ rowid: 0, values, types });
      }
      const candidates = damagedWr.filter(
        (t) =>
          rows.length > 0 && rows.every((r) => r.types.length === t.shape?.columns.length && fits(r.types, t.shape)),
      );
      if (candidates.length === 1 && !indexDamaged) for (const r of rows) sink.scanRow(candidates[0] as TreeState, r);
      else if (candidates.length > 0) for (const r of rows) sink.lost(n, r); // ambiguous: shown, not dropped
    }
  }
  progress?.(total, total);
  return { pagesScanned };
}

export interface SalvageResult {
  schema: SchemaEntry[];
  schemaSource: SalvagePlan['schemaSource'];
  tables: {
    name: string;
    fromTree: RecoveredRow[];
    fromScan: RecoveredRow[];
    unreadablePages: number[];
    unreadableCells: number;
  }[];
  lostAndFound: { page: number; rowid: number | bigint; values: SqlValue[] }[];
  pagesScanned: number;
  freelistPages: number;
}

/**
 * Both passes, with every row collected in memory: for tests and small files. `recoverDatabase`
 * streams the rows into the new database instead.
 */
export function salvage(source: PageSource): SalvageResult {
  const plan = planSalvage(source);
  const tables = new Map<TreeState, SalvageResult['tables'][number]>();
  const entry = (t: TreeState) => {
    let e = tables.get(t);
    if (!e) {
      e = { name: t.name, fromTree: [], fromScan: [], unreadablePages: [], unreadableCells: 0 };
      tables.set(t, e);
    }
    return e;
  };
  const lostAndFound: SalvageResult['lostAndFound'] = [];
  const known = new Map<TreeState, Set<number | bigint>>();
  const { pagesScanned } = salvageRows(source, plan, {
    treeRow: (t, r) => {
      entry(t).fromTree.push(r);
      if (!known.has(t)) known.set(t, new Set());
      known.get(t)?.add(r.rowid);
    },
    scanRow: (t, r) => {
      if (t.shape?.withoutRowid || !known.get(t)?.has(r.rowid)) entry(t).fromScan.push(r);
    },
    lost: (page, r) => lostAndFound.push({ page, rowid: r.rowid, values: r.values }),
  });
  for (const t of plan.trees) {
    if (t.kind !== 'table' || !t.shape) continue;
    const e = entry(t);
    e.unreadablePages = t.unreadableSample;
    e.unreadableCells = t.unreadableCells;
  }
  return {
    schema: plan.schema,
    schemaSource: plan.schemaSource,
    tables: [...tables.values()],
    lostAndFound,
    pagesScanned,
    freelistPages: plan.freelistPages,
  };
}
