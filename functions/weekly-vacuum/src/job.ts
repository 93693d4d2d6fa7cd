import { booleanField, choiceField, configField, integerField, formatMib as mib, weeklyVacuum } from '@ora/core';
import { defineJob } from '@ora/harness';
import * as z from 'zod';

export const weeklyVacuumEvent = z.object({
  db: configField('db', 'SQLite database file'),
  vacuumThresholdPct: configField('vacuumThresholdPct', 'VACUUM only when free pages exceed this percentage'),
  maintenanceWindow: configField('maintenanceWindow', 'Local time window HH:MM-HH:MM in which VACUUM may run'),
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
  checkpointWaitMs: configField('checkpointWaitMs', 'Longest wait of the final TRUNCATE checkpoint for readers'),
  analysisLimit: configField('analysisLimit'),
  busyTimeoutMs: configField('busyTimeoutMs'),
  maxProblems: configField('maxProblems'),
});

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
  run: (e, { logger, progress, signal }) =>
    weeklyVacuum(e.db, {
      ...e,
      now: new Date(),
      progress,
      signal,
      onSpaceChecked: (space) =>
        logger.info({ neededBytes: space.neededBytes, freeBytes: space.freeBytes }, 'disk has room for VACUUM'),
    }),
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
