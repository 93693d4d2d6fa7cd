import {
  analyzeDatabase,
  checkIntegrity,
  checkpointWal,
  choiceField,
  integerField,
  openDatabase,
  pathField,
  switchJournalToWal,
} from '@ora/core';
import { defineJob } from '@ora/harness';
import * as z from 'zod';

export const dailyMaintenanceEvent = z.object({
  db: pathField('a database file path').describe('SQLite database file'),
  checkpointWaitMs: integerField(0, 60_000, 'milliseconds').describe(
    'Longest wait of the TRUNCATE checkpoint for readers; writers are held off meanwhile',
  ),
  analysisLimit: integerField(0, 100_000).describe('ANALYZE rows sampled per index (0 = all)'),
  busyTimeoutMs: integerField(0, 600_000, 'milliseconds').describe('Wait this long for a lock held by another process'),
  maxProblems: integerField(1, 10_000).describe('Most integrity problems listed'),
  journalMode: choiceField(['keep', 'wal'] as const)
    .default('keep')
    .describe(
      "'wal' switches a database in another journal mode to WAL (the guide's setting; persistent); 'keep' leaves it as it is",
    ),
});

const mib = (bytes: number) => `${(bytes / 1048576).toFixed(2)} MiB`;

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
    const db = openDatabase(e.db, { busyTimeoutMs: e.busyTimeoutMs });
    try {
      const journalBefore = String(db.pragma('journal_mode')).toLowerCase();
      if (e.journalMode === 'wal' && journalBefore !== 'wal') switchJournalToWal(db);
      const journalMode = String(db.pragma('journal_mode')).toLowerCase();
      const journal = { before: journalBefore, after: journalMode, changed: journalBefore !== journalMode };
      if (journal.changed)
        logger.info(journal, `journal mode switched from ${journalBefore} to ${journalMode} (--journal-mode wal)`);
      const wal = checkpointWal(db, e.checkpointWaitMs);
      if (wal.pinned) {
        logger.warn(
          { framesLeft: wal.framesLeft },
          `readers kept the WAL pinned: TRUNCATE gave up after ${e.checkpointWaitMs} ms with ${wal.framesLeft} frames left`,
        );
      }
      const analyze = analyzeDatabase(db, e.analysisLimit);
      const integrity = checkIntegrity(db, { full: false, maxProblems: e.maxProblems });
      const status = !integrity.ok ? 'failed' : wal.pinned ? 'warn' : 'ok';
      return {
        status,
        journalMode,
        journal,
        checkpoint: wal,
        analyze,
        integrity,
        ...(wal.pinned
          ? { reason: `WAL pinned by readers: ${wal.framesLeft} frames left after ${e.checkpointWaitMs} ms` }
          : {}),
      } as const;
    } finally {
      db.close();
    }
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
