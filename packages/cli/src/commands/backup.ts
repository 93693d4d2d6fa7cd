import { booleanField, configField, formatBytes, formatMib, textTable } from '@ora/core';
import { backupStoreFields, isVerified, migrateDatabase, openBackupStore } from '@ora/core/backup';
import { openPointStore, summarizePoints } from '@ora/core/pitr';
import { backupVerifyJob } from '@ora/fn-backup-verify/job';
import { defineJob } from '@ora/harness';
import * as z from 'zod';
import { databaseFields } from './database-options.js';

export const backupListCommand = defineJob({
  name: 'backup list',
  describe:
    'The stored backups (id, time, size, verified) and restore points (id, time, pages changed, bytes stored, parent, the time each restore stands for)',
  schedule: null,
  event: z.object(backupStoreFields()),
  async run(e) {
    const store = openBackupStore(e);
    const pointStore = openPointStore(e);
    const [{ backups, unreadable }, listed] = await Promise.all([store.list(), pointStore.list()]);
    const points = summarizePoints(listed.points);
    return {
      status: unreadable.length + listed.unreadable.length > 0 ? ('warn' as const) : ('ok' as const),
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
      pointLocation: pointStore.location,
      points,
      pointsStoredBytes: points.reduce((n, p) => n + p.storedBytes, 0),
      unreadablePoints: listed.unreadable,
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
    const lines = [
      `backup list: ${r.status} — ${r.count} backup(s) in ${r.backupDir}`,
      ...(r.count > 0 ? table : []),
      ...r.unreadable.map((u) => `  unreadable manifest ${u.file}: ${u.problem}`),
    ];
    if (r.points.length > 0 || r.unreadablePoints.length > 0) {
      const first = r.points[0];
      lines.push(
        '',
        `${r.points.length} restore point(s) in ${r.pointLocation}, ${formatBytes(r.pointsStoredBytes)} stored${first ? `; restore --at covers ${first.createdAt} to now` : ''}`,
        ...textTable(
          ['ID', 'CREATED (UTC)', 'MAP', 'CHANGED', 'STORED', 'PARENT', 'STANDS UNTIL'],
          r.points.map((p) => [
            p.id,
            p.createdAt,
            p.kind,
            `${p.changedPages}/${p.pageCount}`,
            formatBytes(p.storedBytes),
            p.parent ?? '-',
            p.coversUntil ?? 'now',
          ]),
        ),
        ...r.unreadablePoints.map((u) => `  unreadable restore point manifest ${u.file}: ${u.problem}`),
      );
    }
    return lines.join('\n');
  },
});

export const backupPruneCommand = defineJob({
  name: 'backup prune',
  describe:
    'Apply the restore point retention now (every point for 48 hours, then hourly for 7 days, daily for 30, monthly for 12 months; configurable): drops manifests first, then the maps and packs no kept point needs (crash-safe). backup --incremental prunes after every point; this is for a changed policy or a dry run',
  schedule: null,
  event: z.object({
    ...backupStoreFields(),
    pointKeepAllHours: configField('pointKeepAllHours', 'Keep every point this many hours'),
    pointKeepHourlyDays: configField('pointKeepHourlyDays', 'Then the newest point of each hour for this many days'),
    pointKeepDailyDays: configField('pointKeepDailyDays', 'Then the newest point of each day for this many days'),
    pointKeepMonthlyMonths: configField(
      'pointKeepMonthlyMonths',
      'Then the newest point of each month for this many months',
    ),
    dryRun: booleanField().default(false).describe('Say what would be dropped, delete nothing'),
  }),
  examples: [['$0 backup prune --dry-run --point-keep-all-hours 24', 'what a 24-hour policy would drop']],
  async run(e) {
    const store = openPointStore(e);
    const report = await store.prune({
      policy: {
        allHours: e.pointKeepAllHours,
        hourlyDays: e.pointKeepHourlyDays,
        dailyDays: e.pointKeepDailyDays,
        monthlyMonths: e.pointKeepMonthlyMonths,
      },
      dryRun: e.dryRun,
    });
    return { status: 'ok' as const, location: store.location, dryRun: e.dryRun, ...report };
  },
  summarize: (r) =>
    [
      `backup prune: ${r.status} — ${r.location}: ${r.dryRun ? 'would keep' : 'kept'} ${r.kept.length} restore point(s), ${r.dryRun ? 'would drop' : 'dropped'} ${r.dropped.length}${r.dryRun ? '' : `, deleted ${r.deletedMaps.length} map(s) and ${r.deletedPacks.length} pack(s), freed ${formatBytes(r.freedBytes)}`}`,
      ...r.dropped.map((id) => `  ${r.dryRun ? 'would drop' : 'dropped'} ${id}`),
    ].join('\n'),
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
