import { closeSync, openSync, statSync } from 'node:fs';
import { dirname } from 'node:path';
import { type OraDatabase, openDatabase } from '../connection/connection.js';
import { checkDatabaseFile } from '../connection/file-checks.js';
import { DatabaseNotFoundError, IoError, SchemaVersionError } from '../errors/errors.js';
import { migrate, schemaVersion } from './migrate.js';
import { LATEST_SCHEMA_VERSION } from './migrations.js';
import { inspectOraSchema, planAdoption } from './ora-schema.js';

/**
 * Opens `path` for init/seed: the one place a database file may be created (SPEC §4, invariant 1).
 * A new file is created with mode 0600 before SQLite sees it; its -wal/-shm inherit that mode.
 */
export function openOrCreateDatabase(path: string, busyTimeoutMs: number): { db: OraDatabase; created: boolean } {
  let created = false;
  try {
    const header = checkDatabaseFile(path, { allowEmpty: true });
    // Check what the file holds on a read-only connection first: a read-write open switches the
    // journal to WAL, which would change a file we are about to refuse.
    if (header.fileBytes > 0) {
      const probe = openDatabase(path, { readonly: true, busyTimeoutMs });
      try {
        assertInitialisable(probe);
      } finally {
        probe.close();
      }
    }
  } catch (error) {
    if (!(error instanceof DatabaseNotFoundError)) throw error;
    const dir = dirname(path);
    try {
      if (!statSync(dir).isDirectory()) throw new Error('not a directory');
    } catch {
      throw new IoError(
        `cannot create ${path}: directory ${dir} does not exist; create it first (mkdir -p ${dir})`,
        'IO_ERROR',
      );
    }
    try {
      closeSync(openSync(path, 'wx', 0o600));
      created = true;
    } catch (cause) {
      throw new IoError(
        `cannot create ${path} (${(cause as NodeJS.ErrnoException).code}); check the directory's permissions`,
        'PERMISSION_DENIED',
        { cause },
      );
    }
  }
  return { db: openDatabase(path, { busyTimeoutMs, create: true }), created };
}

/**
 * Creates the ORA schema in a new or empty database. An older ORA schema is left to
 * `ora-db migrate` (which backs up first); a database with foreign tables is refused.
 */
export function initialiseSchema(db: OraDatabase): { applied: number[]; fromVersion: number } {
  assertInitialisable(db);
  const result = migrate(db);
  return { applied: result.applied.map((m) => m.version), fromVersion: result.fromVersion };
}

function assertInitialisable(db: OraDatabase): void {
  const status = inspectOraSchema(db);
  if (status.kind === 'foreign') {
    throw new SchemaVersionError(
      `refusing to init ${db.path}: it is not an ORA database (its tables include none of the ORA tables: ${status.oraTablesMissing.join(', ')}); point --db at a new file`,
      'NOT_ORA_SCHEMA',
    );
  }
  if (status.kind === 'ora' && status.version === 0) {
    const plan = planAdoption(db);
    throw new SchemaVersionError(
      plan.bridgeable
        ? `refusing to init ${db.path}: it already holds ORA tables (${status.oraTablesPresent.join(', ')}) at schema version 0, made by another program; adopt it with 'ora-db migrate' (which backs up first; '--dry-run' shows what it adds)`
        : `refusing to init ${db.path}: it holds ORA tables at schema version 0 that differ from the ORA schema in ways 'ora-db migrate' cannot bridge (${plan.problems.length}); 'ora-db migrate --dry-run' lists them`,
      'SCHEMA_OUTDATED',
    );
  }
  if (status.version > 0 && status.version < LATEST_SCHEMA_VERSION) {
    throw new SchemaVersionError(
      `${db.path} already has ORA schema version ${status.version}; upgrade it with 'ora-db migrate', which takes a backup first`,
      'SCHEMA_OUTDATED',
    );
  }
}

/**
 * `initDatabase(path, busyTimeoutMs)` — `ora-db init`: creates the database (mode 0600) when it is
 * missing, or the ORA schema in an empty file; a no-op on a current one (`applied` empty). Refuses
 * a foreign or outdated database without changing it (see `openOrCreateDatabase`).
 *
 * ### Examples
 * ```ts
 * initDatabase('/data/ora.db', 8000); // { created: true, schemaVersion: 3, applied: [1, 2, 3] }
 * ```
 */
export function initDatabase(
  path: string,
  busyTimeoutMs: number,
): { created: boolean; schemaVersion: number; applied: number[] } {
  const { db, created } = openOrCreateDatabase(path, busyTimeoutMs);
  try {
    const { applied } = initialiseSchema(db);
    return { created, schemaVersion: schemaVersion(db), applied };
  } finally {
    db.close();
  }
}
