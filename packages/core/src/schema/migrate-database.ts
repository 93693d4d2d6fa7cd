import { createBackup } from '../backup/backup.js';
import { compressionLevelFor } from '../backup/compression-defaults.js';
import { openBackupStores } from '../backup/open-store.js';
import type { BackupStoreSettings } from '../backup/take-backup.js';
import { openDatabase } from '../connection/connection.js';
import { journalMode } from '../connection/journal.js';
import { assertSchemaCurrent, migrate, schemaVersion } from './migrate.js';
import { LATEST_SCHEMA_VERSION, MIGRATIONS } from './migrations.js';
import {
  type AdoptionStep,
  adoptionRefusal,
  adoptSchema,
  describeDifferences,
  inspectOraSchema,
  planAdoption,
  type SchemaKind,
} from './ora-schema.js';

export interface MigrateDatabaseOptions extends BackupStoreSettings {
  busyTimeoutMs: number;
  maxProblems: number;
  /** Say what migrating would add; change nothing, take no backup. */
  dryRun: boolean;
}

/**
 * `migrateDatabase(path, options)` — `ora-db migrate`: decided on a read-only connection (a
 * refused database and a dry run stay byte-identical), then a verified backup first (named in the
 * result, with the restore command that rolls back), then each migration in its own transaction.
 * An ORA database at schema version 0 made by another program is adopted: only what is missing is
 * added. A foreign database, a newer schema, or differences adoption cannot bridge are refused.
 *
 * ### Examples
 * ```ts
 * const r = await migrateDatabase('ora.db', { ...config, dryRun: true });
 * r.applied; // [{ version: 2, name: '…' }]
 * ```
 */
export async function migrateDatabase(path: string, o: MigrateDatabaseOptions) {
  // Everything is decided on a read-only connection: a refused database, and a dry run, stay
  // byte-identical (closing a read-write connection would checkpoint the WAL).
  const probe = openDatabase(path, { readonly: true, busyTimeoutMs: o.busyTimeoutMs });
  let decided: {
    base: { fromVersion: number; schemaKind: SchemaKind; journalMode: string };
    adopting: boolean;
    steps: AdoptionStep[];
    kept: string[];
  };
  try {
    const status = inspectOraSchema(probe);
    const from = status.version;
    const base = { fromVersion: from, schemaKind: status.kind, journalMode: journalMode(probe) };
    if (status.kind === 'foreign') throw adoptionRefusal(probe, planAdoption(probe));
    if (from > LATEST_SCHEMA_VERSION) assertSchemaCurrent(probe, 'migrate'); // throws SCHEMA_TOO_NEW
    if (from === LATEST_SCHEMA_VERSION) {
      return {
        ...base,
        status: 'skipped' as const,
        reason: `schema already at version ${from}`,
        toVersion: from,
        mode: 'none' as const,
        backupId: null,
        applied: [],
        steps: [],
        kept: [],
      };
    }
    // Schema version 0 with ORA tables: the ORA automation made it. Adopt it (baseline).
    const adopting = status.kind === 'ora' && from === 0;
    const plan = adopting ? planAdoption(probe) : null;
    if (plan && !plan.bridgeable) throw adoptionRefusal(probe, plan);
    decided = { base, adopting, steps: plan?.steps ?? [], kept: plan ? describeDifferences(plan.kept) : [] };
  } finally {
    probe.close();
  }
  const { base, adopting, steps, kept } = decided;
  const mode = adopting ? ('adopt' as const) : ('migrate' as const);
  if (o.dryRun) {
    const pending = adopting
      ? []
      : MIGRATIONS.filter((m) => m.version > base.fromVersion).map((m) => ({ version: m.version, name: m.name }));
    return {
      ...base,
      status: 'ok' as const,
      dryRun: true,
      mode,
      toVersion: LATEST_SCHEMA_VERSION,
      backupId: null,
      applied: pending,
      steps,
      kept,
    };
  }
  const db = openDatabase(path, { busyTimeoutMs: o.busyTimeoutMs });
  try {
    const [store, ...copies] = openBackupStores(o);
    const backup = await createBackup(db, {
      store: store as NonNullable<typeof store>,
      copies,
      method: 'backup-api',
      compression: 'zstd',
      compressionLevel: compressionLevelFor('zstd'),
      maxProblems: o.maxProblems,
      // Kept until someone unpins it: retention must not delete the way back from a migration.
      pin: `taken by migrate before ${adopting ? 'adopting the schema' : `migrating to schema version ${LATEST_SCHEMA_VERSION}`}`,
    });
    let applied: { version: number; name: string }[];
    let done = steps;
    if (adopting) {
      // Re-planned inside the write lock: the file may have changed since the read-only look.
      done = adoptSchema(db).steps;
      applied = [{ version: LATEST_SCHEMA_VERSION, name: `adopted (baseline): ${done.length} addition(s)` }];
    } else {
      applied = migrate(db).applied;
    }
    return {
      ...base,
      status: 'ok' as const,
      mode,
      toVersion: schemaVersion(db),
      applied,
      steps: done,
      kept,
      backupId: backup.manifest.id,
      rollback: `ora-db restore ${backup.manifest.id} --db ${path} ${o.dest?.[0] ? `--dest ${o.dest[0]}` : `--backup-dir ${o.backupDir}`}`,
    };
  } finally {
    db.close();
  }
}
