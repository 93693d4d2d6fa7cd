import {
  applyRetention,
  backupStoreFields,
  booleanField,
  choiceField,
  createBackup,
  InvalidInputError,
  integerField,
  isVerified,
  openDatabase,
  pathField,
  planRetention,
} from '@ora/core';
import { openBackupStore } from '@ora/core/backup';
import { defineJob } from '@ora/harness';
import * as z from 'zod';

export const backupEvent = z.object({
  db: pathField('a database file path').describe('SQLite database file to back up'),
  ...backupStoreFields(),
  method: choiceField(['backup-api', 'vacuum-into'] as const)
    .default('backup-api')
    .describe(
      'Snapshot method: the online backup API in one step (fastest), or VACUUM INTO (a compact copy, smaller artifact)',
    ),
  compression: choiceField(['zstd', 'gzip'] as const)
    .default('zstd')
    .describe('Artifact format: zstd (fast, small; read with zstd -d) or gzip (readable by any gunzip)'),
  compressionLevel: integerField(1, 19)
    .optional()
    .describe('Compression level (default: zstd 3, gzip 6; gzip allows 1-9)'),
  keepDays: integerField(1, 36_500, 'days').describe('Keep every backup this many days'),
  keepMonths: integerField(0, 1200, 'months').describe('Then keep the last backup of each month this many months'),
  dryRun: booleanField().default(false).describe('Take no backup; list what retention would delete now'),
  busyTimeoutMs: integerField(0, 600_000, 'milliseconds').describe('Wait this long for a lock held by another process'),
  maxProblems: integerField(1, 10_000).describe('Most integrity problems listed'),
});

const mib = (bytes: number) => `${(bytes / 1048576).toFixed(2)} MiB`;

export const backupJob = defineJob({
  name: 'backup',
  describe:
    "Online backup (replaces the guide's cp + gzip): consistent snapshot while writers keep writing, full integrity_check alongside zstd (or gzip) compression, SHA-256, manifest, atomic publish (0600), then retention (30 days, then monthly for 12 months; never the newest verified backup)",
  schedule: '0 1 * * *',
  heavy: true,
  lockTarget: (e) => (e.dryRun ? null : e.db),
  event: backupEvent,
  examples: [
    ['$0 backup --db /data/ora.db --backup-dir /backups/ora', 'as cron runs it, daily 01:00'],
    ['$0 backup --dry-run', 'list what retention would delete, take no backup'],
    ['$0 backup list', 'the stored backups'],
    ['$0 backup verify all', 'restore drill of every stored backup'],
  ],
  async run(e, { progress, logger, signal }) {
    if (e.compression === 'gzip' && e.compressionLevel !== undefined && e.compressionLevel > 9) {
      throw new InvalidInputError(
        `--compression-level ${e.compressionLevel} is out of range for gzip: expected 1 to 9`,
      );
    }
    const policy = { keepDays: e.keepDays, keepMonths: e.keepMonths };
    if (e.dryRun) {
      const { backups } = await openBackupStore(e).list();
      const plan = planRetention(
        backups.map((m) => ({ id: m.id, createdAt: m.createdAt, verified: isVerified(m) })),
        new Date(),
        policy,
      );
      return {
        status: 'skipped' as const,
        reason: 'dry run: no backup taken, nothing deleted',
        backupDir: openBackupStore(e).location,
        retention: {
          dryRun: true,
          kept: plan.keep.map((k) => ({ id: k.backup.id, reason: k.reason })),
          deleted: plan.delete.map((b) => b.id),
        },
      };
    }
    const store = openBackupStore(e);
    // Read-only: a backup never writes to the database it copies.
    const db = openDatabase(e.db, { readonly: true, busyTimeoutMs: e.busyTimeoutMs });
    let report: Awaited<ReturnType<typeof createBackup>>;
    try {
      report = await createBackup(db, {
        store,
        method: e.method,
        compression: e.compression,
        compressionLevel: e.compressionLevel ?? (e.compression === 'zstd' ? 3 : 6),
        maxProblems: e.maxProblems,
        progress,
        signal,
      });
    } finally {
      db.close();
    }
    if (report.removedTemps.length > 0) {
      logger.warn(
        { removed: report.removedTemps },
        `removed ${report.removedTemps.length} temp file(s) left by an earlier run that died`,
      );
    }
    // Retention only after a backup that succeeded and verified (SPEC §4, invariant 3).
    progress.phase?.('retention');
    const retention = await applyRetention(store, policy, new Date(), false);
    const m = report.manifest;
    return {
      status: 'ok' as const,
      backupId: m.id,
      artifact: report.artifactPath,
      manifest: m,
      timings: {
        snapshotMs: report.snapshotMs,
        integrityMs: report.integrityMs,
        compressMs: report.compressMs,
        verifyMs: report.verifyMs,
      },
      retention,
    };
  },
  summarize: (r) =>
    r.manifest
      ? `backup: ok — ${r.backupId}: ${mib(r.manifest.snapshot.bytes)} snapshot → ${mib(r.manifest.artifact.bytes)} ${r.manifest.artifact.compression}, integrity_check ok, sha256 ${r.manifest.artifact.sha256.slice(0, 12)}…; retention kept ${r.retention.kept.length}, deleted ${r.retention.deleted.length}`
      : `backup: skipped — ${r.reason}; retention would keep ${r.retention.kept.length} and delete ${r.retention.deleted.length}${r.retention.deleted.length ? `: ${r.retention.deleted.join(', ')}` : ''}`,
  metrics: (r) =>
    r.manifest
      ? [
          {
            name: 'ora_backup_artifact_bytes',
            help: 'Size of the published artifact',
            value: r.manifest.artifact.bytes,
          },
          { name: 'ora_backup_snapshot_bytes', help: 'Size of the snapshot', value: r.manifest.snapshot.bytes },
          {
            name: 'ora_backup_last_success_timestamp_seconds',
            help: 'When the last backup was published',
            value: Date.parse(r.manifest.createdAt) / 1000,
          },
          {
            name: 'ora_backup_retention_deleted',
            help: 'Backups deleted by retention',
            value: r.retention.deleted.length,
          },
        ]
      : [],
});
