import type { Writable } from 'node:stream';

/** The process's outside world, injected so tests run the CLI in-process with real buffers. */
export interface Io {
  env: Record<string, string | undefined>;
  stdout: Writable;
  stderr: Writable;
  /** Whether stderr is a terminal (pretty logs, progress bars). */
  stderrIsTTY: boolean;
  /** Whether a run stops at a safe point on SIGTERM/SIGINT (the real process; not in-process tests). */
  handleSignals?: boolean;
}

/**
 * Process warnings (a dependency's deprecation notice, say) would print plain text on stderr and
 * break its JSON-lines contract: they are written as one JSON log line instead.
 */
export function routeProcessWarnings(): void {
  process.removeAllListeners('warning');
  process.on('warning', (w) => {
    process.stderr.write(
      `${JSON.stringify({ level: 'warn', time: new Date().toISOString(), pid: process.pid, warning: w.name, msg: w.message })}\n`,
    );
  });
}

export function processIo(): Io {
  return {
    env: process.env,
    stdout: process.stdout,
    stderr: process.stderr,
    stderrIsTTY: Boolean(process.stderr.isTTY),
    handleSignals: true,
  };
}
