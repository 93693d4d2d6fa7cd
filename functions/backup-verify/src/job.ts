import { configField, throwIfStopped } from '@ora/core';
import {
  backupSelectorField,
  backupStoreFields,
  openBackupStore,
  pickBackup,
  type VerifyResult,
  verifyBackup,
} from '@ora/core/backup';
import { defineJob } from '@ora/harness';
import * as z from 'zod';

export const backupVerifyEvent = z.object({
  which: backupSelectorField(['all']).default('all').describe('A backup id, latest, or all'),
  ...backupStoreFields(),
  maxProblems: configField('maxProblems'),
});

export const backupVerifyJob = defineJob({
  name: 'backup-verify',
  describe:
    "The guide's 'test restores monthly' as a job: re-reads stored backups, checks their SHA-256, decompresses them to a temp file and runs integrity_check; touches nothing live. Exit 1 if any fails",
  schedule: '0 5 1 * *',
  positional: ['which'],
  event: backupVerifyEvent,
  examples: [
    ['$0 backup verify all', 'every stored backup'],
    ['$0 backup verify latest', 'the newest one'],
  ],
  async run(e, { progress, signal }) {
    const store = openBackupStore(e);
    const { backups } = await store.list();
    const targets = e.which === 'all' ? backups : [pickBackup(backups, store.location, { id: e.which })];
    const results: VerifyResult[] = [];
    for (const [i, manifest] of targets.entries()) {
      throwIfStopped(signal); // between two backups: each verification is complete or not recorded
      progress.update(i, targets.length, 'backups');
      results.push(await verifyBackup(store, manifest, e.maxProblems));
    }
    if (targets.length > 0) progress.update(targets.length, targets.length, 'backups');
    const failed = results.filter((r) => !r.ok);
    return {
      status: failed.length > 0 ? ('failed' as const) : targets.length === 0 ? ('skipped' as const) : ('ok' as const),
      backupDir: store.location,
      verified: results.length,
      failed: failed.length,
      results,
      ...(targets.length === 0 ? { reason: 'no backups to verify' } : {}),
    };
  },
  summarize: (r) =>
    [
      `backup-verify: ${r.status} — ${r.verified} backup(s) checked in ${r.backupDir}, ${r.failed} failed`,
      ...r.results.map((x) => `  ${x.ok ? 'ok    ' : 'FAILED'} ${x.id}${x.ok ? '' : `: ${x.detail}`}`),
    ].join('\n'),
  metrics: (r) => [
    { name: 'ora_backup_verify_checked', help: 'Backups verified', value: r.verified },
    { name: 'ora_backup_verify_failed', help: 'Backups that failed verification', value: r.failed },
  ],
});
