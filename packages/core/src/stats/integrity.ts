import type { OraDatabase } from '../connection/connection.js';
import { DatabaseCorruptError, NotADatabaseError } from '../errors/errors.js';

export interface IntegrityOptions {
  /** `integrity_check` (every page, every index entry) instead of `quick_check`. */
  full?: boolean;
  /** Most problems listed; the result says when there were more. */
  maxProblems?: number;
}

export interface IntegrityResult {
  mode: 'quick' | 'full';
  ok: boolean;
  /** SQLite's own problem lines, at most `maxProblems`. */
  problems: string[];
  /** True when there were more problems than listed. */
  truncated: boolean;
  durationMs: number;
}

/**
 * Runs `PRAGMA quick_check` (default) or `PRAGMA integrity_check` (`full`). Damage bad enough that
 * SQLite cannot even run the check (a corrupt schema page, say) is reported as a failed check
 * with SQLite's message, not thrown: finding damage is this function's job.
 */
export function checkIntegrity(db: OraDatabase, options: IntegrityOptions = {}): IntegrityResult {
  const mode = options.full ? 'full' : 'quick';
  const max = options.maxProblems ?? 100;
  const started = performance.now();
  let rows: string[];
  // integrity_check reads every page and looks up every index entry: a large page cache and
  // memory-mapped reads make it several times faster (measured in docs/BACKUP.md). Restored after.
  const cache = Number(db.pragma('cache_size'));
  const mmap = Number(db.pragma('mmap_size'));
  try {
    db.pragma('cache_size = -262144');
    db.pragma('mmap_size = 4294967296');
    // Ask for one more than we list, to know whether the list was cut.
    rows = db.run(
      () =>
        db.handle
          .prepare(`PRAGMA ${mode === 'full' ? 'integrity_check' : 'quick_check'}(${max + 1})`)
          .pluck()
          .all() as string[],
    );
  } catch (error) {
    if (error instanceof DatabaseCorruptError || error instanceof NotADatabaseError) {
      rows = [error.message];
    } else {
      throw error;
    }
  } finally {
    db.pragma(`cache_size = ${cache}`);
    db.pragma(`mmap_size = ${mmap}`);
  }
  const ok = rows.length === 1 && rows[0] === 'ok';
  const problems = ok ? [] : rows.slice(0, max);
  return {
    mode,
    ok,
    problems,
    truncated: !ok && rows.length > max,
    durationMs: Math.round(performance.now() - started),
  };
}
