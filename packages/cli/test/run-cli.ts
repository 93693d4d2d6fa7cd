import { runProgram } from '@ora/harness';
import { captureIo } from '@ora/testkit';
import { program } from '../src/index.js';

/** Runs `ora-db <args>` in-process; returns the exit code, stdout, and stderr as parsed log lines. */
export async function oraDb(args: string[], env: Record<string, string> = {}) {
  const io = captureIo(env);
  const code = await runProgram(program, args, io);
  const logs = io
    .err()
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as { msg: string; code?: string; level: string });
  return { code, out: io.out(), logs, json: () => JSON.parse(io.out()) };
}
