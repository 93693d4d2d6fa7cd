import { DatabaseCorruptError, DatabaseLockedError, IoError, NotADatabaseError, OraError } from '../errors/errors.js';

/** The fields of better-sqlite3's `SqliteError` we rely on. */
interface SqliteErrorLike {
  code: string;
  message: string;
}

function isSqliteError(error: unknown): error is SqliteErrorLike {
  return (
    error instanceof Error &&
    typeof (error as { code?: unknown }).code === 'string' &&
    (error as unknown as { code: string }).code.startsWith('SQLITE_')
  );
}

/**
 * Turns an SQLite error into the toolkit's error with a stable code, exit status and a message
 * that says what to do. Errors that are not about the environment or the file (constraint
 * violations, SQL errors) are returned unchanged for the caller to handle.
 */
export function translateSqliteError(error: unknown, path: string, busyTimeoutMs?: number): unknown {
  if (error instanceof OraError || !isSqliteError(error)) return error;
  const code = error.code;
  const waited = busyTimeoutMs === undefined ? '' : ` (waited ${busyTimeoutMs} ms)`;
  if (code.startsWith('SQLITE_BUSY') || code.startsWith('SQLITE_LOCKED')) {
    return new DatabaseLockedError(
      `database is locked by another process: ${path}${waited}; retry later, raise ORA_BUSY_TIMEOUT_MS, or see who holds it with 'fuser -v ${path}*'`,
      { cause: error },
    );
  }
  if (code === 'SQLITE_NOTADB') {
    return new NotADatabaseError(`not an SQLite database: ${path} (${error.message}); check --db / DATABASE_PATH`, {
      cause: error,
    });
  }
  if (code.startsWith('SQLITE_CORRUPT')) {
    return new DatabaseCorruptError(
      `database is corrupt: ${path} (${error.message}); run 'ora-db health-check --full' to list the damage, then restore a backup or salvage with 'ora-db recover'`,
      'DATABASE_CORRUPT',
      { cause: error },
    );
  }
  if (code === 'SQLITE_FULL') {
    return new IoError(`disk full while writing ${path}; free space on its filesystem and retry`, 'DISK_FULL', {
      cause: error,
    });
  }
  if (code.startsWith('SQLITE_READONLY')) {
    return new IoError(
      `database is read-only: ${path} (${error.message}); check the file's and its directory's permissions and mount options`,
      'READ_ONLY',
      { cause: error },
    );
  }
  if (code.startsWith('SQLITE_CANTOPEN') || code.startsWith('SQLITE_PERM')) {
    return new IoError(
      `cannot open ${path} (${error.message}); check the path and the permissions of the file and its directory (SQLite also writes ${path}-wal and ${path}-shm beside it)`,
      'PERMISSION_DENIED',
      { cause: error },
    );
  }
  if (code.startsWith('SQLITE_IOERR')) {
    return new IoError(`I/O error on ${path} (${code}: ${error.message}); check the disk and retry`, 'IO_ERROR', {
      cause: error,
    });
  }
  return error;
}
