// Container entry: `node dist/index.mjs [flags]` runs restore alone.
import { runContainer } from '@ora/harness';
import { restoreJob } from './job.js';

await runContainer(restoreJob);
