/**
 * The error hierarchy every job and command shares. Each error carries a stable `code`
 * (for logs, `--json` and alerting rules) and the process exit status SPEC §3 assigns to it:
 * 1 the job found or hit a problem, 2 bad input, 3 the environment prevented the run.
 *
 * Messages say what happened, where, and what to do, in one line.
 */
export const EXIT = {
  ok: 0,
  problem: 1,
  badInput: 2,
  environment: 3,
} as const;

export type ExitStatus = (typeof EXIT)[keyof typeof EXIT];

export interface OraErrorOptions {
  cause?: unknown;
}

/** Base class: never thrown directly. */
export abstract class OraError extends Error {
  abstract readonly code: string;
  abstract readonly exitStatus: ExitStatus;

  constructor(message: string, options?: OraErrorOptions) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
  }

  /** The fields a `--json` result or a log line shows for this error. */
  toJSON(): { code: string; message: string; exitStatus: ExitStatus } {
    return { code: this.code, message: this.message, exitStatus: this.exitStatus };
  }
}

/** A flag, event field or argument has a value the job cannot accept (exit 2). */
export class InvalidInputError extends OraError {
  readonly code = 'INVALID_INPUT';
  readonly exitStatus = EXIT.badInput;
}

/** One or more environment variables are invalid; the message lists every one (exit 2). */
export class ConfigError extends OraError {
  readonly code = 'INVALID_CONFIG';
  readonly exitStatus = EXIT.badInput;
}

/** The SKU named in an inventory transaction does not exist (exit 2). */
export class UnknownSkuError extends OraError {
  readonly code = 'UNKNOWN_SKU';
  readonly exitStatus = EXIT.badInput;
}

/** An inventory transaction would take stock below zero (exit 2). */
export class InsufficientStockError extends OraError {
  readonly code = 'INSUFFICIENT_STOCK';
  readonly exitStatus = EXIT.badInput;
}

/** The command would overwrite or mix with existing data it must not touch (exit 2). */
export class TargetNotEmptyError extends OraError {
  readonly code = 'TARGET_NOT_EMPTY';
  readonly exitStatus = EXIT.badInput;
}

/** The database path does not exist; nothing was created (exit 3). */
export class DatabaseNotFoundError extends OraError {
  readonly code = 'DATABASE_NOT_FOUND';
  readonly exitStatus = EXIT.environment;
}

/** The database path is a directory (exit 3). */
export class DatabaseIsDirectoryError extends OraError {
  readonly code = 'DATABASE_IS_DIRECTORY';
  readonly exitStatus = EXIT.environment;
}

/** The database file is empty (0 bytes) where data was expected (exit 3). */
export class DatabaseEmptyError extends OraError {
  readonly code = 'DATABASE_EMPTY';
  readonly exitStatus = EXIT.environment;
}

/** The file is not an SQLite database (exit 3). */
export class NotADatabaseError extends OraError {
  readonly code = 'NOT_A_DATABASE';
  readonly exitStatus = EXIT.environment;
}

/**
 * The file is an SQLite database but shorter than its header says, or SQLite reported
 * corruption while reading it. The job found a problem with the data (exit 1).
 */
export class DatabaseCorruptError extends OraError {
  readonly code: 'DATABASE_TRUNCATED' | 'DATABASE_CORRUPT';
  readonly exitStatus = EXIT.problem;

  constructor(message: string, code: 'DATABASE_TRUNCATED' | 'DATABASE_CORRUPT', options?: OraErrorOptions) {
    super(message, options);
    this.code = code;
  }
}

/** Another process held a lock on the database past the busy timeout (exit 3). */
export class DatabaseLockedError extends OraError {
  readonly code = 'DATABASE_LOCKED';
  readonly exitStatus = EXIT.environment;
}

export type SchemaErrorCode = 'SCHEMA_TOO_NEW' | 'SCHEMA_OUTDATED' | 'NOT_ORA_SCHEMA' | 'SCHEMA_MISMATCH';

/**
 * The database's schema is not the one the command needs (exit 3, like every other "the database
 * is not what this run needs" condition): newer than this code (SCHEMA_TOO_NEW), older
 * (SCHEMA_OUTDATED), not an ORA database at all (NOT_ORA_SCHEMA), or ORA tables that differ in a
 * way `migrate` cannot bridge (SCHEMA_MISMATCH).
 */
export class SchemaVersionError extends OraError {
  readonly code: SchemaErrorCode;
  readonly exitStatus = EXIT.environment;
  /** Per-table, per-column differences (SCHEMA_MISMATCH), shown in `--json` too. */
  readonly differences: { table: string; column?: string; index?: string; problem: string }[];

  constructor(
    message: string,
    code: SchemaErrorCode,
    options?: OraErrorOptions & { differences?: SchemaVersionError['differences'] },
  ) {
    super(message, options);
    this.code = code;
    this.differences = options?.differences ?? [];
  }

  override toJSON(): ReturnType<OraError['toJSON']> & { differences?: SchemaVersionError['differences'] } {
    return this.differences.length > 0 ? { ...super.toJSON(), differences: this.differences } : super.toJSON();
  }
}

/** The PRAGMAs the guide requires did not take effect (e.g. WAL refused by the filesystem) (exit 3). */
export class PragmaError extends OraError {
  readonly code = 'PRAGMA_NOT_APPLIED';
  readonly exitStatus = EXIT.environment;
}

/** Reading or writing a file failed at the operating-system level (exit 3). */
export class IoError extends OraError {
  readonly code: 'IO_ERROR' | 'DISK_FULL' | 'READ_ONLY' | 'PERMISSION_DENIED';
  readonly exitStatus = EXIT.environment;

  constructor(
    message: string,
    code: 'IO_ERROR' | 'DISK_FULL' | 'READ_ONLY' | 'PERMISSION_DENIED' = 'IO_ERROR',
    options?: OraErrorOptions,
  ) {
    super(message, options);
    this.code = code;
  }
}

/** A backup artifact fails its checksum, decompression or integrity check (exit 1). */
export class BackupInvalidError extends OraError {
  readonly code = 'BACKUP_INVALID';
  readonly exitStatus = EXIT.problem;
}

/** A restore failed after touching the live database; the original was put back (exit 1). */
export class RestoreFailedError extends OraError {
  readonly code = 'RESTORE_FAILED';
  readonly exitStatus = EXIT.problem;
}

/** Another heavy job holds the per-database job lock (exit 3). */
export class LockHeldError extends OraError {
  readonly code = 'LOCK_HELD';
  readonly exitStatus = EXIT.environment;
}

/**
 * The run was asked to stop (SIGTERM from Kubernetes or docker stop, SIGINT from Ctrl-C) and
 * stopped at its next safe point, publishing nothing partial (exit 3: the environment ended the
 * run; SPEC §3 has no code for signals, so not the shell's 128+n).
 */
export class StoppedError extends OraError {
  readonly code = 'STOPPED';
  readonly exitStatus = EXIT.environment;
}

/** Throws StoppedError when `signal` (the job context's) has been aborted: call at safe points. */
export function throwIfStopped(signal: AbortSignal | undefined): void {
  if (!signal?.aborted) return;
  throw signal.reason instanceof StoppedError
    ? signal.reason
    : new StoppedError('the run was asked to stop; it stopped at a safe point and published nothing partial');
}

export function isOraError(error: unknown): error is OraError {
  return error instanceof OraError;
}
