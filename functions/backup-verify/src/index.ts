// Container entry: `node dist/index.mjs [flags]` runs backup-verify alone.
import { runContainer } from '@ora/harness';
import { backupVerifyJob } from './job.js';

await runContainer(backupVerifyJob);
