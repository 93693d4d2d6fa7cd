import {
  booleanField,
  choiceField,
  configField,
  formatBytes,
  InvalidInputError,
  integerField,
  formatMib as mib,
} from '@ora/core';
import { backupStoreFields, COMPRESSION_LEVELS, takeBackup } from '@ora/core/backup';
import { type RestorePointResult, takeRestorePoint } from '@ora/core/pitr';
import { defineJob, type JobResult } from '@ora/harness';
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
  incremental: booleanField()
    .default(false)
    .describe(
      'Take a restore point instead: only the pages changed since the previous point, deduplicated, in <backup-dir>/restore-points (or under --dest); restore to it with restore --at or its id (docs/RESTORE_POINTS.md)',
    ),
  pointKeepAllHours: configField('pointKeepAllHours', 'With --incremental: keep every point this many hours'),
  pointKeepHourlyDays: configField('pointKeepHourlyDays', 'Then the newest point of each hour for this many days'),
  pointKeepDailyDays: configField('pointKeepDailyDays', 'Then the newest point of each day for this many days'),
  pointKeepMonthlyMonths: configField(
    'pointKeepMonthlyMonths',
    'Then the newest point of each month for this many months',
  ),
  every: z
    .string()
    .regex(/^[1-9][0-9]*(s|m|h)?$/, 'a whole number of seconds, or with s, m or h: 10s, 5m, 1h')
    .refine((v) => everyMs(v) <= 86_400_000, 'at most 24h')
    .optional()
    .describe(
      'With --incremental: stay running and take a point every 10s, 5m, 1h … (a sidecar beside the application) until SIGTERM; each point reports as a run of its own',
    ),
  dryRun: booleanField().default(false).describe('Take no backup; list what retention would delete now'),
  busyTimeoutMs: configField('busyTimeoutMs'),
  maxProblems: configField('maxProblems'),
});

export const backupJob = defineJob({
  name: 'backup',
  describe:
    "Online backup (replaces the guide's cp + gzip): consistent snapshot while writers keep writing, full integrity_check alongside zstd (or gzip) compression, SHA-256, manifest, atomic publish (0600), then retention (30 days, then monthly for 12 months; never the newest verified backup)",
  schedule: '0 1 * * *',
  alsoScheduled: [
    {
      name: 'backup-incremental',
      schedule: '*/5 * * * *',
      args: ['--incremental'],
      describe:
        'a restore point (point-in-time recovery: only the pages changed since the last; skipped while another job holds the lock)',
    },
  ],
  runName: (e) => (e.incremental ? 'backup-incremental' : 'backup'),
  heavy: true,
  repeatEveryMs: (e) => (e.every === undefined ? null : everyMs(e.every)),
  // A restore point takes the job lock itself: found taken, the point is skipped (exit 0), not refused.
  lockTarget: (e) => (e.dryRun || e.incremental ? null : e.db),
  event: backupEvent,
  examples: [
    ['$0 backup --db /data/ora.db --backup-dir /backups/ora', 'as cron runs it, daily 01:00'],
    ['$0 backup --incremental', 'a restore point (as cron runs it every 5 minutes)'],
    ['$0 backup --incremental --every 1m', 'a point every minute until SIGTERM (a sidecar instead of cron)'],
    ['$0 backup --dry-run', 'list what retention would delete, take no backup'],
    ['$0 backup list', 'the stored backups'],
    ['$0 backup verify all', 'restore drill of every stored backup'],
  ],
  async run(e, { progress, logger, signal }) {
    if (e.every !== undefined && (!e.incremental || e.dryRun)) {
      throw new InvalidInputError(
        e.incremental
          ? '--every repeats restore points; --dry-run takes none (drop one of the two flags)'
          : '--every repeats restore points: add --incremental (full backups run from cron, daily)',
      );
    }
    if (e.incremental) {
      if (e.compressionLevel !== undefined) {
        throw new InvalidInputError(
          '--compression-level applies to full backups; restore points are always zstd (drop one of the two flags)',
        );
      }
      const r = await takeRestorePoint(e.db, {
        ...e,
        progress,
        retention: {
          allHours: e.pointKeepAllHours,
          hourlyDays: e.pointKeepHourlyDays,
          dailyDays: e.pointKeepDailyDays,
          monthlyMonths: e.pointKeepMonthlyMonths,
        },
      });
      return { mode: 'incremental' as const, ...r };
    }
    const r = await takeBackup(e.db, {
      ...e,
      progress,
      signal,
      onRemovedTemps: (removed) =>
        logger.warn({ removed }, `removed ${removed.length} temp file(s) left by an earlier run that died`),
    });
    return { mode: 'full' as const, ...r };
  },
  summarize: (r) => {
    if (r.mode === 'incremental') return summarizePoint(r);
    if (r.manifest && r.destinations.length > 1) {
      return [
        `backup: ${r.status} — ${r.backupId}: ${mib(r.manifest.snapshot.bytes)} snapshot → ${mib(r.manifest.artifact.bytes)} ${r.manifest.artifact.compression}, integrity_check ok, sha256 ${r.manifest.artifact.sha256.slice(0, 12)}…; ${r.destinations.filter((d) => d.published).length} of ${r.destinations.length} destinations`,
        ...r.destinations.map((d) =>
          d.published
            ? `  ok     ${d.location}: retention kept ${d.retention?.kept.length ?? 0}, deleted ${d.retention?.deleted.length ?? 0}`
            : `  FAILED ${d.location}: ${d.error} (nothing published there; the other destinations have the backup)`,
        ),
      ].join('\n');
    }
    return r.manifest
      ? `backup: ok — ${r.backupId}: ${mib(r.manifest.snapshot.bytes)} snapshot → ${mib(r.manifest.artifact.bytes)} ${r.manifest.artifact.compression}, integrity_check ok, sha256 ${r.manifest.artifact.sha256.slice(0, 12)}…; retention kept ${r.retention.kept.length}, deleted ${r.retention.deleted.length}`
      : `backup: skipped — ${r.reason}; retention would keep ${r.retention.kept.length} and delete ${r.retention.deleted.length}${r.retention.deleted.length ? `: ${r.retention.deleted.join(', ')}` : ''}`;
  },
  metrics: (r) => {
    if (r.mode === 'incremental') return pointMetrics(r);
    return r.manifest
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
          {
            name: 'ora_backup_destinations_failed',
            help: 'Destinations the backup could not be published to',
            value: r.destinations.filter((d) => !d.published).length,
          },
        ]
      : [];
  },
});

type PointRun = JobResult<RestorePointResult & { mode: 'incremental' }>;

/** `--every`: 10s, 5m, 1h, or bare seconds (the schema checked the form), in ms. */
export function everyMs(every: string): number {
  const n = Number.parseInt(every, 10);
  const unit = every.at(-1);
  return n * (unit === 'h' ? 3_600_000 : unit === 'm' ? 60_000 : 1000);
}

function summarizePoint(r: PointRun): string {
  const prune = r.prune
    ? `; retention kept ${r.prune.kept.length} point(s), dropped ${r.prune.dropped.length}${r.prune.freedBytes ? ` (freed ${mib(r.prune.freedBytes)})` : ''}`
    : '';
  if (r.status === 'skipped') return `backup --incremental: skipped — ${r.reason}`;
  const p = r.point;
  const lines = [
    `backup --incremental: ${r.status} — restore point ${p.id}: ${p.changedPages} of ${p.pageCount} pages changed${p.parent ? ` since ${p.parent}` : ' (the first point: every page)'}, ${p.newPages} new, ${formatBytes(p.storedBytes)} stored in ${r.location}, ${p.durationMs < 1000 ? `${p.durationMs} ms` : `${(p.durationMs / 1000).toFixed(1)} s`}${prune}`,
    ...r.notes.map((n) => `note: ${n}`),
  ];
  if (r.pruneError) lines.push(`warning: the point was taken, but pruning failed: ${r.pruneError}`);
  return lines.join('\n');
}

function pointMetrics(r: PointRun) {
  if (r.status === 'skipped') return [];
  const p = r.point;
  return [
    {
      name: 'ora_backup_point_stored_bytes',
      help: 'Bytes the last restore point added to the store',
      value: p.storedBytes,
    },
    { name: 'ora_backup_point_changed_pages', help: 'Pages changed since the previous point', value: p.changedPages },
    { name: 'ora_backup_point_pages', help: 'Pages in the database at the last point', value: p.pageCount },
    {
      name: 'ora_backup_point_last_success_timestamp_seconds',
      help: 'When the last restore point was published',
      value: Date.parse(p.createdAt) / 1000,
    },
    ...(r.prune
      ? [
          { name: 'ora_backup_points_kept', help: 'Restore points kept by retention', value: r.prune.kept.length },
          {
            name: 'ora_backup_points_dropped',
            help: 'Restore points dropped by retention',
            value: r.prune.dropped.length,
          },
        ]
      : []),
  ];
}
