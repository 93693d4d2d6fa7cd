import {
  analyzeDatabase,
  booleanField,
  checkIntegrity,
  checkpointWal,
  checkVacuumSpace,
  choiceField,
  collectStats,
  InvalidInputError,
  integerField,
  isInWindow,
  numberField,
  openDatabase,
  parseWindow,
  pathField,
  throwIfStopped,
  type VacuumReport,
  vacuumFull,
  vacuumIncremental,
  windowField,
} from '@ora/core';
import { defineJob } from '@ora/harness';
import * as z from 'zod';

export const weeklyVacuumEvent = z.object({
  db: pathField('a database file path').describe('SQLite database file'),
  vacuumThresholdPct: numberField(0, 100, 'percent').describe('VACUUM only when free pages exceed this percentage'),
  maintenanceWindow: windowField().describe('Local time window HH:MM-HH:MM in which VACUUM may run'),
  force: booleanField().default(false).describe('Run outside the maintenance window'),
  mode: choiceField(['auto', 'full', 'incremental'] as const)
    .default('auto')
    .describe(
      'full VACUUM, or incremental_vacuum steps (auto: incremental when the database uses auto_vacuum=INCREMENTAL)',
    ),
  stepPages: integerField(1, 1_000_000).default(256).describe('incremental mode: pages freed per step'),
  pauseMs: integerField(0, 60_000, 'milliseconds')
    .default(50)
    .describe('incremental mode: pause between steps, when writers get in'),
  checkpointWaitMs: integerField(0, 60_000, 'milliseconds').describe(
    'Longest wait of the final TRUNCATE checkpoint for readers',
  ),
  analysisLimit: integerField(0, 100_000).describe('ANALYZE rows sampled per index (0 = all)'),
  busyTimeoutMs: integerField(0, 600_000, 'milliseconds').describe('Wait this long for a lock held by another process'),
  maxProblems: integerField(1, 10_000).describe('Most integrity problems listed'),
});

const mib = (bytes: number) => `${(bytes / 1048576).toFixed(2)} MiB`;

function localTime(d: Date): string {
  return `${String(d.getHours()).padStart(2, '0')}:${String(d.getMinutes()).padStart(2, '0')}`;
}

export const weeklyVacuumJob = defineJob({
  name: 'weekly-vacuum',
  describe:
    "Weekly maintenance (the guide's weekly_maintenance.py with guards): VACUUM only above the free-page threshold, inside the maintenance window (unless --force) and with disk room; then integrity_check, ANALYZE, TRUNCATE checkpoint",
  schedule: '0 3 * * 0',
  heavy: true,
  event: weeklyVacuumEvent,
  examples: [
    ['$0 weekly-vacuum --db /data/ora.db', 'as cron runs it, Sunday 03:00'],
    ['$0 weekly-vacuum --force --vacuum-threshold-pct 10', 'now, outside the window, above 10 % free'],
    [
      '$0 weekly-vacuum --mode incremental --step-pages 128 --pause-ms 100',
      'gentle steps (auto_vacuum=INCREMENTAL databases)',
    ],
  ],
  async run(e, { logger, progress, signal }) {
    const window = parseWindow(e.maintenanceWindow);
    const now = new Date();
    if (window && !e.force && !isInWindow(window, now)) {
      return {
        status: 'skipped' as const,
        reason: `outside the maintenance window ${window.text} (local time now ${localTime(now)}); VACUUM never runs during peak hours — use --force to run anyway`,
      };
    }
    const db = openDatabase(e.db, { busyTimeoutMs: e.busyTimeoutMs });
    try {
      const before = collectStats(db);
      const mode = e.mode === 'auto' ? (before.autoVacuum === 'incremental' ? 'incremental' : 'full') : e.mode;
      if (mode === 'incremental' && before.autoVacuum !== 'incremental') {
        throw new InvalidInputError(
          `--mode incremental needs a database with auto_vacuum=INCREMENTAL; ${e.db} has auto_vacuum=${before.autoVacuum} — use --mode full`,
        );
      }
      let vacuum: VacuumReport | null = null;
      let reason: string | undefined;
      if (before.freePct <= e.vacuumThresholdPct) {
        reason = `free pages ${before.freePct}% do not exceed the ${e.vacuumThresholdPct}% threshold: no VACUUM needed`;
      } else if (mode === 'incremental') {
        vacuum = await vacuumIncremental(db, e.stepPages, e.pauseMs, { progress, signal });
      } else {
        const space = checkVacuumSpace(db, before);
        logger.info({ neededBytes: space.neededBytes, freeBytes: space.freeBytes }, 'disk has room for VACUUM');
        vacuum = await vacuumFull(db, { progress, signal, busyTimeoutMs: e.busyTimeoutMs });
      }
      throwIfStopped(signal);
      progress.phase?.('integrity_check');
      const integrity = checkIntegrity(db, { full: true, maxProblems: e.maxProblems });
      throwIfStopped(signal);
      const analyze = analyzeDatabase(db, e.analysisLimit);
      const checkpoint = checkpointWal(db, e.checkpointWaitMs);
      const status = !integrity.ok ? 'failed' : vacuum === null ? 'skipped' : checkpoint.pinned ? 'warn' : 'ok';
      return {
        status,
        ...(reason ? { reason } : {}),
        // Reported, never changed (SPEC §4.7); VACUUM keeps the journal mode.
        journalMode: String(db.pragma('journal_mode')).toLowerCase(),
        mode,
        sizeBytesBefore: before.pageCount * before.pageSize,
        freePctBefore: before.freePct,
        thresholdPct: e.vacuumThresholdPct,
        vacuum,
        integrity,
        analyze,
        checkpoint,
      } as const;
    } finally {
      db.close();
    }
  },
  summarize: (r) => {
    if (!('integrity' in r)) return `weekly-vacuum: skipped — ${r.reason}`;
    const v = r.vacuum
      ? `${r.vacuum.mode} VACUUM ${mib(r.vacuum.sizeBytesBefore)} → ${mib(r.vacuum.sizeBytesAfter)} (${r.vacuum.pagesFreed} pages freed, write lock held ${r.vacuum.writeLockMs} ms${r.vacuum.steps > 1 ? ` at most, ${r.vacuum.steps} steps` : ''})`
      : `no VACUUM (${r.reason})`;
    return [
      `weekly-vacuum: ${r.status} — ${r.database}: ${v}, integrity_check ${r.integrity.ok ? 'ok' : 'FAILED'}, ANALYZE ${r.analyze.analyzeMs} ms, journal ${r.journalMode} (unchanged)${r.journalMode === 'wal' ? `, WAL ${mib(r.checkpoint.walBytesAfter)} after checkpoint` : ''}`,
      ...r.integrity.problems.map((p) => `  problem: ${p}`),
    ].join('\n');
  },
  metrics: (r) =>
    'integrity' in r
      ? [
          { name: 'ora_vacuum_size_bytes_before', help: 'Database size before', value: r.sizeBytesBefore },
          {
            name: 'ora_vacuum_size_bytes_after',
            help: 'Database size after',
            value: r.vacuum?.sizeBytesAfter ?? r.sizeBytesBefore,
          },
          {
            name: 'ora_vacuum_pages_freed',
            help: 'Pages VACUUM returned to the filesystem',
            value: r.vacuum?.pagesFreed ?? 0,
          },
          {
            name: 'ora_vacuum_write_lock_seconds',
            help: 'Longest write-lock hold of VACUUM',
            value: (r.vacuum?.writeLockMs ?? 0) / 1000,
          },
          {
            name: 'ora_db_integrity_ok',
            help: "1 when the run's integrity check (quick_check or integrity_check) passed",
            value: r.integrity.ok ? 1 : 0,
          },
        ]
      : [],
});
