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

/**
 * An open ORA database: the better-sqlite3 handle plus the path and timeout its errors name.
 * Core modules take this, never a bare driver handle, so errors always say which file.
 */
export class OraDatabase {
  readonly path: string;
  readonly readonly: boolean;
  readonly busyTimeoutMs: number;
  /** The driver handle, for core modules only. */
  readonly handle: Database.Database;

  constructor(path: string, handle: Database.Database, readonly: boolean, busyTimeoutMs: number) {
    this.path = path;
    this.handle = handle;
    this.readonly = readonly;
    this.busyTimeoutMs = busyTimeoutMs;
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
    return this.run(() => this.handle.transaction(fn).immediate());
  }

  /** Runs driver calls, translating SQLite's errors into the toolkit's (locked, corrupt, I/O). */
  run<T>(fn: () => T): T {
    try {
      return fn();
    } catch (error) {
      throw translateSqliteError(error, this.path, this.busyTimeoutMs);
    }
  }

  /** A PRAGMA's single value (`db.pragma(x, { simple: true })`), with errors translated. */
  pragma<T = unknown>(source: string): T {
    return this.run(() => this.handle.pragma(source, { simple: true }) as T);
  }

  close(): void {
    if (this.handle.open) this.handle.close();
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
  db.run(() => db.handle.prepare('SELECT count(*) FROM sqlite_schema').pluck().get());
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
