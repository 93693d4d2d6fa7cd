import type { Writable } from 'node:stream';

/** The process's outside world, injected so tests run the CLI in-process with real buffers. */
export interface Io {
  env: Record<string, string | undefined>;
  stdout: Writable;
  stderr: Writable;
  /** Whether stderr is a terminal (pretty logs, progress bars). */
  stderrIsTTY: boolean;
}

export function processIo(): Io {
  return {
    env: process.env,
    stdout: process.stdout,
    stderr: process.stderr,
    stderrIsTTY: Boolean(process.stderr.isTTY),
  };
}
