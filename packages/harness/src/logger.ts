import type { Writable } from 'node:stream';
import type { LogLevel } from '@ora/core';
import { pino } from 'pino';
import pretty from 'pino-pretty';

export type Logger = pino.Logger;

export interface LoggerOptions {
  level: LogLevel;
  /** Where logs go: stderr in production, a buffer in tests. */
  destination: Writable;
  /** Human-readable lines (stderr is a TTY); JSON lines otherwise. */
  pretty: boolean;
  /** Bound into every line, e.g. `{ job: 'health-check' }`. */
  bindings?: Record<string, unknown>;
}

/**
 * JSON-lines logger on stderr (pino): one object per line with `time`, `level`, `job`, `msg`,
 * which container log collectors parse as-is; pretty-printed when a person is watching.
 * Secrets never reach it: URLs are logged as their host only (see ping.ts).
 */
export function createLogger(options: LoggerOptions): Logger {
  const base = {
    level: options.level,
    base: { pid: process.pid, ...options.bindings },
    timestamp: pino.stdTimeFunctions.isoTime,
    formatters: { level: (label: string) => ({ level: label }) },
  };
  if (options.pretty) {
    return pino(
      base,
      pretty({
        destination: options.destination,
        sync: true,
        colorize: true,
        ignore: 'pid,hostname',
        translateTime: 'SYS:HH:MM:ss',
      }),
    );
  }
  return pino(base, options.destination);
}
