import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
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

describe('the README and docs/ stand alone in a clone', () => {
  const pages = [
    'README.md',
    ...readdirSync(join(root, 'docs'))
      .filter((f) => f.endsWith('.md'))
      .map((f) => `docs/${f}`),
  ];

  it.each(pages)('%s: every relative link resolves to a file inside the repository', (page) => {
    const text = readFileSync(join(root, page), 'utf8');
    // Markdown links and images, without the code spans and blocks (which show syntax, not links).
    const prose = text.replace(/```[\s\S]*?```/g, '').replace(/`[^`\n]*`/g, '');
    const targets = [...prose.matchAll(/!?\[[^\]]*\]\(([^)\s]+)(?:\s+"[^"]*")?\)/g)].map((m) => m[1] as string);
    const local = targets.filter((t) => !/^[a-z][a-z0-9+.-]*:/i.test(t) && !t.startsWith('#'));
    for (const target of local) {
      const file = resolve(root, dirname(page), decodeURIComponent(target.replace(/#.*$/, '')));
      expect(relative(root, file).startsWith('..'), `${page} links outside the repository: ${target}`).toBe(false);
      expect(existsSync(file), `${page} links to a missing file: ${target}`).toBe(true);
    }
  });

  it('names both native modules (better-sqlite3 and zstd-napi), never "the only native module"', () => {
    expect(readme).not.toMatch(/only native module/);
    expect(readme).toMatch(/better-sqlite3[^|\n]*zstd-napi|zstd-napi[^|\n]*better-sqlite3/);
  });
});
