// Container entry: `node dist/index.mjs [flags]` runs recover alone.
import { runContainer } from '@ora/harness';
import { recoverJob } from './job.js';

await runContainer(recoverJob);
