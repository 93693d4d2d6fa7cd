import type { Writable } from 'node:stream';
import type { LogLevel } from '@ora/core';
import { pino } from 'pino';

type PrettyFactory = typeof import('pino-pretty');
let pretty: PrettyFactory | undefined;

/**
 * Loads pino-pretty, which createLogger needs for `pretty: true`. It is imported only when stderr
 * is a terminal (a person is watching): containers log JSON lines and never pay for loading it.
 */
export async function loadPrettyLogs(): Promise<void> {
  pretty ??= (await import('pino-pretty')).default;
}

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
 * `pretty` takes effect once loadPrettyLogs() has run (runProgram and runJob call it on a TTY).
 */
export function createLogger(options: LoggerOptions): Logger {
  const base = {
    level: options.level,
    base: { pid: process.pid, ...options.bindings },
    timestamp: pino.stdTimeFunctions.isoTime,
    formatters: { level: (label: string) => ({ level: label }) },
  };
  if (options.pretty && pretty) {
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
