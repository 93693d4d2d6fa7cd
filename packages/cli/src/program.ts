import { describeConfig, VERSION } from '@ora/core';
import { archiveJob } from '@ora/fn-archive/job';
import { backupJob } from '@ora/fn-backup/job';
import { backupVerifyJob } from '@ora/fn-backup-verify/job';
import { dailyMaintenanceJob } from '@ora/fn-daily-maintenance/job';
import { healthCheckJob } from '@ora/fn-health-check/job';
import { metricsJob } from '@ora/fn-metrics/job';
import { recoverJob } from '@ora/fn-recover/job';
import { restoreJob } from '@ora/fn-restore/job';
import { weeklyVacuumJob } from '@ora/fn-weekly-vacuum/job';
import type { AnyJob, Program } from '@ora/harness';
import { backupListCommand, backupVerifyCommand, migrateCommand } from './commands/backup.js';
import { diagnoseFkCommand, diagnoseLocksCommand, explainCommand } from './commands/diagnose.js';
import { initCommand } from './commands/init.js';
import { inventoryCommands } from './commands/inventory.js';
import { schemaCommand } from './commands/schema.js';
import { seedCommand } from './commands/seed.js';

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

/** CLI-only commands: set-up and domain work. */
export const COMMANDS: readonly AnyJob[] = [
  initCommand,
  migrateCommand,
  seedCommand,
  backupListCommand,
  backupVerifyCommand,
  ...inventoryCommands,
  schemaCommand,
  diagnoseLocksCommand,
  diagnoseFkCommand,
  explainCommand,
];

const EPILOGUE = [
  'Exit codes: 0 ok/warn/skipped · 1 the job found or hit a problem (integrity failure, critical threshold) · 2 bad input (flag, value, ORA_EVENT, configuration) · 3 the environment prevented the run (database missing or not SQLite, locked, I/O).',
  '',
  'Every job also reads its input as JSON from ORA_EVENT (flags win), and this environment:',
  ...describeConfig().map((v) => `  ${v.name.padEnd(22)} ${v.describe}${v.default ? ` [default ${v.default}]` : ''}`),
].join('\n');

export const program: Program = {
  scriptName: 'ora-db',
  version: VERSION,
  jobs: [...JOBS, ...COMMANDS],
  epilogue: EPILOGUE,
};
