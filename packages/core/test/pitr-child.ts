// A child process for the crash tests: takes one restore point, or prunes, and is SIGKILLed by the test.
import { openPointStore } from '../src/pitr/point-store.js';
import { prunePoints, takePoint } from '../src/pitr/store.js';

const [command, a, b, c, d, e] = process.argv.slice(2);
const pause = (ms: number) => Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
// An S3 prune says it is ready at its first deletion (loading the SDK and listing take a while).
let ready = false;
const sayReady = () => {
  if (!ready) process.stdout.write('ready\n');
  ready = true;
};
if (command !== 's3-prune') sayReady();
if (command === 'take') {
  const r = takePoint({ database: a as string, dir: b as string });
  process.stdout.write(`${JSON.stringify(r.status === 'taken' ? r.point.id : r.reason)}\n`);
} else if (command === 'prune') {
  // Paced (a pause after each deletion) so that a kill at a random instant lands inside the run.
  const r = prunePoints(a as string, { now: new Date(b as string), onDelete: () => pause(Number(c)) });
  process.stdout.write(`${JSON.stringify(r.dropped)}\n`);
} else if (command === 's3-take' || command === 's3-prune') {
  // args: database (take) or now (prune), staging dir, s3:// dest, endpoint, pause ms (prune)
  const store = openPointStore({
    backupDir: b as string,
    dest: [c as string],
    s3Endpoint: d as string,
    s3Region: 'us-east-1',
    s3ForcePathStyle: true,
  });
  if (command === 's3-take') {
    const r = await store.take({ database: a as string });
    process.stdout.write(`${JSON.stringify(r.status === 'taken' ? r.point.id : r.reason)}\n`);
  } else {
    const r = await store.prune({
      now: new Date(a as string),
      onDelete: () => {
        sayReady();
        pause(Number(e));
      },
    });
    sayReady();
    process.stdout.write(`${JSON.stringify(r.dropped)}\n`);
  }
} else {
  throw new Error(`unknown command ${command}`);
}
