import { closeSync, fsyncSync, openSync, readFileSync, renameSync, unlinkSync, writeSync } from 'node:fs';
import { hostname } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { IoError } from '@ora/core';
import type { Gauge, Registry } from 'prom-client';
import { JOB_STATUSES, type JobMetric, type JobResult } from './define-job.js';

/**
 * prom-client, loaded on first use. It is CommonJS: Node's import() gives its named exports, a
 * bundle's chunk only `default` (module.exports), which has them all.
 */
type PromClient = typeof import('prom-client');
async function promClient(): Promise<PromClient> {
  const m: unknown = await import('prom-client');
  return (m as { default?: PromClient }).default ?? (m as PromClient);
}

/** Prometheus metric names allow [a-zA-Z0-9_:] only. */
function metricName(name: string): string {
  return name.replace(/[^a-zA-Z0-9_:]/g, '_');
}

/**
 * The labels every series carries. None is one a scrape sets: Prometheus overwrites `job` and
 * `instance` with the scrape's own (honor_labels is false by default), so the ora job's name is
 * `ora_job` and the machine that ran it `ora_host` (os.hostname(); a CronJob pod gets a stable
 * `hostname`). With the database they identify a run's series, in a metrics file and in the
 * Pushgateway's grouping key alike.
 */
export interface RunLabels {
  ora_job: string;
  database: string;
  ora_host: string;
}
const LABEL_NAMES = ['ora_job', 'database', 'ora_host'] as const;

/** The ora_job value: a command's words joined by `-` (`backup verify` is the backup-verify bundle's job). */
function oraJobLabel(job: string): string {
  return job.replace(/ +/g, '-');
}

export function runLabels(job: string, database: string | null): RunLabels {
  return { ora_job: oraJobLabel(job), database: database ?? '', ora_host: hostname() };
}

/**
 * Renders a run as Prometheus text exposition (prom-client): status (one series per status, 1 for
 * the current), exit code, duration, last-run timestamp, and the job's own gauges, all labelled
 * with the run's labels (ora_job, database, ora_host).
 */
export async function renderMetrics(
  result: JobResult,
  exitCode: number,
  extra: JobMetric[],
  previousLastSuccess: number | null = null,
): Promise<string> {
  return (await buildRegistry(result, exitCode, extra, previousLastSuccess)).metrics();
}

/**
 * The run as a prom-client registry (for the metrics file and the Pushgateway). The last-success
 * timestamp of a failed run is carried over from the previous file, so "last success too old"
 * alerts keep working when every run rewrites the file.
 */
export async function buildRegistry(
  result: JobResult,
  exitCode: number,
  extra: JobMetric[],
  previousLastSuccess: number | null,
): Promise<Registry> {
  // prom-client (and the http/https/zlib modules it loads) only when metrics are asked for:
  // it is a separate chunk of the bundles, which keeps it off every job's cold start.
  const { Gauge, Registry } = await promClient();
  const registry = new Registry();
  const labels = runLabels(result.job, result.database);
  const labelNames = LABEL_NAMES;
  const status = new Gauge({
    name: 'ora_job_status',
    help: 'Outcome of the last run: 1 for its status, 0 for the others',
    labelNames: [...labelNames, 'status'],
    registers: [registry],
  });
  for (const s of JOB_STATUSES) status.set({ ...labels, status: s }, result.status === s ? 1 : 0);
  new Gauge({ name: 'ora_job_exit_code', help: 'Exit code of the last run', labelNames, registers: [registry] }).set(
    labels,
    exitCode,
  );
  new Gauge({
    name: 'ora_job_duration_seconds',
    help: 'Wall time of the last run',
    labelNames,
    registers: [registry],
  }).set(labels, result.durationMs / 1000);
  new Gauge({
    name: 'ora_job_last_run_timestamp_seconds',
    help: 'Unix time the last run started',
    labelNames,
    registers: [registry],
  }).set(labels, Date.parse(result.startedAt) / 1000);
  const lastSuccess =
    exitCode === 0 ? Date.parse(result.startedAt) / 1000 + result.durationMs / 1000 : previousLastSuccess;
  if (lastSuccess !== null) {
    new Gauge({
      name: 'ora_job_last_success_timestamp_seconds',
      help: 'Unix time the last successful run (exit 0) ended',
      labelNames,
      registers: [registry],
    }).set(labels, lastSuccess);
  }
  const byName = new Map<string, Gauge>();
  for (const m of extra) {
    const name = metricName(m.name);
    let gauge = byName.get(name);
    if (!gauge) {
      gauge = new Gauge({
        name,
        help: m.help,
        labelNames: [...labelNames, ...Object.keys(m.labels ?? {})],
        registers: [registry],
      });
      byName.set(name, gauge);
    }
    gauge.set({ ...labels, ...m.labels }, m.value);
  }
  return registry;
}

/** The last-success timestamp recorded in an earlier metrics file, if any. */
export function previousLastSuccess(path: string, job: string): number | null {
  try {
    const text = readFileSync(path, 'utf8');
    const line = text
      .split('\n')
      .find(
        (l) => l.startsWith('ora_job_last_success_timestamp_seconds{') && l.includes(`ora_job="${oraJobLabel(job)}"`),
      );
    const value = line ? Number(line.split(' ').at(-1)) : Number.NaN;
    return Number.isFinite(value) ? value : null;
  } catch {
    return null;
  }
}

/**
 * One grouping-key segment of a Pushgateway URL. A value with a `/` (every database path) or an
 * empty one must be base64url-encoded under `name@base64` (the Pushgateway's rule); the others
 * are percent-encoded.
 */
function groupingSegment(name: string, value: string): string {
  if (value === '' || value.includes('/')) return `${name}@base64/${Buffer.from(value).toString('base64url') || '='}`;
  return `${name}/${encodeURIComponent(value)}`;
}

/** The Pushgateway URL of a run's group: `job` ora-db, then ora_job, database and ora_host. */
export function pushgatewayGroupUrl(base: string, labels: RunLabels): string {
  const path = ['metrics/job/ora-db', ...LABEL_NAMES.map((name) => groupingSegment(name, labels[name]))].join('/');
  return `${base.replace(/\/+$/, '')}/${path}`;
}

/**
 * Pushes the run to a Prometheus Pushgateway, grouped by ora job, database and host, so each
 * database keeps its own series. POST replaces only the metrics pushed: a failed run, which has no
 * last-success sample, leaves the previous one in place for the "last success too old" rules.
 * Plain fetch rather than prom-client's Pushgateway, which percent-encodes grouping values and so
 * cannot send the `@base64` form a path needs. Failures are the caller's to log.
 */
export async function pushMetrics(url: string, registry: Registry, labels: RunLabels): Promise<void> {
  const response = await fetch(pushgatewayGroupUrl(url, labels), {
    method: 'POST',
    headers: { 'content-type': registry.contentType },
    body: await registry.metrics(),
    signal: AbortSignal.timeout(5000),
  });
  if (!response.ok) {
    throw new Error(`push failed with HTTP ${response.status}: ${(await response.text()).trim().slice(0, 200)}`);
  }
}

/**
 * Writes `text` to `path` atomically: a temp file beside it, fsync, rename. A node_exporter
 * textfile collector reading concurrently sees the old file or the new one, never half of one.
 */
export function writeFileAtomic(path: string, text: string, mode = 0o644): void {
  const temp = join(dirname(path), `.${basename(path)}.${process.pid}.tmp`);
  let fd: number | undefined;
  try {
    fd = openSync(temp, 'wx', mode);
    writeSync(fd, text);
    fsyncSync(fd);
    closeSync(fd);
    fd = undefined;
    renameSync(temp, path);
  } catch (error) {
    if (fd !== undefined) closeSync(fd);
    try {
      unlinkSync(temp);
    } catch {
      // nothing to clean up
    }
    throw new IoError(
      `cannot write metrics file ${path} (${(error as NodeJS.ErrnoException).code ?? String(error)}); check that its directory exists and is writable`,
      'IO_ERROR',
      { cause: error },
    );
  }
}
