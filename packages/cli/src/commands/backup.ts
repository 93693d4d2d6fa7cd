import {
  assertSchemaCurrent,
  backupStoreFields,
  createBackup,
  integerField,
  isVerified,
  LATEST_SCHEMA_VERSION,
  migrate,
  openBackupStore,
  openDatabase,
  schemaVersion,
} from '@ora/core';
import { backupVerifyJob } from '@ora/fn-backup-verify/job';
import { defineJob } from '@ora/harness';
import { z } from 'zod';
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
      `${(b.artifactBytes / 1048576).toFixed(2)} MiB`,
      b.verified ? (b.lastVerification ? `yes (${b.lastVerification.at.slice(0, 10)})` : 'yes (at backup)') : 'NO',
    ]);
    const header = ['ID', 'CREATED (UTC)', 'SIZE', 'VERIFIED'];
    const widths = header.map((h, i) => Math.max(h.length, ...rows.map((x) => (x[i] ?? '').length)));
    const table = [header, ...rows].map((x) =>
      x
        .map((c, i) => c.padEnd(widths[i] ?? 0))
        .join('  ')
        .trimEnd(),
    );
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
    'Bring the schema up to date, safely: a verified backup first (named in the result: restore it to roll back, see docs/MIGRATION_GUIDE.md), then each migration in its own transaction',
  schedule: null,
  heavy: true,
  event: z.object({
    ...databaseFields,
    ...backupStoreFields(),
    maxProblems: integerField(1, 10_000).describe('Most integrity problems listed'),
  }),
  async run(e) {
    const db = openDatabase(e.db, { busyTimeoutMs: e.busyTimeoutMs });
    try {
      const from = schemaVersion(db);
      if (from > LATEST_SCHEMA_VERSION) assertSchemaCurrent(db); // throws SCHEMA_TOO_NEW
      if (from === LATEST_SCHEMA_VERSION) {
        return {
          status: 'skipped' as const,
          reason: `schema already at version ${from}`,
          fromVersion: from,
          toVersion: from,
          backupId: null,
          applied: [],
        };
      }
      const backup = await createBackup(db, {
        store: openBackupStore(e),
        method: 'backup-api',
        compression: 'zstd',
        compressionLevel: 3,
        maxProblems: e.maxProblems,
      });
      const result = migrate(db);
      return {
        status: 'ok' as const,
        fromVersion: result.fromVersion,
        toVersion: result.toVersion,
        applied: result.applied,
        backupId: backup.manifest.id,
        rollback: `ora-db restore ${backup.manifest.id} --db ${e.db} ${e.dest ? `--dest ${e.dest}` : `--backup-dir ${e.backupDir}`}`,
      };
    } finally {
      db.close();
    }
  },
  summarize: (r) =>
    r.status === 'skipped'
      ? `migrate: skipped — ${r.reason}`
      : `migrate: ok — schema ${r.fromVersion} → ${r.toVersion} (${r.applied.map((a) => a.name).join(', ')}); backup taken first: ${r.backupId} (roll back: ${r.rollback})`,
});
