// A child for progress.test.ts: a phase whose work blocks the main thread (a busy loop standing for
// one long SQLite call) for `blockMs`, with progress lines due every `everyMs`, then finish().
import { createLogger } from '../src/logger.js';
import { createProgress } from '../src/progress.js';

const [blockMs, everyMs] = process.argv.slice(2).map(Number) as [number, number];
const logger = createLogger({ level: 'info', destination: process.stderr, pretty: false, bindings: { job: 'demo' } });
const progress = createProgress({
  logger,
  stderr: process.stderr,
  tty: false,
  label: 'demo',
  logEveryMs: everyMs,
  heartbeatFd: 2,
});
progress.phase('check');
const until = Date.now() + blockMs;
while (Date.now() < until) {
  // blocked: no timer, no stream write of this thread can run
}
progress.finish();
