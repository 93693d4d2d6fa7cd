// Container entry: `node dist/index.mjs [flags]` runs weekly-vacuum alone.
import { runContainer } from '@ora/harness';
import { weeklyVacuumJob } from './job.js';

await runContainer(weeklyVacuumJob);
