// Container entry: `node dist/index.mjs [flags]` runs archive alone.
import { runContainer } from '@ora/harness';
import { archiveJob } from './job.js';

await runContainer(archiveJob);
