import type { OraDatabase } from '../connection/connection.js';
import { SchemaVersionError } from '../errors/errors.js';
import { MIGRATIONS, type Migration } from './migrations.js';
import { assertOraSchema } from './ora-schema.js';

export interface MigrateResult {
  fromVersion: number;
  toVersion: number;
  applied: { version: number; name: string }[];
}

/** The database's `PRAGMA user_version`. */
export function schemaVersion(db: OraDatabase): number {
  return Number(db.pragma('user_version'));
}

function refuseNewer(db: OraDatabase, version: number, latest: number): void {
  if (version > latest) {
    throw new SchemaVersionError(
      `database schema is newer than this tool: ${db.path} is at version ${version}, this ora-db knows up to ${latest}; upgrade ora-db before running it against this database`,
      'SCHEMA_TOO_NEW',
    );
  }
}

/**
 * Brings the schema up to date. Each pending migration runs in its own `BEGIN IMMEDIATE`
 * transaction together with the `user_version` bump, so a failure leaves the database at the
 * previous version, never in between. Running it again is a no-op. A database newer than the
 * code is refused.
 *
 * ### Examples
 * ```ts
 * const { applied } = migrate(db); // [] when already current
 * ```
 */
export function migrate(db: OraDatabase, migrations: readonly Migration[] = MIGRATIONS): MigrateResult {
  const latest = migrations[migrations.length - 1]?.version ?? 0;
  const fromVersion = schemaVersion(db);
  refuseNewer(db, fromVersion, latest);
  const applied: MigrateResult['applied'] = [];
  for (const migration of migrations) {
    if (migration.version <= fromVersion) continue;
    db.transaction(() => {
      // Re-read inside the write lock: another process may have migrated meanwhile.
      const current = schemaVersion(db);
      if (current >= migration.version) return;
      db.exec(migration.sql);
      db.pragmaRows(`user_version = ${migration.version}`);
      applied.push({ version: migration.version, name: migration.name });
    });
  }
  return { fromVersion, toVersion: schemaVersion(db), applied };
}

/**
 * Refuses to run domain code against a database whose schema is not the one this code writes:
 * not an ORA database (NOT_ORA_SCHEMA), newer (SCHEMA_TOO_NEW) or older (SCHEMA_OUTDATED, run
 * `ora-db migrate`). See `assertOraSchema`, which also names the tables a job needs.
 */
export function assertSchemaCurrent(db: OraDatabase, job = 'this command'): void {
  assertOraSchema(db, job);
}
