import type * as z from 'zod';
import type { Logger } from './logger.js';
import type { Progress } from './progress.js';

export const JOB_STATUSES = ['ok', 'warn', 'skipped', 'failed'] as const;
export type JobStatus = (typeof JOB_STATUSES)[number];

/** What a job's `run` returns: a status plus the job's own details. */
export interface JobOutcome {
  status: JobStatus;
  [detail: string]: unknown;
}

/** What the harness prints: the outcome plus the fields every result has (SPEC §3). */
export type JobResult<O extends JobOutcome = JobOutcome> = O & {
  job: string;
  startedAt: string;
  durationMs: number;
  database: string | null;
};

/**
 * What a job's `run` gets besides its event. (No config: the event already holds every config
 * value the job reads, resolved with ORA_EVENT and the flags — see resolveEvent.)
 */
export interface JobContext {
  logger: Logger;
  /** Progress of long work: a bar on a TTY, periodic log lines otherwise. */
  progress: Progress;
  /**
   * Aborted when the process is asked to stop (SIGTERM, SIGINT). Long jobs call
   * `throwIfStopped(signal)` at their safe points.
   */
  signal?: AbortSignal;
}

/** One Prometheus gauge a job reports about its run, besides the harness's own. */
export interface JobMetric {
  name: string;
  help: string;
  value: number;
  labels?: Record<string, string>;
}

/**
 * A job or command, declared once. The harness derives from it the `ora-db` subcommand (flags
 * from the event schema's keys, kebab-cased, with their descriptions and defaults), the container
 * entry of its bundle, `ORA_EVENT` parsing, and the schedule that infra files are rendered from.
 */
export interface JobDefinition<E extends z.ZodObject = z.ZodObject, O extends JobOutcome = JobOutcome> {
  /** Command path, e.g. `health-check` or `inventory receive`. */
  name: string;
  describe: string;
  /** Default cron schedule (SPEC §2); null for manual jobs and commands. */
  schedule: string | null;
  /**
   * More scheduled runs of the same bundle with extra flags, each reporting under its own name
   * (see `runName`): `backup --incremental` every 5 minutes beside the daily `backup`.
   */
  alsoScheduled?: readonly ScheduledVariant[];
  /**
   * The name a run reports under (the result's `job`, its metrics and Pushgateway group, its log
   * lines) when a flag makes it another job; default `name`. `backup --incremental` reports as
   * `backup-incremental`, so its gauges never overwrite the daily backup's.
   */
  runName?(event: z.output<E>): string;
  /** Heavy jobs take the per-database job lock (SPEC §3). */
  heavy?: boolean;
  /**
   * The database whose job lock a heavy job takes; default the event's `db`. Null: no lock (a
   * restore to a new path that no one else uses).
   */
  lockTarget?(event: z.output<E>): string | null;
  /**
   * The job exists for damaged databases (recover): a file that is truncated or whose header is
   * unreadable is still locked and handed to it, where every other job refuses it.
   */
  acceptsDamaged?: boolean;
  /**
   * The run repeats (a sidecar) when this returns a number: the milliseconds from one run's start
   * to the next (a run that overran skips the starts it missed). Each run reports as a run of its
   * own — summary or JSON (one line a run), metrics, pings — and a failed run is followed by the
   * next; SIGTERM or SIGINT ends it after the run under way (exit 0; its job's signal never
   * aborts). Null: one run (the default). Only a process that handles signals repeats.
   */
  repeatEveryMs?(event: z.output<E>): number | null;
  /** Event keys also accepted as positional arguments, in order. */
  positional?: readonly string[];
  /** Validates flags and `ORA_EVENT` alike; unknown keys are refused. */
  event: E;
  /** `[command, what it does]` pairs shown in `--help`. */
  examples?: readonly (readonly [string, string])[];
  run(event: z.output<E>, context: JobContext): Promise<O> | O;
  /** The short human summary printed without `--json` (not called when the run threw). */
  summarize?(result: JobResult<O>): string;
  /** Gauges written to `--metrics-file` besides status, duration and timestamp. */
  metrics?(result: JobResult<O>): JobMetric[];
}

/** A scheduled run of a job's bundle with extra flags (`JobDefinition.alsoScheduled`). */
export interface ScheduledVariant {
  /** Its run name (the job's `runName` for these flags): the CronJob, log and metrics file names. */
  name: string;
  schedule: string;
  args: readonly string[];
  describe: string;
}

/** Declares a job; the identity function that gives `run` its event type. */
export function defineJob<E extends z.ZodObject, O extends JobOutcome>(
  definition: JobDefinition<E, O>,
): JobDefinition<E, O> {
  return definition;
}

// biome-ignore lint/suspicious/noExplicitAny: a registry holds jobs of every event and outcome type.
export type AnyJob = JobDefinition<any, any>;
