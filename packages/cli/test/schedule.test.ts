import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { CronJob } from 'kubernetes-models/batch/v1';
import { ConfigMap } from 'kubernetes-models/v1';
import { describe, expect, it } from 'vitest';
import { kubernetesObjects, renderCrontab, renderKubernetes, scheduledRuns } from '../src/deploy/render.js';
import { JOBS } from '../src/index.js';
import { oraDb } from './run-cli.js';

const infra = join(dirname(fileURLToPath(import.meta.url)), '../../../infra');

describe('schedules: one source of truth', () => {
  it('the committed crontab is a fresh render (regenerate: pnpm -s ora-db schedule --format crontab --write)', () => {
    expect(readFileSync(join(infra, 'cron/crontab'), 'utf8')).toBe(renderCrontab(JOBS));
  });

  it('the committed Kubernetes files are a fresh render (regenerate: pnpm -s ora-db schedule --format k8s --write)', () => {
    const rendered = renderKubernetes(JOBS);
    expect(readdirSync(join(infra, 'k8s')).sort()).toEqual(Object.keys(rendered).sort());
    for (const [name, text] of Object.entries(rendered))
      expect(readFileSync(join(infra, 'k8s', name), 'utf8'), name).toBe(text);
  });

  it('renders a CronJob for every scheduled job, valid against the Kubernetes schema', () => {
    const objects = kubernetesObjects(JOBS);
    const cronJobs = objects.filter((o) => o.kind === 'CronJob');
    expect(cronJobs.map((c) => (c.metadata as { name: string }).name).sort()).toEqual(
      [...JOBS.filter((j) => j.schedule).map((j) => `ora-${j.name}`), 'ora-backup-incremental'].sort(),
    );
    for (const o of objects) {
      if (o.kind === 'CronJob') new CronJob(o as never).validate();
      else new ConfigMap(o as never).validate();
    }
    for (const c of cronJobs) {
      // biome-ignore lint/suspicious/noExplicitAny: walking a rendered manifest's nested fields.
      const spec = c.spec as Record<string, any>;
      expect(spec.concurrencyPolicy).toBe('Forbid');
      const pod = spec.jobTemplate.spec.template.spec;
      expect(pod.securityContext.runAsNonRoot).toBe(true);
      expect(pod.containers[0].securityContext).toMatchObject({
        allowPrivilegeEscalation: false,
        readOnlyRootFilesystem: true,
      });
      expect(pod.affinity.podAffinity.requiredDuringSchedulingIgnoredDuringExecution[0].topologyKey).toBe(
        'kubernetes.io/hostname',
      );
    }
  });

  it('feeds monitoring: cron writes one textfile-collector file per job and database, k8s pushes to the Pushgateway', () => {
    const lines = renderCrontab(JOBS)
      .split('\n')
      .filter((l) => /^[0-9*]/.test(l));
    const runs = scheduledRuns(JOBS);
    expect(lines).toHaveLength(runs.length);
    const files = lines.map((l) => /--metrics-file (\S+) /.exec(l)?.[1]);
    for (const [i, run] of runs.entries()) {
      expect(files[i]).toBe(`/var/lib/prometheus/node-exporter/ora_${run.name}_ora.prom`);
    }
    expect(new Set(files).size).toBe(files.length);
    const [configMap, ...cronJobs] = kubernetesObjects(JOBS) as { data?: Record<string, string>; spec?: unknown }[];
    expect(configMap?.data?.ORA_PUSHGATEWAY_URL).toBe('http://prometheus-pushgateway.monitoring.svc:9091');
    for (const c of cronJobs) {
      // biome-ignore lint/suspicious/noExplicitAny: walking a rendered manifest's nested fields.
      const pod = (c.spec as any).jobTemplate.spec.template.spec;
      // One hostname for every pod, so ora_host (and the Pushgateway group) is the same run after run.
      expect(pod.hostname).toBe('ora-db-ops');
      expect(pod.containers[0].envFrom[0].configMapRef.name).toBe('ora-db-config');
    }
  });

  it('schedules a restore point every 5 minutes from the backup bundle, configurable down to every minute', async () => {
    const line = renderCrontab(JOBS)
      .split('\n')
      .find((l) => l.includes('--incremental'));
    expect(line).toBe(
      '*/5 * * * * node --enable-source-maps /opt/ora-db/functions/backup/dist/index.mjs --incremental --metrics-file /var/lib/prometheus/node-exporter/ora_backup-incremental_ora.prom >> /var/log/ora/backup-incremental.log 2>&1',
    );
    // biome-ignore lint/suspicious/noExplicitAny: walking a rendered manifest's nested fields.
    const k8s = kubernetesObjects(JOBS).find((o: any) => o.metadata.name === 'ora-backup-incremental') as any;
    expect(k8s.spec.schedule).toBe('*/5 * * * *');
    expect(k8s.spec.jobTemplate.spec.template.spec.containers[0].command.slice(-2)).toEqual([
      '/app/functions/backup/dist/index.mjs',
      '--incremental',
    ]);
    const every = await oraDb(['schedule', '--points-every', '1']);
    expect(every.code).toBe(0);
    expect(every.out).toMatch(/^\* \* \* \* \* node .*functions\/backup\/dist\/index\.mjs --incremental /m);
    expect(every.out).toMatch(/^0 1 \* \* \* node .*functions\/backup\/dist\/index\.mjs --metrics-file/m);
    const ten = await oraDb(['schedule', '--points-every', '10', '--format', 'k8s']);
    expect(ten.out).toMatch(/name: ora-backup-incremental[\s\S]*schedule: "\*\/10 \* \* \* \*"/);
    for (const bad of ['7', '0', '31', 'x', '2.5']) {
      const r = await oraDb(['schedule', '--points-every', bad]);
      expect(r.code, bad).toBe(2);
      expect(r.logs[0]?.msg, bad).toMatch(/^invalid input: --points-every=/);
    }
  });

  it('schema validation catches a broken object (the check can fail)', () => {
    const broken = { ...kubernetesObjects(JOBS)[1], spec: { schedule: 5 } };
    expect(() => new CronJob(broken as never).validate()).toThrow(/jobTemplate|schedule/);
  });

  it('ora-db schedule prints the crontab, and refuses an unknown format', async () => {
    const r = await oraDb(['schedule', '--format', 'crontab']);
    expect(r.code).toBe(0);
    expect(r.out).toBe(renderCrontab(JOBS));
    const bad = await oraDb(['schedule', '--format', 'systemd']);
    expect(bad.code).toBe(2);
    expect(bad.logs[0]?.msg).toBe('invalid input: --format="systemd": expected one of: crontab, k8s');
  });
});
