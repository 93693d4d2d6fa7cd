// A child process for the crash tests: takes one restore point, or prunes, and is SIGKILLed by the test.
import { prunePoints, takePoint } from '../src/pitr/store.js';

const [command, a, b, c] = process.argv.slice(2);
const pause = (ms: number) => Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
process.stdout.write('ready\n');
if (command === 'take') {
  const r = takePoint({ database: a as string, dir: b as string });
  process.stdout.write(`${JSON.stringify(r.status === 'taken' ? r.point.id : r.reason)}\n`);
} else if (command === 'prune') {
  // Paced (a pause after each deletion) so that a kill at a random instant lands inside the run.
  const r = prunePoints(a as string, { now: new Date(b as string), onDelete: () => pause(Number(c)) });
  process.stdout.write(`${JSON.stringify(r.dropped)}\n`);
} else {
  throw new Error(`unknown command ${command}`);
}
