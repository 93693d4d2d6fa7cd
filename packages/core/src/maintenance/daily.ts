import { openDatabase, switchJournalToWal } from '../connection/connection.js';
import { journalMode } from '../connection/journal.js';
import { checkIntegrity, type IntegrityResult } from '../integrity/integrity.js';
import { type AnalyzeReport, analyzeDatabase } from './analyze.js';
import { checkpointWal, type WalCheckpointReport } from './checkpoint.js';

export interface DailyMaintenanceOptions {
  checkpointWaitMs: number;
  analysisLimit: number;
  busyTimeoutMs: number;
  maxProblems: number;
  /** `wal` switches a database in another journal mode to WAL (persistent); `keep` leaves it. */
  journalMode: 'keep' | 'wal';
}

/** A type, not an interface, so that it is a job outcome (which takes any further field). */
export type DailyMaintenanceResult = {
  status: 'ok' | 'warn' | 'failed';
  journalMode: string;
  journal: { before: string; after: string; changed: boolean };
  checkpoint: WalCheckpointReport;
  analyze: AnalyzeReport;
  integrity: IntegrityResult;
  reason?: string;
};

/**
 * `dailyMaintenance(path, options): DailyMaintenanceResult` — the guide's daily maintenance made
 * safe for production: the journal mode switched to WAL only when asked, a PASSIVE then bounded
 * TRUNCATE checkpoint, bounded ANALYZE with PRAGMA optimize, quick_check. `failed` when
 * quick_check fails, `warn` when readers kept the WAL pinned past `checkpointWaitMs`.
 *
 * ### Examples
 * ```ts
 * const r = dailyMaintenance('ora.db', { ...config, journalMode: 'keep' });
 * r.checkpoint.pinned; // false
 * ```
 */
export function dailyMaintenance(path: string, o: DailyMaintenanceOptions): DailyMaintenanceResult {
  const db = openDatabase(path, { busyTimeoutMs: o.busyTimeoutMs });
  try {
    const before = journalMode(db);
    if (o.journalMode === 'wal' && before !== 'wal') switchJournalToWal(db);
    const after = journalMode(db);
    const wal = checkpointWal(db, o.checkpointWaitMs);
    const analyze = analyzeDatabase(db, o.analysisLimit);
    const integrity = checkIntegrity(db, { full: false, maxProblems: o.maxProblems });
    return {
      status: !integrity.ok ? 'failed' : wal.pinned ? 'warn' : 'ok',
      journalMode: after,
      journal: { before, after, changed: before !== after },
      checkpoint: wal,
      analyze,
      integrity,
      ...(wal.pinned
        ? { reason: `WAL pinned by readers: ${wal.framesLeft} frames left after ${o.checkpointWaitMs} ms` }
        : {}),
    };
  } finally {
    db.close();
  }
}
