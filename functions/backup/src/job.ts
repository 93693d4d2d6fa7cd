import { booleanField, choiceField, configField, integerField, formatMib as mib } from '@ora/core';
import { backupStoreFields, COMPRESSION_LEVELS, takeBackup } from '@ora/core/backup';
import { defineJob } from '@ora/harness';
import * as z from 'zod';

const { zstd, gzip } = COMPRESSION_LEVELS;

export const backupEvent = z.object({
  db: configField('db', 'SQLite database file to back up'),
  ...backupStoreFields(),
  method: choiceField(['backup-api', 'vacuum-into'] as const)
    .default('backup-api')
    .describe(
      'Snapshot method: the online backup API in one step (fastest), or VACUUM INTO (a compact copy, smaller artifact)',
    ),
  compression: choiceField(['zstd', 'gzip'] as const)
    .default('zstd')
    .describe('Artifact format: zstd (fast, small; read with zstd -d) or gzip (readable by any gunzip)'),
  compressionLevel: integerField(1, zstd.max)
    .optional()
    .describe(`Compression level (default: zstd ${zstd.default}, gzip ${gzip.default}; gzip allows 1-${gzip.max})`),
  keepDays: configField('keepDays', 'Keep every backup this many days'),
  keepMonths: configField('keepMonths', 'Then keep the last backup of each month this many months'),
  dryRun: booleanField().default(false).describe('Take no backup; list what retention would delete now'),
  busyTimeoutMs: configField('busyTimeoutMs'),
  maxProblems: configField('maxProblems'),
});

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
  run: (e, { progress, logger, signal }) =>
    takeBackup(e.db, {
      ...e,
      progress,
      signal,
      onRemovedTemps: (removed) =>
        logger.warn({ removed }, `removed ${removed.length} temp file(s) left by an earlier run that died`),
    }),
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
