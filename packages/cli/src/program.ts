import { describeConfig, VERSION } from '@ora/core';
import type { AnyJob, Program } from '@ora/harness';
import {
  backupForgetCommand,
  backupListCommand,
  backupPinCommand,
  backupPruneCommand,
  backupUnpinCommand,
  backupVerifyCommand,
  migrateCommand,
} from './commands/backup.js';
import { diagnoseFkCommand, diagnoseLocksCommand, explainCommand } from './commands/diagnose.js';
import { initCommand } from './commands/init.js';
import { inventoryCommands } from './commands/inventory.js';
import { scheduleCommand } from './commands/schedule.js';
import { schemaCommand } from './commands/schema.js';
import { seedCommand } from './commands/seed.js';
import { JOBS } from './jobs.js';

/** CLI-only commands: set-up and domain work. */
export const COMMANDS: readonly AnyJob[] = [
  initCommand,
  migrateCommand,
  seedCommand,
  backupListCommand,
  backupPinCommand,
  backupUnpinCommand,
  backupForgetCommand,
  backupPruneCommand,
  backupVerifyCommand,
  ...inventoryCommands,
  schemaCommand,
  scheduleCommand,
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

export { JOBS };

export const program: Program = {
  scriptName: 'ora-db',
  version: VERSION,
  jobs: [...JOBS, ...COMMANDS],
  epilogue: EPILOGUE,
};
