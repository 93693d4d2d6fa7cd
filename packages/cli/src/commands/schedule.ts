import { mkdirSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { booleanField, choiceField, integerField, pathField, writeFileDurably } from '@ora/core';
import { defineJob } from '@ora/harness';
import * as z from 'zod';
import { JOBS } from '../jobs.js';

export const scheduleCommand = defineJob({
  name: 'schedule',
  describe:
    "Render every job's declared schedule as a crontab or as Kubernetes CronJobs (infra/cron/crontab and infra/k8s/*.yaml are these renderings)",
  schedule: null,
  event: z.object({
    format: choiceField(['crontab', 'k8s'] as const)
      .default('crontab')
      .describe('Output format'),
    write: booleanField().default(false).describe('Write the files under --out-dir instead of printing them'),
    outDir: pathField('a directory path').default('infra').describe('Where --write puts cron/crontab and k8s/*.yaml'),
    pointsEvery: integerField(1, 30, 'minutes')
      .refine((n) => 60 % n === 0, {
        error: 'expected a number of minutes that divides an hour: 1, 2, 3, 4, 5, 6, 10, 12, 15, 20 or 30',
      })
      .default(5)
      .describe('Minutes between restore points (backup --incremental): down to every minute'),
  }),
  examples: [
    ['$0 schedule --format crontab', 'print the crontab'],
    ['$0 schedule --format k8s --write', 'regenerate infra/k8s/*.yaml'],
    ['$0 schedule --points-every 1', 'a restore point every minute instead of every 5'],
  ],
  async run(e) {
    // The renderer and its YAML library are loaded here, not when ora-db starts: no other command needs them.
    const { DEFAULT_DEPLOY, renderCrontab, renderKubernetes } = await import('../deploy/render.js');
    const o = {
      ...DEFAULT_DEPLOY,
      schedules: { 'backup-incremental': e.pointsEvery === 1 ? '* * * * *' : `*/${e.pointsEvery} * * * *` },
    };
    const files: Record<string, string> =
      e.format === 'crontab'
        ? { 'cron/crontab': renderCrontab(JOBS, o) }
        : Object.fromEntries(Object.entries(renderKubernetes(JOBS, o)).map(([n, t]) => [`k8s/${n}`, t]));
    if (e.write) {
      for (const [name, text] of Object.entries(files)) {
        const path = join(e.outDir, name);
        mkdirSync(dirname(path), { recursive: true });
        // Through an exclusive temp file and a rename: a link planted at the path is replaced, not followed.
        writeFileDurably(path, text, dirname(path), `.${basename(path)}.tmp-${process.pid}`);
      }
    }
    return {
      status: 'ok' as const,
      format: e.format,
      written: e.write ? Object.keys(files).map((f) => join(e.outDir, f)) : [],
      files,
    };
  },
  summarize: (r) =>
    r.written.length > 0
      ? `schedule: ok — wrote ${r.written.join(', ')}`
      : Object.values(r.files).join('\n---\n').trimEnd(),
});
