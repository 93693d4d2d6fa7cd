// Container entry: `node dist/index.mjs [flags]` runs health-check alone.
import { runContainer } from '@ora/harness';
import { healthCheckJob } from './job.js';

await runContainer(healthCheckJob);
