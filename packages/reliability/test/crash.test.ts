import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { calibrate, crashOnce, prepareTemplate, removeTemplate, SCENARIOS } from '../src/crash.js';

// CI runs a few seeds per job; `pnpm test:crash --seeds N` runs many. Replay a failure with
// ORA_CRASH_SEED=<seed> (printed below) or `pnpm test:crash --job <job> --seed <seed> --seeds 1`.
const SEEDS = Number(process.env.ORA_CRASH_SEEDS ?? 2);
const FIRST = Number(process.env.ORA_CRASH_SEED ?? Math.floor(Math.random() * 1_000_000));

describe.each(SCENARIOS)('$job killed with SIGKILL at a random instant', (scenario) => {
  let template: Awaited<ReturnType<typeof prepareTemplate>>;
  let duration = 0;
  beforeAll(async () => {
    template = await prepareTemplate(scenario);
    duration = await calibrate(scenario, template);
  });
  afterAll(() => {
    if (template) removeTemplate(template);
  });

  it(`keeps every file sound and every committed row, and a rerun succeeds (seeds ${FIRST}…${FIRST + SEEDS - 1})`, async () => {
    for (let seed = FIRST; seed < FIRST + SEEDS; seed++) {
      const outcome = await crashOnce(scenario, template, duration, seed);
      console.log(
        `${scenario.job} seed ${seed}: kill at ${outcome.delayMs}/${Math.round(duration)} ms, ${outcome.killedMidRun ? 'mid-run' : 'after it ended'}, writer ${outcome.writerCommits} commits`,
      );
      expect(outcome.problems, `seed ${seed}`).toEqual([]);
    }
  });
});
