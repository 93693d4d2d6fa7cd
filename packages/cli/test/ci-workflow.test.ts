import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';

const root = join(dirname(fileURLToPath(import.meta.url)), '../../..');

function workspacePackages(): string[] {
  const globs = (parse(readFileSync(join(root, 'pnpm-workspace.yaml'), 'utf8')) as { packages: string[] }).packages;
  const dirs = globs.flatMap((g) =>
    g.endsWith('/*') ? readdirSync(join(root, g.slice(0, -2))).map((d) => join(g.slice(0, -2), d)) : [g],
  );
  return dirs
    .map((d) => (JSON.parse(readFileSync(join(root, d, 'package.json'), 'utf8')) as { name: string }).name)
    .sort();
}

describe('.github/workflows/ci.yml', () => {
  it('runs every workspace package as its own job', () => {
    const workflow = parse(readFileSync(join(root, '.github/workflows/ci.yml'), 'utf8')) as {
      jobs: { package: { strategy: { matrix: { package: string[] } } } };
    };
    expect([...workflow.jobs.package.strategy.matrix.package].sort()).toEqual(workspacePackages());
  });

  it('sets up the way .ci/run does', () => {
    const ci = readFileSync(join(root, '.ci/run'), 'utf8');
    const workflow = readFileSync(join(root, '.github/workflows/ci.yml'), 'utf8');
    expect(ci).toContain('bash scripts/setup.sh');
    expect(workflow).toContain('bash scripts/setup.sh');
    // The Prometheus binaries of the monitoring tests.
    expect(ci).toContain('bash scripts/install-monitoring.sh');
    expect(workflow).toContain('bash scripts/install-monitoring.sh');
  });
});
