import { booleanField, configField, InvalidInputError, pathField } from '@ora/core';
import { backupSelectorField, backupStoreFields, isoTimeField, openBackupStore, restoreBackup } from '@ora/core/backup';
import { chooseRestoreSource, openPointStore } from '@ora/core/pitr';
import { defineJob } from '@ora/harness';
import * as z from 'zod';

export const restoreEvent = z.object({
  backup: backupSelectorField()
    .optional()
    .describe('A backup or restore point id, or latest (default: the newest verified backup or restore point)'),
  at: isoTimeField()
    .optional()
    .describe('Restore the newest verified backup or restore point taken at or before this time'),
  db: configField('db', 'The live database to restore into'),
  to: pathField('a file path').optional().describe('Restore into this new path instead of the live database'),
  ...backupStoreFields(),
  archiveDir: pathField('a directory path')
    .optional()
    .describe('Where the yearly archives lie (default: beside --db); restored orders also archived are counted'),
  dryRun: booleanField().default(false).describe('Say what would be restored, change nothing'),
  busyTimeoutMs: configField('busyTimeoutMs'),
  maxProblems: configField('maxProblems'),
});

function parseAt(at: string): Date {
  return new Date(/T.*(Z|[+-]\d{2}:\d{2})$/.test(at) || !at.includes('T') ? at : `${at}Z`);
}

export const restoreJob = defineJob({
  name: 'restore',
  describe:
    'Restore a verified backup or restore point (by id, latest, or --at time: the newest at or before it) into the live database in one write transaction (safe with WAL files, open connections and concurrent writers; a copy of the current database is kept first, and any failure rolls back), or --to a new path',
  schedule: null,
  heavy: true,
  positional: ['backup'],
  lockTarget: (e) => (e.to || e.dryRun ? null : e.db),
  event: restoreEvent,
  examples: [
    ['$0 restore latest --db /data/ora.db', 'the newest verified backup, into the live database'],
    ['$0 restore --at 2026-11-20T08:00:00Z --to /tmp/ora-nov20.db', 'as of a time, to a side file'],
    ['$0 restore --at 2026-11-20T16:55 --db /data/ora.db', 'the live database as of 16:55 UTC (a restore point)'],
    ['$0 restore latest --dry-run', 'what would happen'],
  ],
  async run(e, { progress, signal }) {
    if (e.at && e.backup) {
      throw new InvalidInputError(`give a backup id or --at, not both (got '${e.backup}' and --at ${e.at})`);
    }
    const { source, unreadablePoints } = await chooseRestoreSource(openBackupStore(e), openPointStore(e), {
      id: e.backup,
      at: e.at ? parseAt(e.at) : undefined,
    });
    const what = `${source.kind === 'point' ? 'restore point' : 'backup'} ${source.id}`;
    const target = e.to ?? e.db;
    if (e.dryRun) {
      return {
        status: 'skipped' as const,
        reason: `dry run: would restore ${what} (taken ${source.createdAt}) into ${target}${e.to ? ' (new file)' : ', keeping a copy of the current database first'}`,
        backupId: source.id,
        kind: source.kind,
        backupCreatedAt: source.createdAt,
        target,
        unreadablePoints,
      };
    }
    const report = await restoreBackup({
      source,
      target,
      toNewPath: e.to !== undefined,
      busyTimeoutMs: e.busyTimeoutMs,
      maxProblems: e.maxProblems,
      progress,
      signal,
      ...(e.archiveDir ? { archiveDir: e.archiveDir } : {}),
    });
    return {
      status: unreadablePoints.length > 0 ? ('warn' as const) : ('ok' as const),
      backupCreatedAt: source.createdAt,
      ...report,
      unreadablePoints,
    };
  },
  summarize: (r) => {
    if (r.status === 'skipped') return `restore: skipped — ${r.reason}`;
    let text = `restore: ${r.status} — ${r.kind === 'point' ? 'restore point ' : ''}${r.backupId} (taken ${r.backupCreatedAt}) restored into ${r.target}`;
    if (r.preRestoreCopy) text += `; the replaced database is kept as ${r.preRestoreCopy}`;
    if (r.lockHeldMs !== undefined) text += `; writers waited at most ${r.lockHeldMs} ms`;
    const a = r.archivedOrders;
    if (a && a.count > 0) {
      text += `\nnote: ${a.count} restored order${a.count === 1 ? '' : 's'} also sit${a.count === 1 ? 's' : ''} in ${a.archives.join(', ')} (the backup predates an archive run); run '${a.command}' to archive ${a.count === 1 ? 'it' : 'them'} again (idempotent: rows already archived are checked and removed from the live database only)`;
    }
    for (const u of r.unreadablePoints)
      text += `\nwarning: restore point manifest ${u.file} is unreadable (${u.problem}); it was not considered`;
    return text;
  },
});
