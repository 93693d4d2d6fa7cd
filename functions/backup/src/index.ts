// Container entry: `node dist/index.mjs [flags]` runs backup alone.
import { runContainer } from '@ora/harness';
import { backupJob } from './job.js';

await runContainer(backupJob);
