/**
 * `pnpm test:crash [--seeds N] [--job NAME] [--seed S]`: the crash suite with many seeds (CI runs
 * a few per job inside `pnpm test`). Seeds run from S (default: random) to S+N-1; a failure prints
 * its seed, replayable with `--job NAME --seed SEED --seeds 1`.
 */
import { parseArgs } from 'node:util';
import { type CrashOutcome, calibrate, crashOnce, prepareTemplate, removeTemplate, SCENARIOS } from './crash.js';

const usage = 'usage: pnpm test:crash [--seeds N (1-10000, default 20)] [--job NAME] [--seed S (whole number)]';
let values: { seeds?: string; job?: string; seed?: string };
try {
  ({ values } = parseArgs({
    options: { seeds: { type: 'string' }, job: { type: 'string' }, seed: { type: 'string' } },
  }));
} catch (error) {
  console.error(`${(error as Error).message}\n${usage}`);
  process.exit(2);
}
const seeds = Number(values.seeds ?? 20);
const first = Number(values.seed ?? Math.floor(Math.random() * 1_000_000));
const names = SCENARIOS.map((s) => s.job);
if (!Number.isInteger(seeds) || seeds < 1 || seeds > 10_000) {
  console.error(`invalid --seeds "${values.seeds}": expected a whole number from 1 to 10000\n${usage}`);
  process.exit(2);
}
if (!Number.isSafeInteger(first) || first < 0) {
  console.error(`invalid --seed "${values.seed}": expected a whole number ≥ 0\n${usage}`);
  process.exit(2);
}
if (values.job && !names.includes(values.job)) {
  console.error(`invalid --job "${values.job}": expected one of ${names.join(', ')}\n${usage}`);
  process.exit(2);
}

const failures: CrashOutcome[] = [];
console.log(`crash suite: ${seeds} seeds per job from seed ${first}\n`);
console.log('| job | runs | killed mid-run | writer commits | failures | run length (ms) |');
console.log('|---|---|---|---|---|---|');
for (const scenario of SCENARIOS.filter((s) => !values.job || s.job === values.job)) {
  const template = await prepareTemplate(scenario);
  try {
    const duration = await calibrate(scenario, template);
    const outcomes: CrashOutcome[] = [];
    for (let seed = first; seed < first + seeds; seed++) {
      const o = await crashOnce(scenario, template, duration, seed);
      outcomes.push(o);
      if (o.problems.length) {
        failures.push(o);
        console.error(`FAIL ${o.job} seed ${o.seed} (kill at ${o.delayMs} ms):\n  ${o.problems.join('\n  ')}`);
      }
    }
    const mid = outcomes.filter((o) => o.killedMidRun).length;
    const commits = outcomes.reduce((s, o) => s + o.writerCommits, 0);
    const failed = outcomes.filter((o) => o.problems.length).length;
    console.log(`| ${scenario.job} | ${outcomes.length} | ${mid} | ${commits} | ${failed} | ${Math.round(duration)} |`);
  } finally {
    removeTemplate(template);
  }
}
if (failures.length) {
  console.error(
    `\n${failures.length} failing runs; replay one with: pnpm test:crash --job <job> --seed <seed> --seeds 1`,
  );
  for (const f of failures) console.error(`  --job ${f.job} --seed ${f.seed}`);
  process.exit(1);
}
console.log(
  '\nevery run: integrity_check ok, no committed row lost, no published backup unverifiable, archive + live = original, rerun ok',
);
