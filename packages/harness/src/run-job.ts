import { setTimeout as sleep } from 'node:timers/promises';
import {
  acquireJobLock,
  type Config,
  checkDatabaseFile,
  DatabaseCorruptError,
  EXIT,
  isOraError,
  type JobLock,
  type LogLevel,
  loadConfig,
  NotADatabaseError,
  StoppedError,
} from '@ora/core';
import type { AnyJob, JobOutcome, JobResult } from './define-job.js';
import { parseEventJson, resolveEvent } from './event.js';
import type { Io } from './io.js';
import { createLogger, type Logger, loadPrettyLogs } from './logger.js';
import { buildRegistry, previousLastSuccess, pushMetrics, runLabels, writeFileAtomic } from './metrics-file.js';
import { ping, redactUrl } from './ping.js';
import { aboveProgress, createProgress, type ProgressRenderer } from './progress.js';

/** Options every job takes, whatever its event: output, logging, monitoring. */
export interface RunOptions {
  json?: boolean;
  verbose?: boolean;
  logLevel?: LogLevel;
  metricsFile?: string;
  pingUrl?: string;
  pushgateway?: string;
}

export interface RunRequest {
  job: AnyJob;
  /** Event values from flags and positionals, by event key (undefined = not given). */
  flags: Record<string, unknown>;
  options: RunOptions;
  io: Io;
}

function exitCodeFor(status: JobOutcome['status']): number {
  return status === 'failed' ? EXIT.problem : EXIT.ok;
}

function humanSummary(job: AnyJob, result: JobResult): string {
  const error = result.error as { code: string; message: string } | undefined;
  if (error) return `${result.job}: failed: ${error.code}: ${error.message}`;
  if (job.summarize) return job.summarize(result);
  return `${result.job}: ${result.status} (${result.durationMs} ms)${result.database ? ` ${result.database}` : ''}`;
}

/**
 * Runs one job: config, event, logging, pings, the job, its output and metrics; returns the exit
 * code. This is the only place errors become exit codes (SPEC §3): a job's `failed` status is 1,
 * a toolkit error its own status, anything unexpected 1 with the stack shown under --verbose.
 */
export async function runJob(request: RunRequest): Promise<number> {
  if (request.io.stderrIsTTY) await loadPrettyLogs();
  const loop: RepeatState = { stop: null };
  try {
    const first = await runOnce(request, loop);
    const { everyMs } = first;
    if (everyMs === null || loop.stop === null || first.exitCode !== EXIT.ok || loop.stop.signal.aborted) {
      return first.exitCode;
    }
    return await repeat(request, loop.stop.signal, { ...first, everyMs });
  } finally {
    loop.stop?.dispose();
  }
}

/**
 * A repeating job's signal listener, installed by its first run as soon as its event says it
 * repeats, and kept until the last run ends: a signal at any instant ends the loop after the run
 * under way (a second one exits at once).
 */
interface RepeatState {
  stop: { signal: AbortSignal; dispose(): void } | null;
}

/** The signal the runs of a repeating job get: they finish; the loop stops between them. */
const NEVER = new AbortController().signal;

/**
 * A repeating job (JobDefinition.repeatEveryMs) after its first run: the next runs at their
 * starts until SIGTERM or SIGINT, which end it after the run under way with exit 0. A run that
 * fails is reported (its metrics say so) and the next one runs at its time.
 */
async function repeat(
  request: RunRequest,
  stop: AbortSignal,
  first: OnceResult & { everyMs: number },
): Promise<number> {
  const { everyMs, logger, startedMs } = first;
  let runs = 1;
  let failed = 0;
  for (;;) {
    const now = performance.now();
    const next = startedMs + Math.floor((now - startedMs) / everyMs + 1) * everyMs;
    await sleepUnlessStopped(next - now, stop);
    if (stop.aborted) break;
    const r = await runOnce(request, null);
    runs++;
    if (r.exitCode !== EXIT.ok) failed++;
    if (stop.aborted) break;
  }
  logger.info({ runs, failed }, `stopped after ${runs} run(s), ${failed} failed`);
  return EXIT.ok;
}

/** Resolves after `ms`, or at once when `signal` aborts (never rejects). */
function sleepUnlessStopped(ms: number, signal: AbortSignal): Promise<void> {
  return sleep(Math.max(0, ms), undefined, { signal }).catch(() => {});
}

interface OnceResult {
  exitCode: number;
  /** The event's repeat interval (null: one run, or the run failed before its event was read). */
  everyMs: number | null;
  logger: Logger;
  startedMs: number;
}

/**
 * One run. `first`: the first (or only) run, which installs a repeating job's listener in it;
 * null: a later run of a repeating job (the listener is there; its job gets NEVER and finishes).
 */
async function runOnce(request: RunRequest, first: RepeatState | null): Promise<OnceResult> {
  const { job, io, options } = request;
  const startedAt = new Date();
  const started = performance.now();
  let everyMs: number | null = null;
  // On a terminal, log lines go above the progress bar: each one clears it and it is redrawn.
  let progress: ProgressRenderer | null = null;
  const logDestination = io.stderrIsTTY ? aboveProgress(io.stderr, () => progress) : io.stderr;
  const makeLogger = (level: LogLevel, name: string): Logger =>
    createLogger({ level, destination: logDestination, pretty: io.stderrIsTTY, bindings: { job: name } });
  let logLevel: LogLevel = options.verbose ? 'debug' : (options.logLevel ?? 'info');
  let logger: Logger = makeLogger(logLevel, job.name);
  let config: Config | undefined;
  let database: string | null = null;
  let pingUrl = options.pingUrl;
  let metricsFile = options.metricsFile;
  let pushgateway = options.pushgateway;
  let result: JobResult;
  let exitCode: number;
  let runName = job.name;
  try {
    config = loadConfig(io.env);
    pingUrl ??= config.pingUrl;
    metricsFile ??= config.metricsFile;
    pushgateway ??= config.pushgateway;
    if (!options.verbose && options.logLevel === undefined && config.logLevel !== 'info') {
      logLevel = config.logLevel;
      logger = makeLogger(logLevel, job.name);
    }
    const event = resolveEvent(job.event, {
      config,
      eventJson: parseEventJson(io.env.ORA_EVENT),
      flags: request.flags,
    });
    database = typeof event.db === 'string' ? event.db : null;
    runName = job.runName?.(event) ?? job.name;
    everyMs = job.repeatEveryMs?.(event) ?? null;
    // Repeats only where a signal can end it (an in-process CLI test runs it once).
    if (everyMs !== null && io.handleSignals !== true) everyMs = null;
    if (everyMs !== null && first) first.stop ??= stopOnSignals(logger, io, 'stopping after the run under way');
    if (runName !== job.name) logger = makeLogger(logLevel, runName);
    logger.debug({ event: redactEvent(event) }, 'starting');
    if (pingUrl) await ping(pingUrl, 'start', logger);
    const bar = createProgress({
      logger,
      stderr: io.stderr,
      tty: io.stderrIsTTY,
      label: runName,
      logEveryMs: config.progressEveryMs,
      // The real stderr: a heartbeat thread can write to it while a long SQLite call blocks this one.
      ...(io.stderr === process.stderr ? { heartbeatFd: 2 } : {}),
    });
    progress = bar;
    const lockOn = job.heavy ? (job.lockTarget ? job.lockTarget(event) : database) : null;
    const lock = lockOn ? takeJobLock(lockOn, runName, config.lockWaitMs, logger, job.acceptsDamaged === true) : null;
    const stop = everyMs !== null ? { signal: NEVER, dispose: () => {} } : stopOnSignals(logger, io);
    let outcome: JobOutcome;
    try {
      outcome = await job.run(event, { logger, progress: bar, signal: stop.signal });
    } finally {
      stop.dispose();
      bar.finish();
      lock?.release();
    }
    result = finish(runName, outcome, startedAt, started, database);
    exitCode = exitCodeFor(result.status);
    const level = result.status === 'failed' ? 'error' : result.status === 'warn' ? 'warn' : 'info';
    // The first line of the summary: tables and lists stay on stdout, logs stay one line per event.
    logger[level]({ status: result.status, durationMs: result.durationMs }, firstLine(humanSummary(job, result)));
  } catch (error) {
    exitCode = isOraError(error) ? error.exitStatus : EXIT.problem;
    const failure = isOraError(error)
      ? error.toJSON()
      : {
          code: 'UNEXPECTED',
          message: `unexpected error: ${(error as Error)?.message ?? String(error)}`,
          exitStatus: EXIT.problem,
        };
    result = finish(runName, { status: 'failed', error: failure }, startedAt, started, database);
    logger.error(
      { code: failure.code, exitCode, ...(options.verbose ? { stack: (error as Error)?.stack } : {}) },
      failure.message,
    );
  }
  if (options.json) {
    // A repeating job writes one line per run (NDJSON): each run's result is a value of its own.
    io.stdout.write(`${JSON.stringify(result, null, everyMs === null ? 2 : undefined)}\n`);
  } else if (!(result.status === 'failed' && 'error' in result)) {
    io.stdout.write(`${humanSummary(job, result)}\n`);
  }
  if (metricsFile || pushgateway) {
    const extra = job.metrics && !('error' in result) ? job.metrics(result) : [];
    const registry = await buildRegistry(
      result,
      exitCode,
      extra,
      metricsFile ? previousLastSuccess(metricsFile, runName) : null,
    );
    if (metricsFile) {
      try {
        writeFileAtomic(metricsFile, await registry.metrics());
      } catch (error) {
        logger.error({ code: isOraError(error) ? error.code : 'UNEXPECTED' }, (error as Error).message);
        if (exitCode === EXIT.ok) exitCode = EXIT.environment;
      }
    }
    if (pushgateway) {
      try {
        await pushMetrics(pushgateway, registry, runLabels(runName, result.database));
      } catch (error) {
        // Monitoring must never change the job's outcome.
        logger.warn(
          { host: redactUrl(pushgateway), reason: (error as Error).message },
          'push to the Pushgateway failed',
        );
      }
    }
  }
  if (pingUrl) {
    const summary = humanSummary(job, result);
    await ping(
      pingUrl,
      exitCode === EXIT.ok ? 'success' : 'fail',
      logger,
      exitCode === EXIT.ok ? summary : `exit ${exitCode}: ${summary}`,
    );
  }
  return { exitCode, everyMs, logger, startedMs: started };
}

const STOP_SIGNALS = ['SIGTERM', 'SIGINT'] as const;

/**
 * SIGTERM (Kubernetes, docker stop) and SIGINT (Ctrl-C) during a run abort the job's signal: the
 * job stops at its next safe point (between batches, phases or steps), its `finally` blocks remove
 * temps and the harness releases the job lock, and the run exits 3 with code STOPPED. A second
 * signal exits at once (the operating system drops the job lock and SQLite rolls back whatever
 * transaction was open, as after a crash).
 */
function stopOnSignals(
  logger: Logger,
  io: Io,
  how = 'stopping at the next safe point',
): { signal: AbortSignal; dispose(): void } {
  const controller = new AbortController();
  const listener = (signal: NodeJS.Signals) => {
    if (controller.signal.aborted) {
      logger.error({ signal, code: 'STOPPED', exitCode: EXIT.environment }, `second ${signal}: exiting now`);
      process.exit(EXIT.environment);
    }
    logger.warn({ signal }, `${signal} received: ${how} (again to exit at once)`);
    controller.abort(
      new StoppedError(`stopped by ${signal} at a safe point: nothing partial was published; run the job again`),
    );
  };
  // Only a real process run listens (tests that run the CLI in-process pass their own Io).
  const listening = io.handleSignals === true;
  if (listening) for (const s of STOP_SIGNALS) process.on(s, listener);
  return {
    signal: controller.signal,
    dispose() {
      if (listening) for (const s of STOP_SIGNALS) process.off(s, listener);
    },
  };
}

function finish(
  name: string,
  outcome: JobOutcome,
  startedAt: Date,
  started: number,
  database: string | null,
): JobResult {
  const { status, ...details } = outcome;
  return {
    job: name,
    status,
    startedAt: startedAt.toISOString(),
    durationMs: Math.round(performance.now() - started),
    database,
    ...details,
  };
}

/** Event values safe to log: URL-valued fields are reduced to their host. */
function redactEvent(event: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(event)) {
    out[k] = typeof v === 'string' && /^https?:\/\//i.test(v) ? '(url redacted)' : v;
  }
  return out;
}

function firstLine(text: string): string {
  const i = text.indexOf('\n');
  return i < 0 ? text : `${text.slice(0, i)} …`;
}

/**
 * Heavy jobs hold the per-database job lock for their whole run (SPEC §3). The database must
 * exist first: the lock file is never created beside a path that holds no database.
 */
function takeJobLock(database: string, job: string, waitMs: number, logger: Logger, acceptsDamaged: boolean): JobLock {
  try {
    checkDatabaseFile(database);
  } catch (error) {
    if (!acceptsDamaged || !(error instanceof DatabaseCorruptError || error instanceof NotADatabaseError)) throw error;
  }
  const lock = acquireJobLock(database, { job, waitMs });
  if (lock.tookOverFrom) {
    const p = lock.tookOverFrom;
    logger.warn(
      { previousHolder: p },
      `took over the job lock left by ${p.job} (pid ${p.pid} on ${p.host}, since ${p.since}), which ended without releasing it`,
    );
  }
  return lock;
}
