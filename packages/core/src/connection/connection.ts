import Database from 'better-sqlite3';
import { PragmaError } from '../errors/errors.js';
import { checkDatabaseFile, fileSizeOrZero } from './file-checks.js';
import { translateSqliteError } from './sqlite-errors.js';

/** The guide's production PRAGMAs ("Connection Management"), applied to every read-write connection. */
export const PRODUCTION_PRAGMAS = {
  journal_mode: 'wal',
  synchronous: 1, // NORMAL: safe with WAL, fsyncs at checkpoint
  foreign_keys: 1,
  temp_store: 2, // MEMORY
  cache_size: -20000, // 20 000 KiB
} as const;

export const DEFAULT_BUSY_TIMEOUT_MS = 8000;

export interface OpenOptions {
  /** Open read-only (health checks, stats): no PRAGMA that writes is issued. */
  readonly?: boolean;
  /** How long a statement waits for another process's lock before DATABASE_LOCKED (guide: 8000). */
  busyTimeoutMs?: number;
  /**
   * Create the file if it does not exist. Only `init`, `seed` and restores to a new path may
   * (SPEC §4 invariant 1); everything else gets DATABASE_NOT_FOUND and no file.
   */
  create?: boolean;
  /**
   * `wal` switches a read-write connection to WAL (persistent: it changes the file) and fails if
   * the filesystem refuses it. Without it the journal mode is left as the file has it (SPEC §4.7:
   * no job changes a database's journal mode unless the operator asks, e.g. `init`, or
   * `daily-maintenance --journal-mode wal`). A new or empty file opened with `create` always gets WAL.
   */
  journalMode?: 'wal';
}

/** What a write reports. */
export interface RunResult {
  changes: number;
  lastInsertRowid: number | bigint;
}

/**
 * A prepared statement: the few methods core uses. (The driver's own statement satisfies it, so
 * a hot loop pays nothing for the interface.) `pluck()` returns the first column only, `raw()`
 * rows as arrays.
 */
export interface Statement<Row = unknown> {
  /** The SQL it was prepared from. */
  readonly source: string;
  /** Whether it returns rows (a SELECT, or a write with RETURNING). */
  readonly reader: boolean;
  /** Whether it leaves the database unchanged. */
  readonly readonly: boolean;
  run(...params: unknown[]): RunResult;
  get(...params: unknown[]): Row | undefined;
  all(...params: unknown[]): Row[];
  iterate(...params: unknown[]): IterableIterator<Row>;
  // biome-ignore lint/suspicious/noExplicitAny: the caller names the plucked column's type
  pluck(toggle?: boolean): Statement<any>;
  raw(toggle?: boolean): Statement<unknown[]>;
}

/** See `OraDatabase.transactionFunction`. */
export interface TransactionFunction<A extends unknown[], R> {
  (...args: A): R;
  immediate(...args: A): R;
}

/**
 * An open SQLite database: its path, its busy timeout, and the few methods core needs, each
 * translating SQLite's errors into the toolkit's (locked, corrupt, I/O) with the file's name.
 * The driver stays private to this module, so every query goes through here (in the manner of
 * kysely's `DatabaseConnection`: a narrow interface, the driver behind it).
 */
export class OraDatabase {
  readonly path: string;
  readonly readonly: boolean;
  readonly busyTimeoutMs: number;
  readonly #driver: Database.Database;
  /** Set by `instrument` (the slow-query log): wraps every statement this connection prepares. */
  #wrap: ((sql: string, statement: Statement) => Statement) | undefined;

  constructor(path: string, driver: Database.Database, readonly: boolean, busyTimeoutMs: number) {
    this.path = path;
    this.#driver = driver;
    this.readonly = readonly;
    this.busyTimeoutMs = busyTimeoutMs;
  }

  /** A prepared statement (errors in the SQL itself are translated here; its runs are not). */
  prepare<Row = unknown>(sql: string): Statement<Row> {
    return this.run(() => {
      const statement = this.#driver.prepare(sql) as unknown as Statement<Row>;
      return (this.#wrap ? this.#wrap(sql, statement) : statement) as Statement<Row>;
    });
  }

  /**
   * Wraps every statement prepared from now on (the slow-query log times each run this way).
   * One wrapper at a time; `undefined` removes it.
   */
  instrument(wrap: ((sql: string, statement: Statement) => Statement) | undefined): void {
    this.#wrap = wrap;
  }

  /** Every row of a query, as objects. */
  all<Row = Record<string, unknown>>(sql: string, ...params: unknown[]): Row[] {
    return this.run(() => this.prepare<Row>(sql).all(...params));
  }

  /** The first row of a query, or undefined. */
  get<Row = Record<string, unknown>>(sql: string, ...params: unknown[]): Row | undefined {
    return this.run(() => this.prepare<Row>(sql).get(...params));
  }

  /** The first column of the first row, or undefined when there is no row. */
  value<T = unknown>(sql: string, ...params: unknown[]): T | undefined {
    return this.run(
      () =>
        this.prepare(sql)
          .pluck()
          .get(...params) as T | undefined,
    );
  }

  /** The first column of every row. */
  values<T = unknown>(sql: string, ...params: unknown[]): T[] {
    return this.run(
      () =>
        this.prepare(sql)
          .pluck()
          .all(...params) as T[],
    );
  }

  /** Runs one or more statements without parameters (DDL, BEGIN, ATTACH …). */
  exec(sql: string): void {
    this.run(() => this.#driver.exec(sql));
  }

  /** A PRAGMA's single value (`PRAGMA x` → its first column), with errors translated. */
  pragma<T = unknown>(source: string): T {
    return this.run(() => this.#driver.pragma(source, { simple: true }) as T);
  }

  /** Every row a PRAGMA returns (`table_info`, `integrity_check`, `wal_checkpoint` …). */
  pragmaRows<Row = Record<string, unknown>>(source: string): Row[] {
    return this.run(() => this.#driver.pragma(source) as Row[]);
  }

  /**
   * Runs `fn` inside `BEGIN IMMEDIATE` … `COMMIT` (the guide's write pattern: take the write
   * lock up front so the transaction cannot fail half-way on SQLITE_BUSY), rolling back if `fn`
   * throws. `fn` must be synchronous, which keeps the write lock short.
   *
   * ### Examples
   * ```ts
   * db.transaction(() => {
   *   insert.run(row);
   *   update.run(sku);
   * });
   * ```
   */
  transaction<T>(fn: () => T): T {
    return this.run(() => this.#driver.transaction(fn).immediate());
  }

  /**
   * A transaction function built once and called many times: `f(...args)` runs `fn` inside a
   * deferred BEGIN … COMMIT (the write lock taken at the first write), `f.immediate(...args)`
   * inside BEGIN IMMEDIATE. For hot paths, where building one per call would cost.
   */
  transactionFunction<A extends unknown[], R>(fn: (...args: A) => R): TransactionFunction<A, R> {
    return this.#driver.transaction(fn) as unknown as TransactionFunction<A, R>;
  }

  /** Whether a transaction is open on this connection. */
  get inTransaction(): boolean {
    return this.#driver.inTransaction;
  }

  /** Runs statement calls, translating SQLite's errors into the toolkit's (locked, corrupt, I/O). */
  run<T>(fn: () => T): T {
    try {
      return fn();
    } catch (error) {
      throw translateSqliteError(error, this.path, this.busyTimeoutMs);
    }
  }

  /**
   * Copies the whole database to `dest` with SQLite's online backup API in one step (a step
   * count that restarts on every concurrent write would never finish under a busy writer).
   * `progress` (called before each step, returning how many pages the next step copies) may
   * run work at the first step, when the destination's write lock is held (the live restore).
   * Errors are SQLite's own: the caller tells the destination's from the source's.
   */
  backupTo(
    dest: string,
    progress: (info: { totalPages: number; remainingPages: number }) => number = () => 2_147_483_647,
  ): Promise<{ totalPages: number; remainingPages: number }> {
    return this.#driver.backup(dest, { progress });
  }

  /** Lets writes reach SQLite's shadow tables (virtual tables' storage): recover's rebuild only. */
  allowShadowTableWrites(on: boolean): void {
    this.#driver.unsafeMode(on);
  }

  get isOpen(): boolean {
    return this.#driver.open;
  }

  close(): void {
    if (this.#driver.open) this.#driver.close();
  }
}

/** Raw driver options for `openRaw`: no PRAGMA is set. */
export interface RawOpenOptions {
  readonly?: boolean;
  /** Create the file when missing (scratch and output files only). */
  create?: boolean;
  busyTimeoutMs?: number;
}

/**
 * Opens a file as SQLite leaves it, without the production PRAGMAs or the file checks: for
 * files this toolkit itself writes or reads as copies (snapshots, restored temps, recover's
 * output, in-memory schemas, the job lock). The live database goes through `openDatabase`.
 */
export function openRaw(path: string, options: RawOpenOptions = {}): OraDatabase {
  const readonly = options.readonly ?? false;
  const busyTimeoutMs = options.busyTimeoutMs ?? 0;
  try {
    const driver = new Database(path, {
      readonly,
      fileMustExist: path !== ':memory:' && !options.create,
      timeout: busyTimeoutMs,
    });
    return new OraDatabase(path, driver, readonly, busyTimeoutMs);
  } catch (error) {
    throw translateSqliteError(error, path, busyTimeoutMs);
  }
}

/** Runs `fn` with `db` and closes `db` whatever happens (the open/try/finally-close pattern, once). */
export function withDatabase<T>(db: OraDatabase, fn: (db: OraDatabase) => T): T {
  try {
    return fn(db);
  } finally {
    db.close();
  }
}

/**
 * Opens an SQLite database with the guide's PRAGMAs and reads them back, so a setting that did
 * not take (WAL refused by the filesystem, say) fails here instead of silently later. The journal
 * mode is the file's own unless `journalMode: 'wal'` (or `create`) asks to switch it.
 *
 * Fails with DATABASE_NOT_FOUND (creating nothing) for a missing path, and with its own error for
 * a directory, an empty file, a non-SQLite file, a truncated file, and a database locked past the
 * busy timeout.
 *
 * ### Examples
 * ```ts
 * const db = openDatabase('ora.db', { busyTimeoutMs: 8000 });
 * try { ... } finally { db.close(); }
 * ```
 */
export function openDatabase(path: string, options: OpenOptions = {}): OraDatabase {
  const readonly = options.readonly ?? false;
  const busyTimeoutMs = options.busyTimeoutMs ?? DEFAULT_BUSY_TIMEOUT_MS;
  if (!options.create) checkDatabaseFile(path);
  // A brand-new (or empty) file gets the guide's WAL from the start; an existing one keeps its mode.
  const isNew = options.create === true && fileSizeOrZero(path) === 0;
  let handle: Database.Database;
  try {
    handle = new Database(path, { readonly, fileMustExist: !options.create, timeout: busyTimeoutMs });
  } catch (error) {
    throw translateSqliteError(error, path, busyTimeoutMs);
  }
  const db = new OraDatabase(path, handle, readonly, busyTimeoutMs);
  try {
    applyPragmas(db, options.journalMode === 'wal' || isNew);
  } catch (error) {
    db.close();
    throw error;
  }
  return db;
}

function applyPragmas(db: OraDatabase, switchToWal: boolean): void {
  // Touch the schema first: SQLite reads page 1 lazily, so this is where a non-database or a
  // damaged header shows up, before any PRAGMA tries to write.
  db.value('SELECT count(*) FROM sqlite_schema');
  db.pragma(`busy_timeout = ${db.busyTimeoutMs}`);
  let synchronous: number = PRODUCTION_PRAGMAS.synchronous;
  if (!db.readonly) {
    if (switchToWal) switchJournalToWal(db);
    // NORMAL is safe with WAL only; a rollback journal keeps SQLite's default FULL.
    if (String(db.pragma('journal_mode')).toLowerCase() !== 'wal') synchronous = 2;
    db.pragma(`synchronous = ${synchronous}`);
  }
  db.pragma('foreign_keys = ON');
  db.pragma('temp_store = MEMORY');
  db.pragma(`cache_size = ${PRODUCTION_PRAGMAS.cache_size}`);
  const expected: [string, number][] = [
    ['foreign_keys', PRODUCTION_PRAGMAS.foreign_keys],
    ['temp_store', PRODUCTION_PRAGMAS.temp_store],
    ['cache_size', PRODUCTION_PRAGMAS.cache_size],
    ['busy_timeout', db.busyTimeoutMs],
  ];
  if (!db.readonly) expected.push(['synchronous', synchronous]);
  for (const [name, want] of expected) {
    const got = Number(db.pragma(name));
    if (got !== want) {
      throw new PragmaError(`PRAGMA ${name} did not take on ${db.path}: wanted ${want}, SQLite reports ${got}`);
    }
  }
}

/**
 * Switches a read-write connection's database to WAL (persistent: every later connection sees
 * it) with the guide's `synchronous = NORMAL`, and returns the mode it had before. Fails when the
 * filesystem refuses WAL. Only where the operator asked for it (SPEC §4.7).
 */
export function switchJournalToWal(db: OraDatabase): string {
  const before = String(db.pragma('journal_mode')).toLowerCase();
  const mode = String(db.pragma(`journal_mode = WAL`)).toLowerCase();
  if (mode !== PRODUCTION_PRAGMAS.journal_mode) {
    throw new PragmaError(
      `could not switch ${db.path} to WAL journal mode (it stays '${mode}'); WAL needs a local filesystem with shared memory — move the database off network storage`,
    );
  }
  db.pragma('synchronous = NORMAL');
  return before;
}

/** The PRAGMAs a connection actually runs with, read back (for health-check and metrics). */
export function readConnectionSettings(db: OraDatabase): {
  journalMode: string;
  synchronous: number;
  foreignKeys: boolean;
  busyTimeoutMs: number;
  tempStore: number;
  cacheSize: number;
} {
  return {
    journalMode: String(db.pragma('journal_mode')).toLowerCase(),
    synchronous: Number(db.pragma('synchronous')),
    foreignKeys: Number(db.pragma('foreign_keys')) === 1,
    busyTimeoutMs: Number(db.pragma('busy_timeout')),
    tempStore: Number(db.pragma('temp_store')),
    cacheSize: Number(db.pragma('cache_size')),
  };
}
