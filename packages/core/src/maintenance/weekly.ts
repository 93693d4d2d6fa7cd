import { openDatabase } from '../connection/connection.js';
import { journalMode } from '../connection/journal.js';
import { throwIfStopped } from '../errors/errors.js';
import { checkIntegrity, type IntegrityResult } from '../integrity/integrity.js';
import type { ProgressSink } from '../progress.js';
import { collectStats } from '../stats/database-stats.js';
import { type AnalyzeReport, analyzeDatabase } from './analyze.js';
import { checkpointWal, type WalCheckpointReport } from './checkpoint.js';
import { planVacuum, type VacuumModeChoice, vacuumWindowRefusal } from './plan-vacuum.js';
import { checkVacuumSpace, type SpaceCheck, type VacuumReport, vacuumFull, vacuumIncremental } from './vacuum.js';

export interface WeeklyVacuumOptions {
  vacuumThresholdPct: number;
  maintenanceWindow: string;
  /** Run outside the maintenance window. */
  force: boolean;
  mode: VacuumModeChoice;
  /** Incremental mode: pages freed per step, and the pause between steps. */
  stepPages: number;
  pauseMs: number;
  checkpointWaitMs: number;
  analysisLimit: number;
  busyTimeoutMs: number;
  maxProblems: number;
  now: Date;
  progress: ProgressSink;
  signal?: AbortSignal | undefined;
  /** Told the disk has room before a full VACUUM starts (for the log). */
  onSpaceChecked?: (space: SpaceCheck) => void;
}

export type WeeklyVacuumResult =
  | { status: 'skipped'; reason: string }
  | {
      status: 'ok' | 'warn' | 'skipped' | 'failed';
      reason?: string;
      journalMode: string;
      mode: 'full' | 'incremental';
      sizeBytesBefore: number;
      freePctBefore: number;
      thresholdPct: number;
      vacuum: VacuumReport | null;
      integrity: IntegrityResult;
      analyze: AnalyzeReport;
      checkpoint: WalCheckpointReport;
    };

/**
 * `weeklyVacuum(path, options): Promise<WeeklyVacuumResult>` — the guide's weekly maintenance with
 * its guards: outside the window (unless `force`) nothing is opened; VACUUM runs only as
 * `planVacuum` decides and after `checkVacuumSpace`; then integrity_check, ANALYZE and the bounded
 * TRUNCATE checkpoint. The status is `failed` when integrity_check fails, `skipped` without a
 * VACUUM, `warn` when readers pinned the WAL. The journal mode is reported, never changed.
 *
 * ### Examples
 * ```ts
 * const r = await weeklyVacuum('ora.db', { ...config, force: false, mode: 'auto', stepPages: 256,
 *   pauseMs: 50, now: new Date(), progress });
 * ```
 */
export async function weeklyVacuum(path: string, o: WeeklyVacuumOptions): Promise<WeeklyVacuumResult> {
  const refusal = vacuumWindowRefusal(o.maintenanceWindow, o.force, o.now);
  if (refusal) return { status: 'skipped', reason: refusal };
  const db = openDatabase(path, { busyTimeoutMs: o.busyTimeoutMs });
  try {
    const before = collectStats(db);
    const plan = planVacuum(before, { mode: o.mode, thresholdPct: o.vacuumThresholdPct, path });
    let vacuum: VacuumReport | null = null;
    if (plan.vacuum && plan.mode === 'incremental') {
      vacuum = await vacuumIncremental(db, o.stepPages, o.pauseMs, { progress: o.progress, signal: o.signal });
    } else if (plan.vacuum) {
      o.onSpaceChecked?.(checkVacuumSpace(db, before));
      vacuum = await vacuumFull(db, { progress: o.progress, signal: o.signal, busyTimeoutMs: o.busyTimeoutMs });
    }
    throwIfStopped(o.signal);
    o.progress.phase?.('integrity_check');
    const integrity = checkIntegrity(db, { full: true, maxProblems: o.maxProblems });
    throwIfStopped(o.signal);
    const analyze = analyzeDatabase(db, o.analysisLimit);
    const checkpoint = checkpointWal(db, o.checkpointWaitMs);
    const status = !integrity.ok ? 'failed' : vacuum === null ? 'skipped' : checkpoint.pinned ? 'warn' : 'ok';
    return {
      status,
      ...(plan.reason ? { reason: plan.reason } : {}),
      // Reported, never changed (SPEC §4.7); VACUUM keeps the journal mode.
      journalMode: journalMode(db),
      mode: plan.mode,
      sizeBytesBefore: before.pageCount * before.pageSize,
      freePctBefore: before.freePct,
      thresholdPct: o.vacuumThresholdPct,
      vacuum,
      integrity,
      analyze,
      checkpoint,
    };
  } finally {
    db.close();
  }
}
