import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describeConfig } from '@ora/core';
import { describe, expect, it } from 'vitest';
import { COMMANDS, JOBS } from '../src/index.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '../../..');
const readme = readFileSync(join(root, 'README.md'), 'utf8');
const demo = readFileSync(join(root, 'scripts/demo.mjs'), 'utf8');

describe('the README and the demo stay true to the code', () => {
  it('documents every environment variable in the configuration table', () => {
    for (const v of describeConfig()) expect(readme, v.name).toContain(`\`${v.name}\``);
  });

  it('lists every job and command in the CLI reference, with its schedule', () => {
    for (const job of [...JOBS, ...COMMANDS]) {
      const cliName = job.name === 'backup-verify' ? 'backup verify' : job.name;
      expect(readme, job.name).toMatch(new RegExp(`\\| \`${cliName}[ \`\\[<"]`));
      if (job.schedule) expect(readme, job.name).toContain(`\`${job.schedule}\``);
    }
  });

  it('runs every scheduled job in pnpm demo', () => {
    for (const job of JOBS) {
      const words = job.name === 'backup-verify' ? "'backup', 'verify'" : `'${job.name}'`;
      expect(demo, job.name).toContain(`[${words}`);
    }
  });
});
