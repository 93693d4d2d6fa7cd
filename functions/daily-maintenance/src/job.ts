import { choiceField, configField, dailyMaintenance, formatMib as mib } from '@ora/core';
import { defineJob } from '@ora/harness';
import * as z from 'zod';

export const dailyMaintenanceEvent = z.object({
  db: configField('db', 'SQLite database file'),
  checkpointWaitMs: configField(
    'checkpointWaitMs',
    'Longest wait of the TRUNCATE checkpoint for readers; writers are held off meanwhile',
  ),
  analysisLimit: configField('analysisLimit'),
  busyTimeoutMs: configField('busyTimeoutMs'),
  maxProblems: configField('maxProblems'),
  journalMode: choiceField(['keep', 'wal'] as const)
    .default('keep')
    .describe(
      "'wal' switches a database in another journal mode to WAL (the guide's setting; persistent); 'keep' leaves it as it is",
    ),
});

export const dailyMaintenanceJob = defineJob({
  name: 'daily-maintenance',
  describe:
    "Daily maintenance (the guide's daily_maintenance.py, made safe for production): PASSIVE then bounded TRUNCATE WAL checkpoint, bounded ANALYZE, PRAGMA optimize, quick_check",
  schedule: '0 2 * * *',
  heavy: true,
  event: dailyMaintenanceEvent,
  examples: [
    ['$0 daily-maintenance --db /data/ora.db', 'run it as cron would'],
    ['$0 daily-maintenance --checkpoint-wait-ms 500 --json', 'give up on a pinned WAL after 0.5 s'],
    ['$0 daily-maintenance --journal-mode wal', 'also switch a DELETE-mode database to WAL, and say so'],
  ],
  run(e, { logger }) {
    const r = dailyMaintenance(e.db, e);
    const { journal, checkpoint: wal } = r;
    if (journal.changed)
      logger.info(journal, `journal mode switched from ${journal.before} to ${journal.after} (--journal-mode wal)`);
    if (wal.pinned) {
      logger.warn(
        { framesLeft: wal.framesLeft },
        `readers kept the WAL pinned: TRUNCATE gave up after ${e.checkpointWaitMs} ms with ${wal.framesLeft} frames left`,
      );
    }
    return r;
  },
  summarize: (r) =>
    [
      `daily-maintenance: ${r.status} — ${r.database}: journal ${r.journal.changed ? `${r.journal.before} → ${r.journal.after} (switched, --journal-mode wal)` : `${r.journalMode} (unchanged)`}, ${r.journalMode === 'wal' ? `WAL ${mib(r.checkpoint.walBytesBefore)} → ${mib(r.checkpoint.walBytesAfter)}${r.checkpoint.pinned ? ` (pinned by readers, ${r.checkpoint.framesLeft} frames left)` : ''}` : 'no WAL to checkpoint'}, ANALYZE ${r.analyze.analyzeMs} ms (limit ${r.analyze.analysisLimit}), optimize ${r.analyze.optimizeMs} ms, quick_check ${r.integrity.ok ? 'ok' : 'FAILED'}`,
      ...r.integrity.problems.map((p) => `  problem: ${p}`),
    ].join('\n'),
  metrics: (r) => [
    {
      name: 'ora_maintenance_wal_bytes_before',
      help: 'WAL size before the checkpoint',
      value: r.checkpoint.walBytesBefore,
    },
    {
      name: 'ora_maintenance_wal_bytes_after',
      help: 'WAL size after the checkpoint',
      value: r.checkpoint.walBytesAfter,
    },
    {
      name: 'ora_maintenance_wal_frames_left',
      help: 'WAL frames readers kept from the checkpoint',
      value: r.checkpoint.framesLeft,
    },
    {
      name: 'ora_maintenance_analyze_seconds',
      help: 'ANALYZE wall time (write lock held)',
      value: r.analyze.analyzeMs / 1000,
    },
    {
      name: 'ora_db_integrity_ok',
      help: "1 when the run's integrity check (quick_check or integrity_check) passed",
      value: r.integrity.ok ? 1 : 0,
    },
  ],
});
