import { booleanField, configField, formatBytes, formatMib, InvalidInputError, textField, textTable } from '@ora/core';
import {
  backupSelectorField,
  backupStoreFields,
  isoTimeField,
  isVerified,
  migrateDatabase,
  openBackupStore,
  openBackupStores,
} from '@ora/core/backup';
import { forget, openPointStore, setPin, summarizePoints } from '@ora/core/pitr';
import { backupVerifyJob } from '@ora/fn-backup-verify/job';
import { defineJob } from '@ora/harness';
import * as z from 'zod';
import { databaseFields } from './database-options.js';

/** Reads an ISO time the way `restore --at` does: without a zone, UTC. */
function parseTime(text: string): number {
  return Date.parse(/T.*(Z|[+-]\d{2}:\d{2})$/.test(text) || !text.includes('T') ? text : `${text}Z`);
}

function duration(ms: number | undefined): string {
  if (ms === undefined) return '-';
  return ms < 1000 ? `${ms} ms` : `${(ms / 1000).toFixed(1)} s`;
}

export const backupListCommand = defineJob({
  name: 'backup list',
  describe:
    'The stored backups (source database, database size, artifact size, duration, pinned, encrypted, verified) and restore points (pages changed, bytes stored, parent, the time each restore stands for); --since/--until filter by time',
  schedule: null,
  event: z.object({
    ...backupStoreFields(),
    since: isoTimeField().optional().describe('Only backups and points taken at or after this time'),
    until: isoTimeField().optional().describe('Only backups and points taken at or before this time'),
  }),
  examples: [
    ['$0 backup list', 'every backup and restore point'],
    ['$0 backup list --since 2026-12-01 --until 2026-12-01T18:00', 'those of one day until 18:00 UTC'],
  ],
  async run(e) {
    const since = e.since ? parseTime(e.since) : Number.NEGATIVE_INFINITY;
    const until = e.until ? parseTime(e.until) : Number.POSITIVE_INFINITY;
    if (since > until) {
      throw new InvalidInputError(`--since ${e.since} is after --until ${e.until}; swap them`);
    }
    const inRange = (at: string) => Date.parse(at) >= since && Date.parse(at) <= until;
    const [first, ...others] = openBackupStores(e);
    const pointStore = openPointStore(e);
    const listed = await pointStore.list();
    const one = async (store: NonNullable<typeof first>) => {
      const { backups, unreadable } = await store.list();
      const shown = backups.filter((m) => inRange(m.createdAt));
      return {
        backupDir: store.location,
        count: shown.length,
        backups: shown.map((m) => ({
          id: m.id,
          kind: 'full' as const,
          createdAt: m.createdAt,
          source: m.source.path,
          databaseBytes: m.snapshot.bytes,
          artifactBytes: m.artifact.bytes,
          snapshotBytes: m.snapshot.bytes,
          durationMs: m.durationMs ?? null,
          compression: m.artifact.compression,
          encrypted: m.artifact.encryption !== undefined,
          keyId: m.artifact.encryption?.keyId ?? null,
          pinned: m.pinned ?? null,
          verified: isVerified(m),
          lastVerification: m.lastVerification,
        })),
        unreadable,
      };
    };
    const main = await one(first as NonNullable<typeof first>);
    const more = [];
    for (const s of others) more.push(await one(s));
    const points = summarizePoints(listed.points).filter((p) => inRange(p.createdAt));
    const byId = new Map(listed.points.map((p) => [p.id, p]));
    const anyUnreadable = [main, ...more].some((d) => d.unreadable.length > 0) || listed.unreadable.length > 0;
    return {
      status: anyUnreadable ? ('warn' as const) : ('ok' as const),
      ...main,
      /** With more than one --dest: the others, each listed the same way. */
      otherDestinations: more,
      pointLocation: pointStore.location,
      points: points.map((p) => {
        const m = byId.get(p.id) as (typeof listed.points)[number];
        return {
          ...p,
          source: m.source,
          databaseBytes: m.pageCount * m.pageSize,
          durationMs: m.durationMs,
          pinned: m.pinned ?? null,
          encrypted: 'encryption' in m && Boolean((m as { encryption?: unknown }).encryption),
        };
      }),
      pointsStoredBytes: points.reduce((n, p) => n + p.storedBytes, 0),
      unreadablePoints: listed.unreadable,
    };
  },
  summarize: (r) => {
    const yes = (b: boolean) => (b ? 'yes' : 'no');
    const backupTable = (d: Pick<typeof r, 'backups' | 'count' | 'backupDir' | 'unreadable'>) => {
      const rows = d.backups.map((b) => [
        b.id,
        b.createdAt,
        b.source,
        formatMib(b.databaseBytes),
        formatMib(b.artifactBytes),
        duration(b.durationMs ?? undefined),
        b.pinned ? 'yes' : '-',
        yes(b.encrypted),
        b.verified ? (b.lastVerification ? `yes (${b.lastVerification.at.slice(0, 10)})` : 'yes (at backup)') : 'NO',
      ]);
      const table = textTable(
        ['ID', 'CREATED (UTC)', 'SOURCE', 'DB SIZE', 'SIZE', 'TOOK', 'PINNED', 'ENCRYPTED', 'VERIFIED'],
        rows,
      );
      return [
        `${d.count} backup(s) in ${d.backupDir}`,
        ...(d.count > 0 ? table : []),
        ...d.unreadable.map((u) => `  unreadable manifest ${u.file}: ${u.problem}`),
      ];
    };
    const lines = [`backup list: ${r.status} — ${backupTable(r).join('\n')}`];
    for (const d of r.otherDestinations) lines.push('', ...backupTable(d));
    if (r.points.length > 0 || r.unreadablePoints.length > 0) {
      const first = r.points[0];
      lines.push(
        '',
        `${r.points.length} restore point(s) in ${r.pointLocation}, ${formatBytes(r.pointsStoredBytes)} stored${first ? `; restore --at covers ${first.createdAt} to ${r.points.at(-1)?.coversUntil ?? 'now'}` : ''}`,
        ...textTable(
          ['ID', 'CREATED (UTC)', 'MAP', 'CHANGED', 'STORED', 'TOOK', 'PINNED', 'PARENT', 'STANDS UNTIL'],
          r.points.map((p) => [
            p.id,
            p.createdAt,
            p.kind,
            `${p.changedPages}/${p.pageCount}`,
            formatBytes(p.storedBytes),
            duration(p.durationMs),
            p.pinned ? 'yes' : '-',
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

const idField = () =>
  backupSelectorField().refine((s) => s !== 'latest', { error: 'expected a backup or restore point id (not latest)' });

export const backupPinCommand = defineJob({
  name: 'backup pin',
  describe:
    'Keep a backup or restore point whatever the retention says (before a risky migration, for an audit): backup retention and point prune never delete it until it is unpinned. migrate pins the backup it takes first',
  schedule: null,
  positional: ['id'],
  event: z.object({
    id: idField().describe('The backup or restore point id'),
    reason: textField('a reason').default('pinned by hand').describe('Why it is kept (shown by backup list --json)'),
    ...backupStoreFields(),
  }),
  examples: [
    ['$0 backup pin ora-20261201T010000123Z-3fa9c1 --reason "before the v2 rollout"', 'keep it until unpinned'],
  ],
  async run(e) {
    const r = await setPin(openBackupStore(e), openPointStore(e), e.id, e.reason);
    return { status: 'ok' as const, ...r };
  },
  summarize: (r) =>
    `backup pin: ok — ${r.kind === 'point' ? 'restore point' : 'backup'} ${r.id} (taken ${r.createdAt}) ${r.unchanged ? 'was already pinned' : 'is pinned'}: ${r.pinned?.reason}`,
});

export const backupUnpinCommand = defineJob({
  name: 'backup unpin',
  describe: 'Let the retention decide again about a pinned backup or restore point',
  schedule: null,
  positional: ['id'],
  event: z.object({ id: idField().describe('The backup or restore point id'), ...backupStoreFields() }),
  async run(e) {
    const r = await setPin(openBackupStore(e), openPointStore(e), e.id, null);
    return { status: 'ok' as const, ...r };
  },
  summarize: (r) =>
    `backup unpin: ok — ${r.kind === 'point' ? 'restore point' : 'backup'} ${r.id} ${r.unchanged ? 'was not pinned' : 'is no longer pinned'}; the next retention run decides about it`,
});

export const backupForgetCommand = defineJob({
  name: 'backup forget',
  describe:
    'Delete one backup (manifest first, then its artifact) or one restore point (its manifest, then only the maps and packs no other point needs). Refuses a pinned one, and the newest verified backup or newest point without --force',
  schedule: null,
  positional: ['id'],
  event: z.object({
    id: idField().describe('The backup or restore point id'),
    force: booleanField().default(false).describe('Also delete the newest verified backup or the newest point'),
    ...backupStoreFields(),
  }),
  examples: [['$0 backup forget ora-20261101T010000123Z-3fa9c1', 'delete that backup']],
  async run(e) {
    const r = await forget(openBackupStore(e), openPointStore(e), e.id, { force: e.force });
    return { status: 'ok' as const, ...r };
  },
  summarize: (r) =>
    r.kind === 'backup'
      ? `backup forget: ok — backup ${r.id} (taken ${r.createdAt}) deleted`
      : `backup forget: ok — restore point ${r.id} (taken ${r.createdAt}) deleted, with ${r.prune?.deletedMaps.length ?? 0} map(s) and ${r.prune?.deletedPacks.length ?? 0} pack(s) no other point needs (${formatBytes(r.prune?.freedBytes ?? 0)} freed)`,
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
