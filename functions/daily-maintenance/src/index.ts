// Container entry: `node dist/index.mjs [flags]` runs daily-maintenance alone.
import { runContainer } from '@ora/harness';
import { dailyMaintenanceJob } from './job.js';

await runContainer(dailyMaintenanceJob);
