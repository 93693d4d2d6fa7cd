import { InvalidInputError } from '../errors/errors.js';
import type { DatabaseStats } from '../stats/database-stats.js';
import { isInWindow, parseWindow } from './window.js';

/** `auto` picks incremental steps for an auto_vacuum=INCREMENTAL database, else a full VACUUM. */
export type VacuumModeChoice = 'auto' | 'full' | 'incremental';

export interface VacuumPlan {
  mode: 'full' | 'incremental';
  /** False when free pages do not exceed the threshold: nothing to gain, no write lock taken. */
  vacuum: boolean;
  /** Why there is no VACUUM (with `vacuum: false`). */
  reason?: string;
}

function localTime(d: Date): string {
  return `${String(d.getHours()).padStart(2, '0')}:${String(d.getMinutes()).padStart(2, '0')}`;
}

/**
 * `vacuumWindowRefusal(window, force, now): string | null` — why VACUUM may not run now: `now`
 * (local time) is outside the maintenance window `HH:MM-HH:MM` and `force` is not given. Null
 * when it may run. Decided before the database is opened.
 *
 * ### Examples
 * ```ts
 * vacuumWindowRefusal('00:00-05:00', false, new Date('2026-12-02T14:00')); // 'outside the maintenance window …'
 * ```
 */
export function vacuumWindowRefusal(window: string, force: boolean, now: Date): string | null {
  const parsed = parseWindow(window);
  if (!parsed || force || isInWindow(parsed, now)) return null;
  return `outside the maintenance window ${parsed.text} (local time now ${localTime(now)}); VACUUM never runs during peak hours — use --force to run anyway`;
}

/**
 * `planVacuum(stats, { mode, thresholdPct, path }): VacuumPlan` — whether VACUUM runs, and how:
 * only when free pages exceed `thresholdPct` (the guide's 25 %), incrementally where the database
 * allows it. `mode: 'incremental'` on a database without auto_vacuum=INCREMENTAL is INVALID_INPUT
 * (exit 2). Pure.
 *
 * ### Examples
 * ```ts
 * planVacuum(collectStats(db), { mode: 'auto', thresholdPct: 25, path: db.path });
 * // { mode: 'full', vacuum: true }
 * ```
 */
export function planVacuum(
  stats: Pick<DatabaseStats, 'freePct' | 'autoVacuum'>,
  options: { mode: VacuumModeChoice; thresholdPct: number; path: string },
): VacuumPlan {
  const mode = options.mode === 'auto' ? (stats.autoVacuum === 'incremental' ? 'incremental' : 'full') : options.mode;
  if (mode === 'incremental' && stats.autoVacuum !== 'incremental') {
    throw new InvalidInputError(
      `--mode incremental needs a database with auto_vacuum=INCREMENTAL; ${options.path} has auto_vacuum=${stats.autoVacuum} — use --mode full`,
    );
  }
  if (stats.freePct <= options.thresholdPct) {
    return {
      mode,
      vacuum: false,
      reason: `free pages ${stats.freePct}% do not exceed the ${options.thresholdPct}% threshold: no VACUUM needed`,
    };
  }
  return { mode, vacuum: true };
}
