import { Writable } from 'node:stream';
import type { Io } from '../src/index.js';

/** An Io whose stdout and stderr are captured strings. */
export function captureIo(env: Record<string, string | undefined> = {}): Io & { out: () => string; err: () => string } {
  let out = '';
  let err = '';
  const sink = (append: (s: string) => void) =>
    new Writable({
      write(chunk, _enc, cb) {
        append(chunk.toString());
        cb();
      },
    });
  return {
    env,
    stdout: sink((s) => {
      out += s;
    }),
    stderr: sink((s) => {
      err += s;
    }),
    stderrIsTTY: false,
    out: () => out,
    err: () => err,
  };
}
