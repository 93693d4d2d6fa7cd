import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { hostname } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createOraDatabase } from '@ora/core/testing';
import { pushgatewayGroupUrl, runLabels } from '@ora/harness';
import { damagePage, rootPage, tempDir } from '@ora/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse, stringify } from 'yaml';
import { oraDb } from './run-cli.js';

/**
 * The monitoring path end to end, with Debian's real binaries (.ci/run installs them):
 * prometheus 2.42 loads the project's own infra/prometheus/alerts.yaml under the example
 * infra/prometheus/prometheus.yml (default scrape settings, honor_labels false; only targets and
 * intervals replaced: 1 s scrapes and evaluations), scraping node_exporter's textfile collector
 * and a Pushgateway, each on a free 127.0.0.1 port with its own temp directory. The rules these
 * tests fire have no `for:`, so they are used as committed; the two with one (WAL size, free
 * space) are not exercised here. Every assertion goes through Prometheus' HTTP API.
 */

const infra = join(dirname(fileURLToPath(import.meta.url)), '../../../infra');
// Each wait normally ends within 3 s (1 s scrapes and evaluations); the bound is for a loaded machine.
const WAIT_MS = 30_000;

interface Alert {
  labels: Record<string, string>;
  annotations: Record<string, string>;
  state: string;
}

let t: ReturnType<typeof tempDir>;
const children: ChildProcess[] = [];
let prometheus = '';
let pushgateway = '';
let textfileDir = '';

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });
}

function start(command: string, args: string[]): ChildProcess {
  const child = spawn(command, args, { stdio: ['ignore', 'ignore', 'pipe'] });
  let log = '';
  child.stderr?.on('data', (d) => {
    log = `${log}${d}`.slice(-4000);
  });
  child.once('exit', (code) => {
    if (code !== null && code !== 0) process.stderr.write(`${command} exited ${code}: ${log}\n`);
  });
  children.push(child);
  return child;
}

async function until<T>(what: string, probe: () => Promise<T | undefined>): Promise<T> {
  const deadline = Date.now() + WAIT_MS;
  let last: unknown;
  while (Date.now() < deadline) {
    try {
      const value = await probe();
      if (value !== undefined) return value;
    } catch (error) {
      last = error;
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(`timed out after ${WAIT_MS} ms waiting for ${what}${last ? ` (${String(last)})` : ''}`);
}

async function api<T>(path: string): Promise<T> {
  const response = await fetch(`${prometheus}/api/v1/${path}`, { signal: AbortSignal.timeout(3000) });
  const body = (await response.json()) as { status: string; data: T };
  if (body.status !== 'success') throw new Error(`${path}: ${JSON.stringify(body)}`);
  return body.data;
}

const alerts = async () => (await api<{ alerts: Alert[] }>('alerts')).alerts;
const query = async (q: string) =>
  (
    await api<{ result: { metric: Record<string, string>; value: [number, string] }[] }>(
      `query?query=${encodeURIComponent(q)}`,
    )
  ).result;

/** The firing alerts about one database. */
const firingOn = async (database: string) =>
  (await alerts()).filter((a) => a.state === 'firing' && a.labels.database === database);

/** `to` replaced by a copy of `from` (no WAL or shared-memory file of an earlier one left beside it). */
function freshCopy(from: string, to: string): void {
  mkdirSync(dirname(to), { recursive: true });
  for (const suffix of ['', '-wal', '-shm']) rmSync(`${to}${suffix}`, { force: true });
  copyFileSync(from, to);
}

function damagedCopy(from: string, to: string): void {
  freshCopy(from, to);
  damagePage(to, rootPage(to, 'idx_shipped_items_order_number'));
}

beforeAll(async () => {
  for (const binary of ['prometheus', 'prometheus-pushgateway', 'prometheus-node-exporter']) {
    const probe = spawnSync(binary, ['--version'], { encoding: 'utf8' });
    expect(probe.error, `${binary} not found: .ci/run installs it (scripts/install-monitoring.sh)`).toBeUndefined();
  }
  t = tempDir('ora-prom-');
  textfileDir = t.path('textfile');
  mkdirSync(textfileDir);
  const [promPort, pushPort, nodePort] = [await freePort(), await freePort(), await freePort()];
  pushgateway = `http://127.0.0.1:${pushPort}`;
  prometheus = `http://127.0.0.1:${promPort}`;
  start('prometheus-pushgateway', [
    `--web.listen-address=127.0.0.1:${pushPort}`,
    `--persistence.file=${t.path('pushgateway.data')}`,
  ]);
  start('prometheus-node-exporter', [
    `--web.listen-address=127.0.0.1:${nodePort}`,
    '--collector.disable-defaults',
    '--collector.textfile',
    `--collector.textfile.directory=${textfileDir}`,
  ]);
  // The example configuration, with test targets and intervals; everything else as committed.
  const config = parse(readFileSync(join(infra, 'prometheus/prometheus.yml'), 'utf8')) as {
    global: Record<string, string>;
    rule_files: string[];
    scrape_configs: { job_name: string; honor_labels?: boolean; static_configs: { targets: string[] }[] }[];
    alerting?: unknown;
  };
  config.global = { ...config.global, scrape_interval: '1s', evaluation_interval: '1s' };
  config.rule_files = [join(infra, 'prometheus/alerts.yaml')];
  config.alerting = undefined;
  const targets: Record<string, string> = { node: `127.0.0.1:${nodePort}`, pushgateway: `127.0.0.1:${pushPort}` };
  expect(config.scrape_configs.map((s) => s.job_name).sort()).toEqual(['node', 'pushgateway']);
  for (const scrape of config.scrape_configs) {
    expect(scrape.honor_labels, 'the example keeps the default honor_labels').toBeUndefined();
    scrape.static_configs = [{ targets: [targets[scrape.job_name] as string] }];
  }
  writeFileSync(t.path('prometheus.yml'), stringify(config));
  start('prometheus', [
    `--config.file=${t.path('prometheus.yml')}`,
    `--storage.tsdb.path=${t.path('tsdb')}`,
    `--web.listen-address=127.0.0.1:${promPort}`,
    '--log.level=warn',
  ]);
  await until('both targets up', async () => {
    const up = await query('up == 1');
    return up.length === 2 ? up : undefined;
  });
  const rules = await api<{ groups: { rules: { name: string }[] }[] }>('rules');
  expect(rules.groups.flatMap((g) => g.rules.map((r) => r.name))).toContain('OraIntegrityFailure');
}, 60_000);

afterAll(async () => {
  await Promise.all(
    children.map(
      (c) =>
        new Promise<void>((resolve) => {
          if (c.exitCode !== null || c.signalCode !== null) return resolve();
          const timer = setTimeout(() => c.kill('SIGKILL'), 5000);
          c.once('exit', () => {
            clearTimeout(timer);
            resolve();
          });
          c.kill('SIGTERM');
        }),
    ),
  );
  t?.cleanup();
}, 15_000);

describe('alerts in a real Prometheus (node_exporter textfile collector and Pushgateway)', () => {
  it('a failed integrity check through each path fires the integrity and job-failed alerts naming the ora job and database', async () => {
    const good = t.path('pristine.db');
    createOraDatabase(good, 200);
    const viaFile = t.path('cron/shop.db');
    const viaPush = t.path('k8s/data/ledger.db');
    damagedCopy(good, viaFile);
    damagedCopy(good, viaPush);
    const fileRun = await oraDb([
      'health-check',
      '--full',
      '--db',
      viaFile,
      '--metrics-file',
      join(textfileDir, 'ora_health-check_shop.prom'),
    ]);
    expect(fileRun.code).toBe(1);
    const pushRun = await oraDb(['health-check', '--full', '--db', viaPush, '--pushgateway', pushgateway]);
    expect(pushRun.code).toBe(1);
    expect(pushRun.logs.some((l) => l.msg === 'push to the Pushgateway failed')).toBe(false);

    for (const [database, scrapeJob] of [
      [viaFile, 'node'],
      [viaPush, 'pushgateway'],
    ] as const) {
      const fired = await until(`integrity and job-failed alerts on ${database}`, async () => {
        const a = await firingOn(database);
        const names = a.map((x) => x.labels.alertname).sort();
        return names.includes('OraIntegrityFailure') && names.includes('OraJobFailed') ? a : undefined;
      });
      for (const alert of fired.filter((a) =>
        ['OraIntegrityFailure', 'OraJobFailed'].includes(a.labels.alertname as string),
      )) {
        expect(alert.labels).toMatchObject({ ora_job: 'health-check', database, ora_host: hostname() });
        // The scrape's own label: which path it came by, never the ora job.
        expect(alert.labels.job).toBe(scrapeJob);
      }
      const failed = fired.find((a) => a.labels.alertname === 'OraJobFailed');
      expect(failed?.annotations.summary).toBe(`ora-db health-check failed on ${database} (${hostname()})`);
    }
    // node_exporter read every file of its directory.
    expect((await query('node_textfile_scrape_error'))[0]?.value[1]).toBe('0');
  }, 60_000);

  it('the Pushgateway keeps one group per database: a second database does not replace the first', async () => {
    const other = t.path('k8s/data/other.db');
    createOraDatabase(other, 50);
    expect((await oraDb(['health-check', '--db', other, '--pushgateway', pushgateway])).code).toBe(0);
    const both = await until('two databases in the Pushgateway', async () => {
      const r = await query('ora_job_exit_code{job="pushgateway",ora_job="health-check"}');
      return r.length >= 2 ? r : undefined;
    });
    const byDb = Object.fromEntries(both.map((s) => [s.metric.database, s.value[1]]));
    expect(byDb).toMatchObject({ [t.path('k8s/data/ledger.db')]: '1', [other]: '0' });
  }, 60_000);

  it('a last success too old fires its rule through each path, a failed run keeping the old success', async () => {
    // The textfile path: a success recorded 27 hours ago (the file of a run that long ago), then
    // a failed run, which carries that last success over.
    const viaFile = t.path('cron/stale.db');
    createOraDatabase(viaFile, 50);
    const file = join(textfileDir, 'ora_metrics_stale.prom');
    expect((await oraDb(['metrics', '--db', viaFile, '--metrics-file', file])).code).toBe(0);
    const dayAgo = Math.floor(Date.now() / 1000) - 27 * 3600;
    const text = readFileSync(file, 'utf8');
    expect(text).toMatch(/^ora_job_last_success_timestamp_seconds\{[^}]*\} \S+$/m);
    writeFileSync(file, text.replace(/^(ora_job_last_success_timestamp_seconds\{[^}]*\}) \S+$/m, `$1 ${dayAgo}`));
    rmSync(viaFile);
    expect((await oraDb(['metrics', '--db', viaFile, '--metrics-file', file])).code).not.toBe(0);
    expect(readFileSync(file, 'utf8')).toContain(` ${dayAgo}\n`);

    // The Pushgateway path: that old success pushed into the group (as its run would have), then a
    // failed run, whose push (POST) replaces only the series it has.
    const viaPush = t.path('k8s/data/stale.db');
    const labels = runLabels('metrics', viaPush);
    const old = await fetch(pushgatewayGroupUrl(pushgateway, labels), {
      method: 'POST',
      body: `# TYPE ora_job_last_success_timestamp_seconds gauge\nora_job_last_success_timestamp_seconds{ora_job="metrics",database="${viaPush}",ora_host="${labels.ora_host}"} ${dayAgo}\n`,
    });
    expect(old.status).toBe(200);
    expect((await oraDb(['metrics', '--db', viaPush, '--pushgateway', pushgateway])).code).not.toBe(0);

    for (const database of [viaFile, viaPush]) {
      const fired = await until(`last-success alert on ${database}`, async () => {
        const a = await firingOn(database);
        return a.some((x) => x.labels.alertname === 'OraDailyJobLastSuccessTooOld') &&
          a.some((x) => x.labels.alertname === 'OraJobFailed')
          ? a
          : undefined;
      });
      const stale = fired.find((a) => a.labels.alertname === 'OraDailyJobLastSuccessTooOld');
      expect(stale?.labels).toMatchObject({ ora_job: 'metrics', database });
      expect(stale?.annotations.summary).toMatch(/^ora-db metrics has not succeeded on .* for more than 26 hours$/);
    }
  }, 60_000);

  it('healthy runs resolve every alert, through each path', async () => {
    const good = t.path('pristine.db');
    const runs: [string, string[]][] = [
      [
        t.path('cron/shop.db'),
        ['health-check', '--full', '--metrics-file', join(textfileDir, 'ora_health-check_shop.prom')],
      ],
      [t.path('k8s/data/ledger.db'), ['health-check', '--full', '--pushgateway', pushgateway]],
      [t.path('cron/stale.db'), ['metrics', '--metrics-file', join(textfileDir, 'ora_metrics_stale.prom')]],
      [t.path('k8s/data/stale.db'), ['metrics', '--pushgateway', pushgateway]],
    ];
    for (const [database, args] of runs) {
      freshCopy(good, database);
      const r = await oraDb([...args, '--db', database]);
      expect(r.code, `${args[0]} ${database}: ${r.logs.at(-1)?.msg}`).toBe(0);
    }
    await until('no alert left', async () => ((await alerts()).length === 0 ? true : undefined));
    const status = await query('ora_job_status{status="failed"} == 1');
    expect(status).toEqual([]);
  }, 60_000);
});
