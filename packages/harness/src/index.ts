export { type Program, runProgram } from './cli.js';
export { runContainer } from './container.js';
export {
  type AnyJob,
  defineJob,
  JOB_STATUSES,
  type JobContext,
  type JobDefinition,
  type JobMetric,
  type JobOutcome,
  type JobResult,
  type JobStatus,
  type ScheduledVariant,
} from './define-job.js';
export { type FlagSpec, flagsOf, kebab, parseEventJson, resolveEvent } from './event.js';
export { type Io, processIo, routeProcessWarnings } from './io.js';
export { createLogger, type Logger, loadPrettyLogs } from './logger.js';
export {
  buildRegistry,
  previousLastSuccess,
  pushgatewayGroupUrl,
  pushMetrics,
  type RunLabels,
  renderMetrics,
  runLabels,
  writeFileAtomic,
} from './metrics-file.js';
export { ping, redactUrl } from './ping.js';
export { createProgress, type Progress } from './progress.js';
export { type RunOptions, runJob } from './run-job.js';
