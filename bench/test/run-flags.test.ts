import { spawnSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');

describe('pnpm bench flags', () => {
  it.each([
    [['--runs', '1.5'], /^bench: invalid --runs "1.5": expected a whole number from 1 to 100$/],
    [['--runs', '0'], /^bench: invalid --runs "0": expected a whole number from 1 to 100$/],
    [['--size-mib', 'big'], /^bench: invalid --size-mib "big": expected a whole number from 1 to 65536$/],
    [['--only', 'backup,vacuum'], /^bench: invalid --only "backup,vacuum": expected names from backup, /],
    [['--quick', '--fast'], /^bench: Unknown option '--fast'/],
    [['--runs'], /^bench: Option '--runs <value>' argument missing/],
  ])('refuses %j with exit 2 and a usage line, before building any fixture', (args, message) => {
    const fixtures = () => readdirSync(root).filter((f) => f === '.fixtures' || f === 'results');
    const before = fixtures();
    const r = spawnSync(process.execPath, ['--import', 'tsx', 'src/run.ts', ...args], { cwd: root, encoding: 'utf8' });
    expect(r.status).toBe(2);
    const lines = r.stderr.trim().split('\n');
    expect(lines[0]).toMatch(message);
    expect(lines.at(-1)).toMatch(/^usage: pnpm bench /);
    expect(r.stdout).toBe('');
    expect(fixtures()).toEqual(before);
  });
});
