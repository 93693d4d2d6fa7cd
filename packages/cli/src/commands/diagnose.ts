import {
  diagnoseLocks,
  explainStatement,
  foreignKeyViolations,
  InvalidInputError,
  integerField,
  openDatabase,
  journalMode as readJournalMode,
  textField,
  withDatabase,
} from '@ora/core';
import { defineJob } from '@ora/harness';
import * as z from 'zod';
import { databaseFields } from './database-options.js';

export const diagnoseLocksCommand = defineJob({
  name: 'diagnose locks',
  describe:
    "The guide's 'database is locked' diagnosis: can a write lock be taken within --wait-ms, what a PASSIVE checkpoint reports, which processes hold the database, -wal or -shm open",
  schedule: null,
  event: z.object({
    ...databaseFields,
    waitMs: integerField(0, 600_000, 'milliseconds').default(1000).describe('How long to try for the write lock'),
  }),
  run(e) {
    return withDatabase(openDatabase(e.db, { busyTimeoutMs: e.busyTimeoutMs }), (db) => {
      const d = diagnoseLocks(db, e.waitMs);
      // Reported, never changed: a DELETE-mode database stays in DELETE mode (SPEC §4.7).
      const journalMode = readJournalMode(db);
      return { status: d.writeLock.available ? ('ok' as const) : ('warn' as const), journalMode, ...d };
    });
  },
  summarize: (r) =>
    [
      `diagnose locks: ${r.status} — ${r.database}: ${r.writeLock.message}`,
      `  journal mode ${r.journalMode} (unchanged)`,
      r.journalMode === 'wal'
        ? `  checkpoint PASSIVE: busy=${r.checkpoint.busy ? 1 : 0}, log frames ${r.checkpoint.logFrames}, checkpointed ${r.checkpoint.checkpointedFrames}`
        : '  checkpoint PASSIVE: not applicable (no WAL in this journal mode)',
      r.holders === null
        ? '  open-file holders: unknown (no /proc on this system)'
        : r.holders.length === 0
          ? '  no other process has the database files open'
          : `  held open by:\n${r.holders.map((h) => `    pid ${h.pid} [${h.files.join(',')}] ${h.command}`).join('\n')}`,
    ].join('\n'),
});

export const diagnoseFkCommand = defineJob({
  name: 'diagnose fk',
  describe: 'PRAGMA foreign_key_check with each orphan row and the parent key it points at',
  schedule: null,
  event: z.object({
    ...databaseFields,
    limit: integerField(1, 100_000).default(100).describe('Most orphan rows shown (all are counted)'),
  }),
  run(e) {
    return withDatabase(openDatabase(e.db, { readonly: true, busyTimeoutMs: e.busyTimeoutMs }), (db) => {
      const { total, violations } = foreignKeyViolations(db, e.limit);
      return { status: total === 0 ? ('ok' as const) : ('failed' as const), total, violations };
    });
  },
  summarize: (r) =>
    r.total === 0
      ? `diagnose fk: ok — ${r.database}: no foreign key violations`
      : [
          `diagnose fk: failed — ${r.database}: ${r.total} orphan row(s)`,
          ...r.violations.map(
            (v) =>
              `  ${v.table} rowid ${v.rowid}: ${v.key.map((k) => `${k.column}=${JSON.stringify(k.value)}`).join(', ')} has no parent in ${v.parentTable}(${v.key.map((k) => k.parentColumn).join(', ')})`,
          ),
        ].join('\n'),
});

function parseParams(text: string | undefined): unknown[] | Record<string, unknown> | undefined {
  if (text === undefined) return undefined;
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    throw new InvalidInputError(
      `--params is not valid JSON (${(error as Error).message}); pass e.g. --params '["2025-01-01"]' or '{"sku":"A-1"}'`,
    );
  }
  if (value === null || typeof value !== 'object') {
    throw new InvalidInputError(
      '--params must be a JSON array (positional ?) or object (named :name); e.g. --params \'["2025-01-01"]\'',
    );
  }
  return value as unknown[] | Record<string, unknown>;
}

export const explainCommand = defineJob({
  name: 'explain',
  describe:
    "The guide's analyze_query_performance: query plan, execution time, rows, and a warning for full scans of large tables. Refuses statements that write unless --allow-write (then rolled back)",
  schedule: null,
  positional: ['sql'],
  event: z.object({
    ...databaseFields,
    sql: textField('an SQL statement', 100_000).describe('One SQL statement'),
    params: textField('JSON', 100_000).optional().describe('Parameters as a JSON array (?) or object (:name)'),
    allowWrite: z.boolean().default(false).describe('Run a writing statement inside a transaction that is rolled back'),
    largeTableRows: integerField(1, 1_000_000_000)
      .default(10_000)
      .describe('Warn about full scans of tables with at least this many rows'),
    maxRows: integerField(1, 100_000_000).default(1_000_000).describe('Stop counting result rows here'),
  }),
  examples: [
    ['$0 explain "SELECT * FROM shipped_items WHERE ship_date > ?" --params \'["2025-01-01"]\'', 'plan, time and rows'],
    [
      '$0 explain "DELETE FROM workflows WHERE status = \'failed\'" --allow-write',
      'measure a write, then roll it back',
    ],
  ],
  run(e) {
    const params = parseParams(e.params);
    return withDatabase(openDatabase(e.db, { readonly: !e.allowWrite, busyTimeoutMs: e.busyTimeoutMs }), (db) => {
      const result = explainStatement(db, e.sql, {
        params,
        allowWrite: e.allowWrite,
        largeTableRows: e.largeTableRows,
        maxRows: e.maxRows,
      });
      const journalMode = readJournalMode(db);
      return { status: result.warnings.length > 0 ? ('warn' as const) : ('ok' as const), journalMode, ...result };
    });
  },
  summarize: (r) =>
    [
      `explain: ${r.status} — ${r.executionMs} ms, ${r.rows}${r.rowsTruncated ? '+' : ''} row(s)${r.rolledBack ? ' changed, rolled back' : ''}`,
      ...r.plan.map((s) => `  ${s.detail}`),
      ...r.warnings.map((w) => `  warning: ${w}`),
    ].join('\n'),
});
