// Container entry: `node dist/index.mjs [flags]` runs metrics alone.
import { runContainer } from '@ora/harness';
import { metricsJob } from './job.js';

await runContainer(metricsJob);
