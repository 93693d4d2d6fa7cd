import { spawnSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');

describe('pnpm test:crash', () => {
  it.each([
    [['--seeds', '0'], /^invalid --seeds "0": expected a whole number from 1 to 10000$/],
    [['--seeds', 'many'], /^invalid --seeds "many": expected a whole number from 1 to 10000$/],
    [['--seed=-4'], /^invalid --seed "-4": expected a whole number ≥ 0$/],
    [['--seed', '-4'], /argument is ambiguous/],
    [
      ['--job', 'vacuum'],
      /^invalid --job "vacuum": expected one of backup, backup-incremental, backup-prune, restore, daily-maintenance, weekly-vacuum, archive, recover$/,
    ],
    [['--jobs', 'backup'], /Unknown option '--jobs'/],
  ])('refuses %j with exit 2 and a usage line, running nothing', (args, message) => {
    const r = spawnSync(process.execPath, ['--import', 'tsx', 'src/crash-cli.ts', ...args], {
      cwd: root,
      encoding: 'utf8',
    });
    expect(r.status).toBe(2);
    const lines = r.stderr.trim().split('\n');
    expect(lines[0]).toMatch(message);
    expect(lines.at(-1)).toMatch(/^usage: pnpm test:crash/);
    expect(r.stdout).toBe('');
  });
});
