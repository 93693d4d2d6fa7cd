import { configField, InvalidInputError, integerField, throwIfStopped } from '@ora/core';
import {
  type BackupStore,
  backupSelectorField,
  backupStoreFields,
  openBackupStores,
  pickBackup,
  type VerifyResult,
  verifyBackup,
} from '@ora/core/backup';
import { type CheckPointsReport, checkRestorePoints, openPointStore } from '@ora/core/pitr';
import { defineJob } from '@ora/harness';
import * as z from 'zod';

export const backupVerifyEvent = z.object({
  which: backupSelectorField(['all'])
    .default('all')
    .describe('A backup or restore point id, latest (the newest of each), or all'),
  ...backupStoreFields(),
  pointSample: integerField(0, 10_000)
    .default(3)
    .describe(
      'Restore points: every pack and page map is checked; the newest point and this many older ones, chosen at random, are also rebuilt and integrity_checked',
    ),
  maxProblems: configField('maxProblems'),
});

export const backupVerifyJob = defineJob({
  name: 'backup-verify',
  describe:
    "The guide's 'test restores monthly' as a job: re-reads stored backups, checks their SHA-256, decompresses them to a temp file and runs integrity_check; checks every restore point's packs and page map and rebuilds the newest and a sample; touches nothing live. Exit 1 if any fails (a damaged pack names the points it breaks)",
  schedule: '0 5 1 * *',
  positional: ['which'],
  event: backupVerifyEvent,
  examples: [
    ['$0 backup verify all', 'every stored backup'],
    ['$0 backup verify latest', 'the newest backup and the newest restore point'],
    ['$0 backup verify all --point-sample 20', 'and rebuild 20 older restore points too'],
  ],
  async run(e, { progress, signal }) {
    const stores = openBackupStores(e);
    const store = stores[0] as BackupStore;
    const others = stores.slice(1);
    const pointStore = openPointStore(e);
    const { backups } = await store.list();
    const { points } = await pointStore.list();
    const isPoint = e.which !== 'all' && e.which !== 'latest' && points.some((p) => p.id === e.which);
    const isBackup = backups.some((b) => b.id === e.which);
    if (e.which !== 'all' && e.which !== 'latest' && !isPoint && !isBackup) {
      throw new InvalidInputError(
        `no backup or restore point ${e.which} in ${store.location} or ${pointStore.location}; list them with 'ora-db backup list'`,
      );
    }
    // Every destination, each checked on its own: a copy can be damaged where another is not.
    const verifyAt = async (s: BackupStore, listed: typeof backups) => {
      let targets = e.which === 'all' ? listed : listed.filter((b) => b.id === e.which);
      if (e.which === 'latest') targets = listed.length > 0 ? [pickBackup(listed, s.location, { id: 'latest' })] : [];
      const results: VerifyResult[] = [];
      // One phase per destination: bytes decompressed, over every backup it verifies.
      const totalBytes = targets.reduce((n, m) => n + m.snapshot.bytes, 0);
      let before = 0;
      if (targets.length > 0) progress.phase?.('backups');
      for (const manifest of targets) {
        throwIfStopped(signal); // between two backups: each verification is complete or not recorded
        progress.update(before, totalBytes, 'bytes');
        const own = manifest.snapshot.bytes;
        results.push(
          await verifyBackup(s, manifest, e.maxProblems, (done) =>
            progress.update(before + Math.min(done, own), totalBytes, 'bytes'),
          ),
        );
        before += own;
      }
      if (targets.length > 0) progress.update(totalBytes, totalBytes, 'bytes');
      return { backupDir: s.location, verified: results.length, failed: results.filter((r) => !r.ok).length, results };
    };
    const main = await verifyAt(store, backups);
    const otherDestinations = [];
    for (const s of others) otherDestinations.push(await verifyAt(s, (await s.list()).backups));
    const results = main.results;
    const targets = results;
    let pointReport: CheckPointsReport | null = null;
    if (points.length > 0 && !isBackup) {
      progress.phase?.('restore points');
      pointReport = await checkRestorePoints(pointStore, {
        stagingDir: e.backupDir,
        id: isPoint ? e.which : e.which === 'latest' ? points[points.length - 1]?.id : undefined,
        sample: e.pointSample,
        progress,
        signal,
      });
    }
    const failed = [main, ...otherDestinations].flatMap((d) => d.results.filter((r) => !r.ok));
    const pointsFailed = pointReport ? pointReport.points.filter((p) => !p.ok).length : 0;
    const nothing = targets.length === 0 && !pointReport;
    return {
      status:
        failed.length > 0 || (pointReport && !pointReport.ok)
          ? ('failed' as const)
          : nothing
            ? ('skipped' as const)
            : ('ok' as const),
      backupDir: store.location,
      verified: results.length,
      failed: main.failed,
      results,
      otherDestinations,
      points: pointReport,
      pointsFailed,
      ...(nothing ? { reason: 'no backups or restore points to verify' } : {}),
    };
  },
  summarize: (r) => {
    const lines = [
      `backup-verify: ${r.status} — ${r.verified} backup(s) checked in ${r.backupDir}, ${r.failed} failed`,
      ...r.results.map((x) => `  ${x.ok ? 'ok    ' : 'FAILED'} ${x.id}${x.ok ? '' : `: ${x.detail}`}`),
    ];
    for (const d of r.otherDestinations) {
      lines.push(
        `${d.verified} backup(s) checked in ${d.backupDir}, ${d.failed} failed`,
        ...d.results.map((x) => `  ${x.ok ? 'ok    ' : 'FAILED'} ${x.id}${x.ok ? '' : `: ${x.detail}`}`),
      );
    }
    const p = r.points;
    if (p) {
      const rebuilt = p.points.filter((x) => x.rebuilt).length;
      lines.push(
        `restore points: ${p.points.length} checked in ${p.location} (${rebuilt} rebuilt and integrity_checked), ${r.pointsFailed} failed`,
      );
      for (const x of p.points) {
        if (x.rebuilt || !x.ok) lines.push(`  ${x.ok ? 'ok    ' : 'FAILED'} ${x.id}: ${x.detail}`);
      }
      for (const d of p.damagedPacks) {
        lines.push(`  damaged pack ${d.name} (${d.problem}) breaks restore point(s) ${d.breaks.join(', ')}`);
      }
      for (const u of p.unreadable) lines.push(`  unreadable manifest ${u.file}: ${u.problem}`);
    }
    return lines.join('\n');
  },
  metrics: (r) => [
    { name: 'ora_backup_verify_checked', help: 'Backups verified', value: r.verified },
    {
      name: 'ora_backup_verify_failed',
      help: 'Backups that failed verification (every destination)',
      value: r.failed + r.otherDestinations.reduce((n, d) => n + d.failed, 0),
    },
    ...(r.points
      ? [
          { name: 'ora_backup_verify_points_checked', help: 'Restore points checked', value: r.points.points.length },
          {
            name: 'ora_backup_verify_points_failed',
            help: 'Restore points that failed verification',
            value: r.pointsFailed,
          },
        ]
      : []),
  ],
});
