import { booleanField, configField, formatMib, textTable } from '@ora/core';
import { backupStoreFields, isVerified, migrateDatabase, openBackupStore } from '@ora/core/backup';
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
  run: (e) => migrateDatabase(e.db, e),
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
