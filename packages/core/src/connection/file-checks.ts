import { closeSync, openSync, readSync, statSync } from 'node:fs';
import {
  DatabaseCorruptError,
  DatabaseEmptyError,
  DatabaseIsDirectoryError,
  DatabaseNotFoundError,
  IoError,
  NotADatabaseError,
} from '../errors/errors.js';

const SQLITE_MAGIC = Buffer.from('SQLite format 3\0', 'latin1');
const HEADER_BYTES = 100;

/** What the 100-byte database header says (SQLite file format §1.3). */
export interface DatabaseHeader {
  pageSize: number;
  /** Page count from the header, when the header marks it valid; otherwise null. */
  headerPageCount: number | null;
  fileBytes: number;
}

export interface CheckFileOptions {
  /** `init` may turn an empty file into a database; everything else refuses it. */
  allowEmpty?: boolean;
}

function fsError(error: unknown, path: string): never {
  const code = (error as NodeJS.ErrnoException).code;
  if (code === 'ENOENT' || code === 'ENOTDIR') {
    throw new DatabaseNotFoundError(
      `database not found: ${path} (nothing was created); check --db / DATABASE_PATH, or create one with 'ora-db init --db ${path}'`,
      { cause: error },
    );
  }
  if (code === 'EACCES' || code === 'EPERM') {
    throw new IoError(`permission denied reading ${path}; check the file's owner and mode`, 'PERMISSION_DENIED', {
      cause: error,
    });
  }
  throw new IoError(`cannot read ${path} (${code ?? String(error)}); check the disk and the path`, 'IO_ERROR', {
    cause: error,
  });
}

/**
 * Checks, before SQLite touches it, that `path` is an existing SQLite database file whose size
 * matches its header, so that each way of being wrong gets its own clear error and SQLite never
 * creates a file (or `-wal`/`-shm`) where none existed.
 *
 * A file shorter than its header's page count is reported as truncated only when no WAL file
 * beside it could explain the difference.
 */
export function checkDatabaseFile(path: string, options: CheckFileOptions = {}): DatabaseHeader {
  let stats: ReturnType<typeof statSync>;
  try {
    stats = statSync(path);
  } catch (error) {
    fsError(error, path);
  }
  if (stats.isDirectory()) {
    throw new DatabaseIsDirectoryError(
      `database path is a directory, not a file: ${path}; point --db / DATABASE_PATH at the .db file inside it`,
    );
  }
  if (!stats.isFile()) {
    throw new NotADatabaseError(
      `database path is not a regular file: ${path}; point --db / DATABASE_PATH at a .db file`,
    );
  }
  const fileBytes = stats.size;
  if (fileBytes === 0) {
    if (options.allowEmpty) return { pageSize: 4096, headerPageCount: null, fileBytes };
    throw new DatabaseEmptyError(
      `database file is empty (0 bytes): ${path}; it holds no data — check --db / DATABASE_PATH, restore a backup ('ora-db restore'), or create the schema with 'ora-db init'`,
    );
  }
  const header = Buffer.alloc(HEADER_BYTES);
  let read = 0;
  let fd: number | undefined;
  try {
    fd = openSync(path, 'r');
    read = readSync(fd, header, 0, HEADER_BYTES, 0);
  } catch (error) {
    fsError(error, path);
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
  const magicBytes = Math.min(read, SQLITE_MAGIC.length);
  if (!header.subarray(0, magicBytes).equals(SQLITE_MAGIC.subarray(0, magicBytes))) {
    throw new NotADatabaseError(
      `not an SQLite database: ${path} (it does not start with "SQLite format 3"); check --db / DATABASE_PATH`,
    );
  }
  if (read < HEADER_BYTES) {
    throw new DatabaseCorruptError(
      `database file is truncated: ${path} is ${fileBytes} bytes, shorter than the 100-byte SQLite header; restore a backup ('ora-db restore')`,
      'DATABASE_TRUNCATED',
    );
  }
  const rawPageSize = header.readUInt16BE(16);
  const pageSize = rawPageSize === 1 ? 65536 : rawPageSize;
  const changeCounter = header.readUInt32BE(24);
  const pageCount = header.readUInt32BE(28);
  const validFor = header.readUInt32BE(92);
  const headerPageCount = pageCount > 0 && validFor === changeCounter ? pageCount : null;
  if (headerPageCount !== null && fileBytes < headerPageCount * pageSize && !hasWalContent(path)) {
    throw new DatabaseCorruptError(
      `database file is truncated: ${path} is ${fileBytes} bytes but its header says ${headerPageCount} pages of ${pageSize} bytes (${headerPageCount * pageSize} bytes); restore a backup ('ora-db restore') or salvage what is left with 'ora-db recover'`,
      'DATABASE_TRUNCATED',
    );
  }
  return { pageSize, headerPageCount, fileBytes };
}

function hasWalContent(path: string): boolean {
  try {
    return statSync(`${path}-wal`).size > 32;
  } catch {
    return false;
  }
}

/** Size of a file in bytes, or 0 when it does not exist (for `-wal` sizes). */
export function fileSizeOrZero(path: string): number {
  try {
    return statSync(path).size;
  } catch {
    return 0;
  }
}
