import { mkdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createOraDatabase, tempDir } from '@ora/testkit';
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
  mkdirSync(t.path('m'));
  const runs: string[][] = [
    ['health-check'],
    ['daily-maintenance'],
    ['weekly-vacuum', '--force'],
    ['metrics'],
    ['backup', '--backup-dir', t.path('b')],
    ['backup', 'verify', 'all', '--backup-dir', t.path('b')],
    ['archive', '--before', '2026-06-01'],
  ];
  for (const args of runs) {
    const file = t.path(
      `m/${args
        .slice(0, 2)
        .join('-')
        .replace(/[^a-z-]/g, '')}.prom`,
    );
    const r = await oraDb([...args, '--db', db, '--metrics-file', file]);
    expect(r.code, `${args.join(' ')}: ${r.logs.at(-1)?.msg}`).toBe(0);
    emitted.set(args.join(' '), readFileSync(file, 'utf8'));
  }
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
    ]) {
      expect(all, series).toContain(series);
    }
  });
});

describe('alert rules and dashboard', () => {
  const used = (text: string) => new Set([...text.matchAll(/\b(ora_[a-z0-9_]+)\b/g)].map((m) => m[1] as string));

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
    }
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
