import {
  type AdoptionStep,
  adoptionRefusal,
  adoptSchema,
  assertSchemaCurrent,
  backupStoreFields,
  booleanField,
  compressionLevelFor,
  configField,
  createBackup,
  describeDifferences,
  formatMib,
  inspectOraSchema,
  isVerified,
  journalMode,
  LATEST_SCHEMA_VERSION,
  MIGRATIONS,
  migrate,
  openDatabase,
  planAdoption,
  type SchemaKind,
  schemaVersion,
  textTable,
} from '@ora/core';
import { openBackupStore } from '@ora/core/backup';
import { backupVerifyJob } from '@ora/fn-backup-verify/job';
import { defineJob } from '@ora/harness';
import * as z from 'zod';
import { databaseFields } from './database-options.js';

export const backupListCommand = defineJob({
  name: 'backup list',
  describe: 'The stored backups: id, time, size, verified',
  schedule: null,
  event: z.object(backupStoreFields()),
  async run(e) {
    const store = openBackupStore(e);
    const { backups, unreadable } = await store.list();
    return {
      status: unreadable.length > 0 ? ('warn' as const) : ('ok' as const),
      backupDir: store.location,
      count: backups.length,
      backups: backups.map((m) => ({
        id: m.id,
        createdAt: m.createdAt,
        artifactBytes: m.artifact.bytes,
        snapshotBytes: m.snapshot.bytes,
        verified: isVerified(m),
        lastVerification: m.lastVerification,
      })),
      unreadable,
    };
  },
  summarize: (r) => {
    const rows = r.backups.map((b) => [
      b.id,
      b.createdAt,
      formatMib(b.artifactBytes),
      b.verified ? (b.lastVerification ? `yes (${b.lastVerification.at.slice(0, 10)})` : 'yes (at backup)') : 'NO',
    ]);
    const table = textTable(['ID', 'CREATED (UTC)', 'SIZE', 'VERIFIED'], rows);
    return [
      `backup list: ${r.status} — ${r.count} backup(s) in ${r.backupDir}`,
      ...(r.count > 0 ? table : []),
      ...r.unreadable.map((u) => `  unreadable manifest ${u.file}: ${u.problem}`),
    ].join('\n');
  },
});

/** `ora-db backup verify [which]`: the backup-verify job under the backup command. */
export const backupVerifyCommand = { ...backupVerifyJob, name: 'backup verify' };

export const migrateCommand = defineJob({
  name: 'migrate',
  describe:
    'Bring the schema up to date, safely: a verified backup first (named in the result: restore it to roll back, see docs/MIGRATION_GUIDE.md), then each migration in its own transaction. An ORA database created by another program (schema version 0) is adopted: only what is missing is added (tables, indexes, columns with defaults), no row is rewritten; differences that cannot be bridged are refused with a per-column report. --dry-run shows the plan',
  schedule: null,
  heavy: true,
  lockTarget: (e) => (e.dryRun ? null : e.db),
  event: z.object({
    ...databaseFields,
    ...backupStoreFields(),
    maxProblems: configField('maxProblems'),
    dryRun: booleanField().default(false).describe('Show what migrating would add, change nothing (no backup either)'),
  }),
  async run(e) {
    // Everything is decided on a read-only connection: a refused database, and a dry run, stay
    // byte-identical (closing a read-write connection would checkpoint the WAL).
    const probe = openDatabase(e.db, { readonly: true, busyTimeoutMs: e.busyTimeoutMs });
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
    if (e.dryRun) {
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
    const db = openDatabase(e.db, { busyTimeoutMs: e.busyTimeoutMs });
    try {
      const backup = await createBackup(db, {
        store: openBackupStore(e),
        method: 'backup-api',
        compression: 'zstd',
        compressionLevel: compressionLevelFor('zstd'),
        maxProblems: e.maxProblems,
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
        rollback: `ora-db restore ${backup.manifest.id} --db ${e.db} ${e.dest ? `--dest ${e.dest}` : `--backup-dir ${e.backupDir}`}`,
      };
    } finally {
      db.close();
    }
  },
  summarize: (r) => {
    if (r.status === 'skipped') return `migrate: skipped — ${r.reason}`;
    const what =
      r.mode === 'adopt'
        ? `adopt the ORA database at schema version 0 as version ${r.toVersion}: ${r.steps.length} addition(s), no row rewritten`
        : `schema ${r.fromVersion} → ${r.toVersion} (${r.applied.map((a) => a.name).join(', ')})`;
    const lines = [
      'dryRun' in r && r.dryRun
        ? `migrate: dry run — would ${what}; nothing changed`
        : `migrate: ok — ${r.mode === 'adopt' ? what.replace(/^adopt/, 'adopted') : what}; backup taken first: ${r.backupId} (roll back: ${'rollback' in r ? r.rollback : ''})`,
      ...r.steps.map(
        (s) => `  ${'dryRun' in r && r.dryRun ? 'would run' : 'ran'}: ${s.sql.replace(/\s+/g, ' ').trim()}`,
      ),
      ...r.kept.map((k) => `  kept: ${k}`),
    ];
    return lines.join('\n');
  },
});
