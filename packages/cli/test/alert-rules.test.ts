import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { tempDir } from '@ora/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';

/**
 * The timing of infra/prometheus/alerts.yaml, with `promtool test rules` (Prometheus' own rule
 * evaluator on a simulated clock): every rule, its thresholds and `for:` durations, on series
 * labelled the way the jobs label them (ora_job, database, ora_host) and as a scrape leaves them
 * (job and instance of the scrape). prometheus-e2e.test.ts covers the label flow live.
 */

const rules = join(dirname(fileURLToPath(import.meta.url)), '../../../infra/prometheus/alerts.yaml');
const DB = '/var/lib/ora/ora.db';
const scraped = (ora_job: string) =>
  `ora_job="${ora_job}",database="${DB}",ora_host="db1",job="node",instance="db1:9100"`;

type Expect = { exp_labels: Record<string, string>; exp_annotations?: Record<string, string> }[];
const labels = (alertname: string, ora_job: string, severity: string, extra: Record<string, string> = {}) => ({
  alertname,
  ora_job,
  database: DB,
  ora_host: 'db1',
  job: 'node',
  instance: 'db1:9100',
  severity,
  ...extra,
});

/** The age rules, evaluated hourly: the last success of each job stays at t=0 (a Unix time of 0). */
const ageTests = [
  {
    interval: '1h',
    input_series: [
      { series: `ora_job_last_success_timestamp_seconds{${scraped('backup')}}`, values: '0x40' },
      { series: `ora_job_last_success_timestamp_seconds{${scraped('weekly-vacuum')}}`, values: '0x250' },
      { series: `ora_job_last_success_timestamp_seconds{${scraped('archive')}}`, values: '0x800' },
      { series: `ora_backup_last_success_timestamp_seconds{${scraped('backup')}}`, values: '0x40' },
      { series: `ora_job_last_success_timestamp_seconds{${scraped('backup-incremental')}}`, values: '0x40' },
    ],
    alert_rule_test: [
      { eval_time: '25h', alertname: 'OraDailyJobLastSuccessTooOld', exp_alerts: [] },
      {
        eval_time: '27h',
        alertname: 'OraDailyJobLastSuccessTooOld',
        exp_alerts: [
          {
            exp_labels: labels('OraDailyJobLastSuccessTooOld', 'backup', 'warning'),
            exp_annotations: {
              summary: `ora-db backup has not succeeded on ${DB} (db1) for more than 26 hours`,
            },
          },
        ] satisfies Expect,
      },
      // Restore points every 5 minutes (a skipped one, the lock held, exits 0): none succeeded for an hour.
      { eval_time: '1h', alertname: 'OraRestorePointsStopped', exp_alerts: [] },
      {
        eval_time: '2h',
        alertname: 'OraRestorePointsStopped',
        exp_alerts: [
          {
            exp_labels: labels('OraRestorePointsStopped', 'backup-incremental', 'warning'),
            exp_annotations: {
              summary: `ora-db backup-incremental has not succeeded on ${DB} (db1) for more than an hour: no new restore points`,
            },
          },
        ],
      },
      { eval_time: '25h', alertname: 'OraBackupTooOld', exp_alerts: [] },
      {
        eval_time: '27h',
        alertname: 'OraBackupTooOld',
        exp_alerts: [
          {
            exp_labels: labels('OraBackupTooOld', 'backup', 'critical'),
            exp_annotations: { summary: `The newest ora-db backup of ${DB} (db1) is more than 26 hours old` },
          },
        ],
      },
      { eval_time: '190h', alertname: 'OraWeeklyJobLastSuccessTooOld', exp_alerts: [] },
      {
        eval_time: '194h',
        alertname: 'OraWeeklyJobLastSuccessTooOld',
        exp_alerts: [
          {
            exp_labels: labels('OraWeeklyJobLastSuccessTooOld', 'weekly-vacuum', 'warning'),
            exp_annotations: { summary: `ora-db weekly-vacuum has not succeeded on ${DB} (db1) for more than 8 days` },
          },
        ],
      },
      { eval_time: '767h', alertname: 'OraMonthlyJobLastSuccessTooOld', exp_alerts: [] },
      {
        eval_time: '769h',
        alertname: 'OraMonthlyJobLastSuccessTooOld',
        exp_alerts: [
          {
            exp_labels: labels('OraMonthlyJobLastSuccessTooOld', 'archive', 'warning'),
            exp_annotations: { summary: `ora-db archive has not succeeded on ${DB} (db1) for more than 32 days` },
          },
        ],
      },
    ],
  },
];

/** The rules with `for:` and the instant ones, evaluated every 10 minutes. */
const stateTests = [
  {
    // WAL over 512 MiB for 30 minutes; free pages over 25 % for a day.
    interval: '10m',
    input_series: [
      { series: `ora_db_wal_bytes{${scraped('health-check')}}`, values: `0 ${600 * 1024 * 1024}x20` },
      { series: `ora_db_free_pages_percent{${scraped('metrics')}}`, values: '30x200' },
      { series: `ora_job_status{${scraped('health-check')},status="failed"}`, values: '0 1 1 0' },
      { series: `ora_db_integrity_ok{${scraped('health-check')}}`, values: '1 0 0 1' },
    ],
    alert_rule_test: [
      { eval_time: '30m', alertname: 'OraWalTooLarge', exp_alerts: [] },
      {
        eval_time: '40m',
        alertname: 'OraWalTooLarge',
        exp_alerts: [
          {
            exp_labels: labels('OraWalTooLarge', 'health-check', 'warning'),
            exp_annotations: {
              summary: `WAL of ${DB} (db1) is 600MiB: a reader is pinning it, or checkpoints are failing (ora-db diagnose locks)`,
            },
          },
        ],
      },
      { eval_time: '23h', alertname: 'OraFreeSpaceHigh', exp_alerts: [] },
      {
        eval_time: '24h30m',
        alertname: 'OraFreeSpaceHigh',
        exp_alerts: [
          {
            exp_labels: labels('OraFreeSpaceHigh', 'metrics', 'info'),
            exp_annotations: {
              summary: `30% of ${DB} (db1) is free pages: weekly-vacuum will reclaim them in its window`,
            },
          },
        ],
      },
      { eval_time: '0m', alertname: 'OraJobFailed', exp_alerts: [] },
      {
        eval_time: '10m',
        alertname: 'OraJobFailed',
        exp_alerts: [
          {
            exp_labels: labels('OraJobFailed', 'health-check', 'critical', { status: 'failed' }),
            exp_annotations: {
              summary: `ora-db health-check failed on ${DB} (db1)`,
              description: "See ora_job_exit_code, the job's log lines (their code field) and README 'Exit codes'.",
            },
          },
        ],
      },
      { eval_time: '30m', alertname: 'OraJobFailed', exp_alerts: [] },
      {
        eval_time: '10m',
        alertname: 'OraIntegrityFailure',
        exp_alerts: [
          {
            exp_labels: labels('OraIntegrityFailure', 'health-check', 'critical'),
            exp_annotations: {
              summary: `Integrity check (health-check) failed on ${DB} (db1): stop writers, take stock with ora-db health-check --full, see ora-db recover`,
            },
          },
        ],
      },
      { eval_time: '30m', alertname: 'OraIntegrityFailure', exp_alerts: [] },
    ],
  },
];

let t: ReturnType<typeof tempDir>;
beforeAll(() => {
  t = tempDir('ora-rules-');
});
afterAll(() => t.cleanup());

function promtoolTestRules(file: string, content: unknown): { status: number | null; output: string } {
  writeFileSync(file, stringify(content));
  const r = spawnSync('promtool', ['test', 'rules', file], { encoding: 'utf8' });
  expect(r.error, 'promtool not found: .ci/run installs it (scripts/install-monitoring.sh)').toBeUndefined();
  return { status: r.status, output: `${r.stdout}${r.stderr}` };
}

describe('alert rules on a simulated clock (promtool test rules)', () => {
  it('fire at their thresholds and after their for: durations, naming ora job, database and host', () => {
    for (const [name, evaluation_interval, tests] of [
      ['age', '1h', ageTests],
      ['state', '10m', stateTests],
    ] as const) {
      const r = promtoolTestRules(t.path(`${name}.test.yaml`), { rule_files: [rules], evaluation_interval, tests });
      expect(r.output, name).toContain('SUCCESS');
      expect(r.status, r.output).toBe(0);
    }
  });

  it('the check can fail: a rule expected to name the scrape job as the ora job does not', () => {
    const wrong = structuredClone(stateTests);
    const failed = wrong[0]?.alert_rule_test.find((a) => a.alertname === 'OraJobFailed' && a.exp_alerts.length > 0);
    const annotations = (failed?.exp_alerts[0] as { exp_annotations?: Record<string, string> } | undefined)
      ?.exp_annotations;
    if (!annotations) throw new Error('the OraJobFailed case lost its annotations');
    annotations.summary = `ora-db node failed on ${DB}`;
    const r = promtoolTestRules(t.path('wrong.test.yaml'), {
      rule_files: [rules],
      evaluation_interval: '1m',
      tests: wrong,
    });
    expect(r.status).not.toBe(0);
    expect(r.output).toContain('ora-db node failed');
  });
});
