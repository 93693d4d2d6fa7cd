import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createOraDatabase } from '@ora/core/testing';
import { damagePage, rootPage, tempDir } from '@ora/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { oraDb } from './run-cli.js';

const infra = join(dirname(fileURLToPath(import.meta.url)), '../../../infra');
let t: ReturnType<typeof tempDir>;
const emitted = new Map<string, string>();

// Prometheus text exposition: HELP/TYPE comments, or `name{label="value",…} number`.
const SAMPLE =
  /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{([a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\]|\\.)*",?)*\})? -?(\d+(\.\d+)?(e[+-]?\d+)?|NaN|\+Inf|-Inf)$/;

beforeAll(async () => {
  t = tempDir();
  const db = t.path('ora.db');
  createOraDatabase(db, 300);
  for (const dir of ['m', 'd1', 'd2']) mkdirSync(t.path(dir));
  const runs: string[][] = [
    ['health-check'],
    ['daily-maintenance'],
    ['weekly-vacuum', '--force'],
    ['metrics'],
    ['backup', '--backup-dir', t.path('b')],
    // A restore point (run name backup-incremental, gauges ora_backup_point_*), and the prune.
    ['backup', '--incremental', '--backup-dir', t.path('b')],
    ['backup', 'prune', '--backup-dir', t.path('b')],
    // One backup to two destinations.
    ['backup', '--dest', t.path('d1'), '--dest', t.path('d2')],
    // Verifies the full backup and the restore point.
    ['backup', 'verify', 'all', '--backup-dir', t.path('b')],
    ['archive', '--before', '2026-06-01'],
    ['restore', 'latest', '--backup-dir', t.path('b'), '--to', t.path('restored.db')],
    ['recover'],
  ];
  for (const args of runs) {
    const file = t.path(
      `m/${args
        .slice(0, 2)
        .join('-')
        .replace(/[^a-z-]/g, '')}.prom`,
    );
    // backup verify and prune read the backup store only: they have no --db (and refuse one).
    const target = args[1] === 'verify' || args[1] === 'prune' ? [] : ['--db', db];
    const r = await oraDb([...args, ...target, '--metrics-file', file]);
    expect(r.code, `${args.join(' ')}: ${r.logs.at(-1)?.msg}`).toBe(0);
    // Named by the command line without its paths: `backup --dest --dest`.
    emitted.set(args.filter((a) => !a.startsWith('/')).join(' '), readFileSync(file, 'utf8'));
  }
  // A failed run's file too: what the integrity and job-failed alerts read.
  const damaged = t.path('damaged.db');
  copyFileSync(db, damaged);
  damagePage(damaged, rootPage(damaged, 'idx_shipped_items_order_number'));
  const failed = await oraDb(['health-check', '--full', '--db', damaged, '--metrics-file', t.path('m/failed.prom')]);
  expect(failed.code).toBe(1);
  emitted.set('health-check --full (damaged)', readFileSync(t.path('m/failed.prom'), 'utf8'));
}, 120_000);
afterAll(() => t.cleanup());

const names = () =>
  new Set(
    [...emitted.values()].flatMap((text) =>
      [...text.matchAll(/^([a-z_:][a-z0-9_:]*)[{ ]/gm)].map((m) => m[1] as string),
    ),
  );

describe('metrics files from real runs', () => {
  it('parse as Prometheus text, line by line', () => {
    for (const [run, text] of emitted) {
      for (const line of text.trim().split('\n')) {
        if (line === '' || line.startsWith('# HELP ') || line.startsWith('# TYPE ')) continue;
        expect(line, `${run}: ${line}`).toMatch(SAMPLE);
      }
    }
  });

  it('pass promtool check metrics (Prometheus 2.42 lint: naming, HELP, suffixes), every job', () => {
    expect(emitted.size).toBe(13);
    for (const [run, text] of emitted) {
      const lint = spawnSync('promtool', ['check', 'metrics'], { input: text, encoding: 'utf8' });
      expect(lint.error, 'promtool not found: .ci/run installs Debian package prometheus').toBeUndefined();
      expect(`${lint.stdout}${lint.stderr}`.trim(), run).toBe('');
      expect(lint.status, run).toBe(0);
    }
  });

  it('promtool rejects what it should (the check can fail): a gauge named like a summary count', () => {
    const text = '# HELP ora_db_page_count Pages\n# TYPE ora_db_page_count gauge\nora_db_page_count 1\n';
    const lint = spawnSync('promtool', ['check', 'metrics'], { input: text, encoding: 'utf8' });
    expect(lint.status).not.toBe(0);
    expect(lint.stdout + lint.stderr).toContain('should not have "_count" suffix');
  });

  it('label every series with ora_job, database and ora_host, never job or instance (a scrape rewrites those)', () => {
    for (const [run, text] of emitted) {
      for (const line of text.split('\n').filter((l) => l.startsWith('ora_'))) {
        expect(line, run).toMatch(/^ora_[a-z0-9_]+\{ora_job="[a-z-]+",database="[^"]*",ora_host="[^"]+"/);
        expect(line, run).not.toMatch(/[{,](job|instance)=/);
      }
    }
  });

  it('give a metric the same HELP in every file (node_exporter merges the files of its textfile directory)', () => {
    const help = new Map<string, string>();
    for (const [run, text] of emitted) {
      for (const [, name, h] of text.matchAll(/^# HELP (\S+) (.*)$/gm)) {
        expect(help.get(name as string) ?? h, `${run}: ${name}`).toBe(h);
        help.set(name as string, h as string);
      }
    }
  });

  it('contain the documented series', () => {
    const all = names();
    for (const series of [
      'ora_job_status',
      'ora_job_exit_code',
      'ora_job_duration_seconds',
      'ora_job_last_run_timestamp_seconds',
      'ora_job_last_success_timestamp_seconds',
      'ora_db_size_bytes',
      'ora_db_wal_bytes',
      'ora_db_free_pages_percent',
      'ora_db_integrity_ok',
      'ora_backup_artifact_bytes',
      'ora_backup_last_success_timestamp_seconds',
      'ora_archive_rows_moved',
      'ora_table_rows',
      'ora_backup_point_stored_bytes',
      'ora_backup_point_changed_pages',
      'ora_backup_point_pages',
      'ora_backup_point_last_success_timestamp_seconds',
      'ora_backup_points_kept',
      'ora_backup_destinations_failed',
    ]) {
      expect(all, series).toContain(series);
    }
  });
});

describe('the runs of one job keep their own series', () => {
  const series = (run: string) => (emitted.get(run) ?? '').split('\n').filter((l) => l.startsWith('ora_'));

  it("a restore point reports as backup-incremental, with its own gauges (never the daily backup's)", () => {
    const point = series('backup --incremental --backup-dir');
    expect(point.length).toBeGreaterThan(0);
    for (const line of point) expect(line).toContain('{ora_job="backup-incremental",');
    const names = point.map((l) => l.slice(0, l.indexOf('{')));
    expect(names).toContain('ora_backup_point_last_success_timestamp_seconds');
    // None of the daily backup's (ora_backup_artifact_bytes, ora_backup_last_success_timestamp_seconds …).
    expect(names.filter((n) => n.startsWith('ora_backup_') && !n.startsWith('ora_backup_point'))).toEqual([]);
    expect(point.find((l) => l.startsWith('ora_backup_point_changed_pages{'))).toMatch(/ [1-9]\d*$/);
  });

  it('a backup to two destinations counts the ones that failed (none)', () => {
    const two = series('backup --dest --dest');
    expect(two.find((l) => l.startsWith('ora_backup_destinations_failed{'))).toMatch(/{ora_job="backup",.*} 0$/);
    expect(two.find((l) => l.startsWith('ora_job_exit_code{'))).toMatch(/ 0$/);
  });

  it('backup prune reports as backup-prune', () => {
    expect(series('backup prune --backup-dir').length).toBeGreaterThan(0);
    for (const line of series('backup prune --backup-dir')) expect(line).toContain('{ora_job="backup-prune",');
  });
});

describe('alert rules and dashboard', () => {
  // Metric names: ora_job and ora_host are label names.
  const used = (text: string) =>
    new Set(
      [...text.matchAll(/\b(ora_[a-z0-9_]+)\b/g)]
        .map((m) => m[1] as string)
        .filter((n) => n !== 'ora_job' && n !== 'ora_host'),
    );

  it('use only metrics the jobs emit', () => {
    const rules = parse(readFileSync(join(infra, 'prometheus/alerts.yaml'), 'utf8')) as {
      groups: { rules: { alert: string; expr: string }[] }[];
    };
    const exprs = rules.groups.flatMap((g) => g.rules.map((r) => r.expr));
    const dashboard = JSON.parse(readFileSync(join(infra, 'grafana/ora-db-ops.json'), 'utf8')) as {
      panels: { targets: { expr: string }[] }[];
    };
    const panelExprs = dashboard.panels.flatMap((p) => p.targets.map((x) => x.expr));
    const all = names();
    for (const expr of [...exprs, ...panelExprs]) {
      for (const metric of used(expr)) expect(all, `${metric} in ${expr}`).toContain(metric);
      // The scrape's own labels name the scrape, not the ora job or its machine.
      expect(expr).not.toMatch(/\b(job|instance)\s*(=|!=|=~|!~)/);
    }
    const text = `${readFileSync(join(infra, 'prometheus/alerts.yaml'), 'utf8')}${readFileSync(join(infra, 'grafana/ora-db-ops.json'), 'utf8')}`;
    expect(text).not.toMatch(/\$labels\.(job|instance)\b|\{\{\s*(job|instance)\s*\}\}/);
    expect(rules.groups[0]?.rules.map((r) => r.alert)).toEqual(
      expect.arrayContaining([
        'OraJobFailed',
        'OraBackupTooOld',
        'OraWalTooLarge',
        'OraFreeSpaceHigh',
        'OraIntegrityFailure',
      ]),
    );
  });
});
