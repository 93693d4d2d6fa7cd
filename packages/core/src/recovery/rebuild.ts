import { type OraDatabase, openRaw, type Statement } from '../connection/connection.js';
import { lapTimer } from '../progress.js';
import { quoteIdentifier } from '../sql/identifiers.js';
import { type SqlValue, textOf } from './btree.js';
import type { PageSource } from './file-format.js';
import {
  createTables,
  planSalvage,
  type RecoveredRow,
  type SalvagePlan,
  salvageRows,
  type TableShape,
  type TreeState,
} from './salvage.js';

/** Per-table figures of a rebuild. */
export interface RebuiltTable {
  name: string;
  recovered: number;
  fromTree: number;
  fromScan: number;
  unreadablePages: number;
  unreadableCells: number;
  /** Rows the new table refused (a constraint); they are in lost_and_found. */
  rejected: number;
}

/** A virtual table (FTS5, FTS4, R*Tree) recreated with its shadow tables, and its own check. */
export interface RebuiltVirtualTable {
  name: string;
  module: string;
  /** `ok`: its own integrity check passes on the carried shadow tables; `rebuilt`: it did after a rebuild. */
  status: 'ok' | 'rebuilt' | 'failed' | 'not-checked';
  detail?: string;
}

export interface RebuildReport {
  schemaSource: SalvagePlan['schemaSource'];
  tables: RebuiltTable[];
  virtualTables: RebuiltVirtualTable[];
  /** Views, triggers and indexes whose SQL failed on the recovered tables. */
  notRecreated: string[];
  lostAndFound: number;
  integrity: { ok: boolean; problems: string[] };
  foreignKeyViolations: number;
  walPagesApplied: number;
  pagesScanned: number;
  freelistPages: number;
  /** Whether the freelist was read whole (else rows found outside every tree may be deleted ones). */
  freelistComplete: boolean;
  /** Milliseconds per phase: plan (pass 1), rows (pass 2 and inserts), indexes, check. */
  phaseMs: { plan: number; rows: number; indexes: number; check: number };
}

/** A serial type that binds through `CAST(? AS TEXT)` unchanged: text, or NULL. */
const textLike = (t: number) => t === 0 || (t >= 13 && (t & 1) === 1);
/** Prepared statements kept per table (one per pattern of text and other values in a row). */
const MAX_STATEMENTS = 32;

/** A table's figures before any row. */
const noRows = (name: string): RebuiltTable => ({
  name,
  recovered: 0,
  fromTree: 0,
  fromScan: 0,
  unreadablePages: 0,
  unreadableCells: 0,
  rejected: 0,
});

/** Rows per write transaction of the new database. */
const BATCH_ROWS = 50_000;
/** The new database's page cache while it is built (KiB; the sorter of CREATE INDEX spills to disk beyond it). */
const BUILD_CACHE_KIB = 32_768;

/** Column affinities where SQLite converts a bound double back to the stored class. */
const convertsNumbers = (type: string) =>
  type.includes('INT') ||
  type.includes('REAL') ||
  type.includes('FLOA') ||
  type.includes('DOUB') ||
  type.includes('NUM') ||
  type.includes('DEC') ||
  type.includes('BOOL') ||
  type.includes('DATE');

/** A raw row's values as JSON for lost_and_found: text decoded, blobs as hex, big integers as strings. */
function rowJson(row: RecoveredRow, encoding: PageSource['textEncoding']): string {
  return JSON.stringify(
    row.values.map((v, i) => {
      if (!Buffer.isBuffer(v)) return typeof v === 'bigint' ? v.toString() : v;
      const t = row.types[i] as number;
      return t % 2 === 1 ? textOf(v, encoding) : { blob: v.toString('hex') };
    }),
  );
}

/**
 * Inserts one table's salvaged rows exactly as they were stored: rowids kept, integers bound as
 * integers where the column would not convert a double back, and text bound as its stored bytes
 * (`CAST(? AS TEXT)` of a blob reads them in the database's encoding: no decoding and re-encoding
 * of every string).
 */
class TableWriter {
  readonly figures: RebuiltTable;
  /** Statements by value count and which values are text (a row's types pick one). */
  private readonly statements = new Map<number | string, { stmt: Statement; cols: number[] }>();
  private readonly exists: Statement | null;
  /** The name that reaches the rowid: the INTEGER PRIMARY KEY, or rowid/_rowid_/oid if no column takes it. */
  private readonly rowidName: string | null;
  private readonly exact: boolean[];
  private readonly args: SqlValue[] = [];

  private readonly plainStatements = new Map<string, { stmt: Statement; cols: number[] }>();

  constructor(
    private readonly db: OraDatabase,
    readonly shape: TableShape,
    private readonly encoding: PageSource['textEncoding'],
  ) {
    this.figures = noRows(shape.name);
    const names = new Set(shape.columns.map((c) => c.name.toLowerCase()));
    const ipk = shape.columns.find((c) => c.ipk);
    this.rowidName = shape.withoutRowid
      ? null
      : ipk
        ? ipk.name
        : (['rowid', '_rowid_', 'oid'].find((n) => !names.has(n)) ?? null);
    this.exists = this.rowidName
      ? db.prepare(`SELECT 1 FROM ${quoteIdentifier(shape.name)} WHERE ${quoteIdentifier(this.rowidName)} = ?`)
      : null;
    this.exact = shape.columns.map((c) => !convertsNumbers(c.type));
  }

  /** The statement for a row of these serial types; null when the cache is full (see `plain`). */
  private statement(types: number[], orIgnore: boolean): { stmt: Statement; cols: number[] } | null {
    // The key: the value count, whether OR IGNORE, and which values are text (a bit each; wide
    // tables fall back to a string).
    // NULL binds as NULL through CAST(? AS TEXT) as well, so a column is "text" unless its value
    // is a number or a blob: the key of a table's rows hardly varies.
    let key: number | string = types.length * 2 + (orIgnore ? 1 : 0);
    if (types.length <= 24) {
      let mask = 0;
      for (let i = 0; i < types.length; i++) if (textLike(types[i] as number)) mask |= 1 << i;
      key += mask * 64;
    } else {
      key = `${key}:${types.map((t) => (textLike(t) ? 't' : '.')).join('')}`;
    }
    let entry = this.statements.get(key);
    if (!entry && this.statements.size >= MAX_STATEMENTS) return null;
    if (!entry) {
      entry = this.prepare(types.length, orIgnore, (i) => textLike(types[i] as number));
      this.statements.set(key, entry);
    }
    return entry;
  }

  /**
   * An INSERT of the first `count` stored values (generated columns and the INTEGER PRIMARY KEY
   * left out; the rowid first when it can be named), `CAST(? AS TEXT)` where `text(i)`.
   */
  private prepare(count: number, orIgnore: boolean, text: (i: number) => boolean): { stmt: Statement; cols: number[] } {
    const cols: number[] = [];
    for (let i = 0; i < count; i++) {
      const c = this.shape.columns[i];
      if (c && !c.generated && !c.ipk) cols.push(i);
    }
    const names = cols.map((i) => quoteIdentifier((this.shape.columns[i] as { name: string }).name));
    const marks = cols.map((i) => (text(i) ? 'CAST(? AS TEXT)' : '?'));
    if (this.rowidName) {
      names.unshift(quoteIdentifier(this.rowidName));
      marks.unshift('?');
    }
    const stmt = this.db.prepare(
      `INSERT ${orIgnore ? 'OR IGNORE ' : ''}INTO ${quoteIdentifier(this.shape.name)} (${names.join(', ')}) VALUES (${marks.join(', ')})`,
    );
    return { stmt, cols };
  }

  /** The statement with plain `?` for every value, by value count. */
  private plain(count: number, orIgnore: boolean): { stmt: Statement; cols: number[] } {
    const key = `${count}:${orIgnore}`;
    let entry = this.plainStatements.get(key);
    if (!entry) {
      entry = this.prepare(count, orIgnore, () => false);
      this.plainStatements.set(key, entry);
    }
    return entry;
  }

  /** Inserts a raw row: inserted, a duplicate of a rowid the table has (scans only), or refused. */
  insert(row: RecoveredRow, fromScan: boolean): 'inserted' | 'duplicate' | 'refused' {
    if (fromScan && this.exists?.get(row.rowid)) return 'duplicate';
    if (row.values.length > this.shape.columns.length) return 'refused';
    const orIgnore = fromScan && !this.rowidName;
    const cached = this.statement(row.types, orIgnore);
    // A table whose rows mix text and other classes in too many ways: text decoded and bound as strings.
    const { stmt, cols } = cached ?? this.plain(row.types.length, orIgnore);
    const args = this.args;
    args.length = 0;
    if (this.rowidName) args.push(row.rowid);
    for (const i of cols) {
      let v = row.values[i] as SqlValue;
      const t = row.types[i] as number;
      if (!cached && Buffer.isBuffer(v) && (t & 1) === 1) v = textOf(v, this.encoding);
      // A double binds as REAL: where the column would not convert it back, bind the integer as one.
      args.push(typeof v === 'number' && this.exact[i] && ((t >= 1 && t <= 6) || t === 8 || t === 9) ? BigInt(v) : v);
    }
    try {
      if (stmt.run(args).changes === 0) return 'duplicate';
    } catch {
      return 'refused';
    }
    return 'inserted';
  }
}

/**
 * Builds the recovered database at `path` (an empty file) from `source`, in bounded memory: the
 * schema first (page size, encoding and auto_vacuum as the original's; virtual tables before the
 * tables, so they create their shadow tables), then every salvaged row streamed in batches of
 * `BATCH_ROWS` per transaction, then `sqlite_sequence`, the indexes, each virtual table's own check
 * (rebuilt from its content when the check fails), views and triggers last, so no trigger fires on
 * the recovered rows. Checked with `integrity_check` and `foreign_key_check`.
 */
export function buildRecovered(
  source: PageSource,
  path: string,
  onProgress?: (done: number, total: number, unit: string) => void,
  onPhase?: (name: string) => void,
): RebuildReport {
  const lap = lapTimer();
  onPhase?.('plan');
  const plan = planSalvage(source, onProgress ? (done, total) => onProgress(done, total, 'pages') : undefined);
  onPhase?.('salvage');
  const phaseMs = { plan: lap(), rows: 0, indexes: 0, check: 0 };
  const db = openRaw(path, { create: true });
  try {
    // Shadow tables of virtual tables are written directly (SQLite's defensive mode forbids it).
    db.allowShadowTableWrites(true);
    db.pragma(`page_size = ${source.pageSize}`);
    if (source.autoVacuum !== 0) db.pragma(`auto_vacuum = ${source.autoVacuum === 2 ? 'INCREMENTAL' : 'FULL'}`);
    if (source.textEncoding !== 'utf8')
      db.pragma(`encoding = '${source.textEncoding === 'utf16le' ? 'UTF-16le' : 'UTF-16be'}'`);
    // A temp file until it is complete: no journal on disk, no fsync until the end.
    db.pragma('journal_mode = MEMORY');
    db.pragma('synchronous = OFF');
    db.pragma('foreign_keys = OFF');
    db.pragma('temp_store = FILE');
    db.pragma(`cache_size = -${BUILD_CACHE_KIB}`);
    const notRecreated: string[] = [];
    db.exec('BEGIN');
    notRecreated.push(...createTables(db, plan.schema).failed.map((n) => `table ${n}`));
    const taken = new Set(plan.schema.map((e) => e.name.toLowerCase()));
    let lostName = 'lost_and_found';
    for (let i = 1; taken.has(lostName); i++) lostName = `lost_and_found_${i}`;
    db.exec(
      `CREATE TABLE ${quoteIdentifier(lostName)} (id INTEGER PRIMARY KEY, source_page INTEGER, source_rowid INTEGER, source_table TEXT, column_count INTEGER, values_json TEXT)`,
    );
    const lostStmt = db.prepare(
      `INSERT INTO ${quoteIdentifier(lostName)} (source_page, source_rowid, source_table, column_count, values_json) VALUES (?, ?, ?, ?, ?)`,
    );
    // What the virtual tables put in their shadow tables on creation gives way to the salvaged rows.
    const created = new Set(
      db.prepare("SELECT name FROM pragma_table_list WHERE schema = 'main'").pluck().all() as string[],
    );
    for (const s of plan.shapes) if (s.shadow && created.has(s.name)) db.exec(`DELETE FROM ${quoteIdentifier(s.name)}`);

    const writers = new Map<TreeState, TableWriter>();
    const sequence: RecoveredRow[] = [];
    let lost = 0;
    let pending = 0;
    const step = () => {
      if (++pending >= BATCH_ROWS) {
        db.exec('COMMIT; BEGIN');
        pending = 0;
      }
    };
    const lose = (page: number | null, row: RecoveredRow, table: string | null) => {
      lostStmt.run(page, row.rowid, table, row.values.length, rowJson(row, source.textEncoding));
      lost++;
      step();
    };
    const writer = (tree: TreeState): TableWriter | null => {
      let w = writers.get(tree);
      if (!w && tree.shape && created.has(tree.shape.name)) {
        w = new TableWriter(db, tree.shape, source.textEncoding);
        writers.set(tree, w);
      }
      return w ?? null;
    };
    const put = (tree: TreeState, row: RecoveredRow, fromScan: boolean) => {
      if (tree.name === 'sqlite_sequence') {
        // Applied after the rows (inserting them moves the counters); the values are views: copied.
        sequence.push({ ...row, values: row.values.map((v) => (Buffer.isBuffer(v) ? Buffer.from(v) : v)) });
        return;
      }
      const w = writer(tree);
      if (!w) return lose(null, row, tree.name);
      const r = w.insert(row, fromScan);
      if (r === 'duplicate') return;
      if (fromScan) w.figures.fromScan++;
      else w.figures.fromTree++;
      if (r === 'refused') {
        w.figures.rejected++;
        lose(null, row, tree.name);
        return;
      }
      w.figures.recovered++;
      step();
    };
    const { pagesScanned } = salvageRows(
      source,
      plan,
      {
        raw: true,
        treeRow: (tree, row) => put(tree, row, false),
        scanRow: (tree, row) => put(tree, row, true),
        lost: (page, row) => lose(page, row, null),
      },
      onProgress ? (done, total) => onProgress(done, total, 'pages') : undefined,
    );
    if (sequence.length > 0) {
      const update = db.prepare('UPDATE sqlite_sequence SET seq = max(seq, ?) WHERE name = ?');
      const insert = db.prepare('INSERT INTO sqlite_sequence (name, seq) VALUES (?, ?)');
      for (const r of sequence) {
        const [raw, seq] = r.values;
        const name = Buffer.isBuffer(raw) ? textOf(raw, source.textEncoding) : raw;
        if (typeof name !== 'string' || (typeof seq !== 'number' && typeof seq !== 'bigint')) continue;
        try {
          if (update.run(seq, name).changes === 0) insert.run(name, seq);
        } catch {
          // no AUTOINCREMENT table of that name was recovered
        }
      }
    }
    db.exec('COMMIT');
    if (lost === 0) db.exec(`DROP TABLE ${quoteIdentifier(lostName)}`);
    phaseMs.rows = lap();
    onPhase?.('indexes');

    // Indexes, built once from the recovered rows, so damaged index pages are simply rebuilt; one
    // at a time, each counted (a progress line between them).
    const indexes = plan.schema.filter((e) => e.type === 'index' && e.sql);
    for (const [i, e] of indexes.entries()) {
      onProgress?.(i, indexes.length, 'indexes');
      try {
        db.exec(e.sql as string);
      } catch {
        // A UNIQUE index the salvaged rows violate: the rows stay, the index is reported.
        notRecreated.push(`index ${e.name}`);
      }
    }
    if (indexes.length > 0) onProgress?.(indexes.length, indexes.length, 'indexes');
    const virtualTables = checkVirtualTables(db, plan);
    // Views and triggers last: a trigger created before the rows would have fired on each of them.
    for (const kind of ['view', 'trigger']) {
      for (const e of plan.schema) {
        if (e.type !== kind || !e.sql) continue;
        try {
          db.exec(e.sql);
        } catch {
          notRecreated.push(`${kind} ${e.name}`);
        }
      }
    }
    db.pragma(`user_version = ${Number.isInteger(source.userVersion) ? source.userVersion : 0}`);
    if (source.applicationId !== 0) db.pragma(`application_id = ${source.applicationId}`);
    phaseMs.indexes = lap();
    onPhase?.('check');
    const rows = db.prepare('PRAGMA integrity_check(100)').pluck().all() as string[];
    const integrity = { ok: rows.length === 1 && rows[0] === 'ok', problems: rows[0] === 'ok' ? [] : rows };
    const foreignKeyViolations = db.pragmaRows('foreign_key_check').length;
    db.pragma('journal_mode = DELETE'); // one self-contained file to rename
    phaseMs.check = lap();
    const tables: RebuiltTable[] = [];
    for (const tree of plan.trees) {
      if (tree.kind !== 'table' || !tree.shape || tree.name.startsWith('sqlite_')) continue;
      const figures = writers.get(tree)?.figures ?? noRows(tree.name);
      figures.unreadablePages = tree.unreadablePages;
      figures.unreadableCells = tree.unreadableCells;
      tables.push(figures);
    }
    return {
      schemaSource: plan.schemaSource,
      tables,
      virtualTables,
      notRecreated,
      lostAndFound: lost,
      integrity,
      foreignKeyViolations,
      walPagesApplied: source.walPages,
      pagesScanned,
      freelistPages: plan.freelistPages,
      freelistComplete: plan.freelistComplete,
      phaseMs,
    };
  } finally {
    db.close();
  }
}

/**
 * Each virtual table's own check over the shadow tables carried from the damaged file (FTS5 and
 * FTS4 `integrity-check`, R*Tree `rtreecheck`). A full-text index that fails it is rebuilt from
 * its content (`rebuild`), which is what the content is for; an R*Tree cannot be rebuilt that way
 * and is reported.
 */
function checkVirtualTables(db: OraDatabase, plan: SalvagePlan): RebuiltVirtualTable[] {
  const out: RebuiltVirtualTable[] = [];
  for (const e of plan.schema) {
    const m = e.type === 'table' && e.sql ? /^\s*create\s+virtual\s+table\s+.*?\s+using\s+(\w+)/is.exec(e.sql) : null;
    if (!m) continue;
    const module = (m[1] as string).toLowerCase();
    const q = quoteIdentifier(e.name);
    const attempt = (sql: string): string | null => {
      try {
        db.exec(sql);
        return null;
      } catch (error) {
        return (error as Error).message;
      }
    };
    if (module === 'fts5' || module === 'fts4' || module === 'fts3') {
      const check = `INSERT INTO ${q}(${q}) VALUES('integrity-check')`;
      const first = attempt(check);
      if (first === null) {
        out.push({ name: e.name, module, status: 'ok' });
        continue;
      }
      const rebuilt = attempt(`INSERT INTO ${q}(${q}) VALUES('rebuild')`) ?? attempt(check);
      out.push(
        rebuilt === null
          ? { name: e.name, module, status: 'rebuilt', detail: first }
          : { name: e.name, module, status: 'failed', detail: rebuilt },
      );
    } else if (module === 'rtree' || module === 'rtree_i32') {
      try {
        const r = db.prepare('SELECT rtreecheck(?)').pluck().get(e.name) as string;
        out.push(
          r === 'ok' ? { name: e.name, module, status: 'ok' } : { name: e.name, module, status: 'failed', detail: r },
        );
      } catch (error) {
        out.push({ name: e.name, module, status: 'failed', detail: (error as Error).message });
      }
    } else {
      out.push({ name: e.name, module, status: 'not-checked' });
    }
  }
  return out;
}
