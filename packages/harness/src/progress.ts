import type { Writable } from 'node:stream';
import type { Logger } from './logger.js';

/** Reports progress of long work. */
export interface Progress {
  /** `done` of `total` units (`unit` names them: pages, rows, bytes). */
  update(done: number, total: number, unit?: string): void;
  /** Clears the bar (TTY) and logs the final figure. */
  finish(): void;
}

export interface ProgressOptions {
  logger: Logger;
  stderr: Writable;
  tty: boolean;
  label: string;
  /** Least time between two progress log lines when stderr is not a TTY. */
  logEveryMs?: number;
}

/**
 * A bar redrawn in place on a TTY; otherwise an info log line at most every `logEveryMs` (10 s),
 * so cron logs show that long work is moving without flooding.
 */
export function createProgress(options: ProgressOptions): Progress {
  const every = options.logEveryMs ?? 10_000;
  let lastLog = 0;
  let last: { done: number; total: number; unit: string } | null = null;
  let drawn = false;
  return {
    update(done, total, unit = 'items') {
      last = { done, total, unit };
      const pct = total > 0 ? Math.min(100, Math.floor((done / total) * 100)) : 0;
      if (options.tty) {
        const width = 30;
        const filled = Math.round((pct / 100) * width);
        options.stderr.write(
          `\r${options.label} [${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${pct}% ${done}/${total} ${unit}`,
        );
        drawn = true;
        return;
      }
      const now = Date.now();
      if (now - lastLog >= every) {
        lastLog = now;
        options.logger.info({ progress: { done, total, unit, pct } }, `${options.label}: ${pct}%`);
      }
    },
    finish() {
      if (drawn) options.stderr.write('\n');
      drawn = false;
      if (last && !options.tty) {
        options.logger.info({ progress: { ...last, pct: 100 } }, `${options.label}: done`);
      }
    },
  };
}
