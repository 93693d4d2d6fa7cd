import Database from 'better-sqlite3';
import { MIGRATIONS } from '../schema/migrations.js';
import { decodeRecord, interiorChild, parsePageHeader, readLeafCell, type SqlValue } from './btree.js';
import type { PageSource } from './file-format.js';

export interface SchemaEntry {
  type: string;
  name: string;
  tableName: string;
  rootPage: number;
  sql: string | null;
}

export interface TableShape {
  name: string;
  columns: { name: string; type: string; notNull: boolean; ipk: boolean }[];
}

export interface RecoveredRow {
  rowid: bigint;
  values: SqlValue[];
}

export interface TableSalvage {
  name: string;
  fromTree: RecoveredRow[];
  fromScan: RecoveredRow[];
  /** Pages of this table's tree that could not be read (damaged header or cells). */
  unreadablePages: number[];
  /** Cells on otherwise readable pages that did not decode. */
  unreadableCells: number;
}

export interface SalvageResult {
  schema: SchemaEntry[];
  /** Where the schema came from: the damaged file's own sqlite_schema, or this code's migrations. */
  schemaSource: 'file' | 'migrations';
  tables: TableSalvage[];
  lostAndFound: { page: number; rowid: bigint; values: SqlValue[] }[];
  pagesScanned: number;
  freelistPages: number;
}

/**
 * Walks a b-tree from its root (table trees: interior 5 / leaf 13; index trees: 2 / 10), marking
 * every page it reaches and handing each leaf to `onLeaf`. Pages that are not of the tree's kinds
 * are reported to `onBad` and their subtrees skipped; a page reached twice is walked once.
 */
function walkTree(
  source: PageSource,
  root: number,
  reached: Set<number>,
  kinds: { interior: 2 | 5; leaf: 10 | 13 },
  onLeaf: (page: Buffer, cells: number[]) => void,
  onBad: (pageNumber: number) => void,
): void {
  const stack = [root];
  while (stack.length > 0) {
    const n = stack.pop() as number;
    if (reached.has(n)) continue;
    const page = source.page(n);
    const header = page ? parsePageHeader(page, n, source.usableSize) : null;
    if (!page || !header || (header.type !== kinds.interior && header.type !== kinds.leaf)) {
      onBad(n);
      continue;
    }
    reached.add(n);
    if (header.type === kinds.leaf) {
      onLeaf(page, header.cells);
      continue;
    }
    for (const cell of header.cells) {
      const child = interiorChild(page, cell);
      if (child) stack.push(child);
    }
    if (header.rightChild) stack.push(header.rightChild);
  }
}

/** Walks a table b-tree from its root, collecting the rows of its leaves. */
function walkTable(
  source: PageSource,
  root: number,
  reached: Set<number>,
  out: TableSalvage | null,
  rows: RecoveredRow[],
): void {
  walkTree(
    source,
    root,
    reached,
    { interior: 5, leaf: 13 },
    (page, cells) => {
      for (const cell of cells) {
        const leaf = readLeafCell(page, cell, source.usableSize, source.page);
        const values = leaf ? decodeRecord(leaf.payload, source.textEncoding) : null;
        if (leaf && values) rows.push({ rowid: leaf.rowid, values });
        else if (out) out.unreadableCells++;
      }
    },
    (n) => out?.unreadablePages.push(n),
  );
}

/** Marks the pages of an index b-tree (never decoded: indexes are rebuilt from the rows). */
function markIndex(source: PageSource, root: number, reached: Set<number>): void {
  walkTree(
    source,
    root,
    reached,
    { interior: 2, leaf: 10 },
    () => {},
    () => {},
  );
}

/** The freelist's trunk and leaf pages (file format §1.5): old deleted content that must not come back. */
function freelistPages(source: PageSource): Set<number> {
  const free = new Set<number>();
  const header = source.page(1);
  if (!header) return free;
  let trunk = header.readUInt32BE(32);
  const total = header.readUInt32BE(36);
  while (trunk !== 0 && !free.has(trunk) && free.size <= total + 1 && trunk <= source.pageCount) {
    free.add(trunk);
    const page = source.page(trunk);
    if (!page) break;
    const leaves = page.readUInt32BE(4);
    if (leaves > (source.usableSize - 8) / 4) break;
    for (let i = 0; i < leaves; i++) {
      const leaf = page.readUInt32BE(8 + i * 4);
      if (leaf > 0 && leaf <= source.pageCount) free.add(leaf);
    }
    trunk = page.readUInt32BE(0);
  }
  return free;
}

/** The schema as this code creates it (used when the damaged file's own schema is unreadable). */
export function migrationSchema(): SchemaEntry[] {
  const db = new Database(':memory:');
  try {
    for (const m of MIGRATIONS) db.exec(m.sql);
    return db
      .prepare(
        "SELECT type, name, tbl_name AS tableName, 0 AS rootPage, sql FROM sqlite_schema WHERE name NOT LIKE 'sqlite_%'",
      )
      .all() as SchemaEntry[];
  } finally {
    db.close();
  }
}

/** Column shapes of the tables in `schema`, read by creating them in memory. */
export function tableShapes(schema: SchemaEntry[]): TableShape[] {
  const db = new Database(':memory:');
  try {
    const shapes: TableShape[] = [];
    for (const e of schema) {
      if (e.type !== 'table' || !e.sql || e.name.startsWith('sqlite_')) continue;
      try {
        db.exec(e.sql);
      } catch {
        continue;
      }
      const cols = db
        .prepare('SELECT name, type, "notnull", pk FROM pragma_table_info(?) ORDER BY cid')
        .all(e.name) as {
        name: string;
        type: string;
        notnull: number;
        pk: number;
      }[];
      const pkCols = cols.filter((c) => c.pk > 0);
      shapes.push({
        name: e.name,
        columns: cols.map((c) => ({
          name: c.name,
          type: c.type.toUpperCase(),
          notNull: c.notnull === 1,
          // An INTEGER PRIMARY KEY is the rowid: stored as NULL in the record.
          ipk: pkCols.length === 1 && c.pk === 1 && c.type.toUpperCase() === 'INTEGER',
        })),
      });
    }
    return shapes;
  } finally {
    db.close();
  }
}

/** Whether a decoded row could belong to `shape`: column count and each value's storage class. */
export function fits(values: SqlValue[], shape: TableShape): boolean {
  if (values.length > shape.columns.length || values.length === 0) return false;
  return shape.columns.every((c, i) => {
    if (i >= values.length) return !c.notNull; // added later by ALTER TABLE: absent means default
    const v = values[i];
    if (c.ipk) return v === null;
    if (v === null) return !c.notNull;
    if (c.type.includes('INT')) return typeof v === 'number' ? Number.isInteger(v) : typeof v === 'bigint';
    if (c.type.includes('CHAR') || c.type.includes('CLOB') || c.type.includes('TEXT')) return typeof v === 'string';
    if (c.type.includes('BLOB') || c.type === '') return true;
    if (c.type.includes('REAL') || c.type.includes('FLOA') || c.type.includes('DOUB')) return typeof v === 'number';
    return true; // NUMERIC affinity stores any class
  });
}

/**
 * Salvages every readable row of a damaged database: the schema from page 1 (or, if that is
 * unreadable, from this code's migrations), each table's b-tree walked from its root, then every
 * page no walk reached and no freelist holds, scanned for table-leaf pages whose rows are
 * attributed to the one table they fit (column count and storage classes). Rows that fit no table,
 * or several, go to lost-and-found; a row whose rowid the table already has is not duplicated.
 */
export function salvage(source: PageSource): SalvageResult {
  const reached = new Set<number>();
  const schemaRows: RecoveredRow[] = [];
  walkTable(source, 1, reached, null, schemaRows);
  let schema: SchemaEntry[] = schemaRows
    .filter((r) => r.values.length === 5 && typeof r.values[0] === 'string' && typeof r.values[1] === 'string')
    .map((r) => ({
      type: r.values[0] as string,
      name: r.values[1] as string,
      tableName: String(r.values[2]),
      rootPage: typeof r.values[3] === 'number' ? r.values[3] : 0,
      sql: typeof r.values[4] === 'string' ? r.values[4] : null,
    }));
  let schemaSource: SalvageResult['schemaSource'] = 'file';
  const userTables = schema.filter((e) => e.type === 'table' && !e.name.startsWith('sqlite_'));
  if (userTables.length === 0) {
    schema = migrationSchema();
    schemaSource = 'migrations';
  }
  for (const e of schema) if (e.type === 'index' && e.rootPage > 0) markIndex(source, e.rootPage, reached);
  const shapes = tableShapes(schema);
  const tables: TableSalvage[] = shapes.map((s) => ({
    name: s.name,
    fromTree: [],
    fromScan: [],
    unreadablePages: [],
    unreadableCells: 0,
  }));
  const byName = new Map(tables.map((t) => [t.name, t]));
  for (const e of schema) {
    const t = byName.get(e.name);
    if (t && e.type === 'table' && e.rootPage > 0) walkTable(source, e.rootPage, reached, t, t.fromTree);
  }
  const free = freelistPages(source);
  const lostAndFound: SalvageResult['lostAndFound'] = [];
  let scanned = 0;
  for (let n = 2; n <= source.pageCount; n++) {
    if (reached.has(n) || free.has(n)) continue;
    const page = source.page(n);
    const header = page ? parsePageHeader(page, n, source.usableSize) : null;
    if (!page || !header || header.type !== 13) continue;
    scanned++;
    const rows: RecoveredRow[] = [];
    for (const cell of header.cells) {
      const leaf = readLeafCell(page, cell, source.usableSize, source.page);
      const values = leaf ? decodeRecord(leaf.payload, source.textEncoding) : null;
      if (leaf && values) rows.push({ rowid: leaf.rowid, values });
    }
    if (rows.length === 0) continue;
    // A page belongs to one table: attribute it only when exactly one table fits every row.
    const candidates = shapes.filter((s) => rows.every((r) => fits(r.values, s)));
    const target = candidates.length === 1 ? byName.get((candidates[0] as TableShape).name) : undefined;
    if (!target) {
      for (const r of rows) lostAndFound.push({ page: n, rowid: r.rowid, values: r.values });
      continue;
    }
    const known = new Set([...target.fromTree, ...target.fromScan].map((r) => r.rowid));
    for (const r of rows) if (!known.has(r.rowid)) target.fromScan.push(r);
  }
  return { schema, schemaSource, tables, lostAndFound, pagesScanned: scanned, freelistPages: free.size };
}
