import { archiveJob } from '@ora/fn-archive/job';
import { backupJob } from '@ora/fn-backup/job';
import { backupVerifyJob } from '@ora/fn-backup-verify/job';
import { dailyMaintenanceJob } from '@ora/fn-daily-maintenance/job';
import { healthCheckJob } from '@ora/fn-health-check/job';
import { metricsJob } from '@ora/fn-metrics/job';
import { recoverJob } from '@ora/fn-recover/job';
import { restoreJob } from '@ora/fn-restore/job';
import { weeklyVacuumJob } from '@ora/fn-weekly-vacuum/job';
import type { AnyJob } from '@ora/harness';

/** The scheduled jobs, each also a bundle in functions/<job> (SPEC §2). */
export const JOBS: readonly AnyJob[] = [
  healthCheckJob,
  dailyMaintenanceJob,
  weeklyVacuumJob,
  metricsJob,
  backupJob,
  backupVerifyJob,
  restoreJob,
  archiveJob,
  recoverJob,
];
