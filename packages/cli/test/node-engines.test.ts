import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';

/**
 * Setup on Node 20 prints no `Unsupported engine` warning: every package the lockfile installs
 * (dev dependencies too: pnpm warns for those alike) accepts the oldest Node the root package.json
 * allows (kubernetes-models and strip-json-comments are held at versions that support Node 20 for
 * this; a bump past them fails here, naming the package and its range).
 */

const root = join(dirname(fileURLToPath(import.meta.url)), '../../..');

type Version = [number, number, number];
/** A version with wildcards (`20.x`, `6.*`, `>=10`): null where a part is missing or wild. */
type Partial = [number | null, number | null, number | null];

function partial(text: string): Partial {
  const parts = text.replace(/^v/, '').split('.');
  const at = (i: number) => {
    const p = parts[i];
    return p === undefined || p === '' || p === 'x' || p === 'X' || p === '*' ? null : Number(p);
  };
  return [at(0), at(1), at(2)];
}

function compare(a: Version, b: Version): number {
  for (let i = 0; i < 3; i++) if (a[i] !== b[i]) return (a[i] as number) - (b[i] as number);
  return 0;
}

const floor = (p: Partial): Version => [p[0] ?? 0, p[1] ?? 0, p[2] ?? 0];

/** Whether `v` satisfies one comparator (`>=20.19.0`, `^22.12.0`, `~1.2`, `20.x`, `<7`). */
function comparator(v: Version, token: string): boolean {
  const m = /^(>=|<=|>|<|=|\^|~)?(.*)$/.exec(token) as RegExpExecArray;
  const op = m[1] ?? '';
  const p = partial(m[2] as string);
  const low = floor(p);
  switch (op) {
    case '>=':
      return compare(v, low) >= 0;
    case '>':
      return compare(v, low) > 0;
    case '<':
      return compare(v, low) < 0;
    case '<=':
      return compare(v, low) <= 0;
    case '^': {
      const high: Version =
        low[0] > 0 || p[1] === null
          ? [low[0] + 1, 0, 0]
          : low[1] > 0 || p[2] === null
            ? [0, low[1] + 1, 0]
            : [0, 0, low[2] + 1];
      return compare(v, low) >= 0 && compare(v, high) < 0;
    }
    case '~': {
      const high: Version = p[1] === null ? [low[0] + 1, 0, 0] : [low[0], low[1] + 1, 0];
      return compare(v, low) >= 0 && compare(v, high) < 0;
    }
    default:
      return p.every((part, i) => part === null || part === v[i]);
  }
}

/** Whether `version` satisfies an npm engines range (`||` of space-separated comparators). */
function satisfies(version: string, range: string): boolean {
  const v = floor(partial(version));
  return range.split('||').some((alternative) => {
    const tokens = alternative
      .trim()
      .replace(/(>=|<=|>|<|=|\^|~)\s+/g, '$1')
      .split(/\s+/)
      .filter(Boolean);
    return tokens.length === 0 || tokens.every((t) => comparator(v, t));
  });
}

describe('setup on Node 20: no Unsupported engine warning', () => {
  const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { engines: { node: string } };
  const oldest = (/^>=\s*([\d.]+)$/.exec(pkg.engines.node)?.[1] ?? '') as string;
  const lock = parse(readFileSync(join(root, 'pnpm-lock.yaml'), 'utf8')) as {
    packages: Record<string, { engines?: { node?: string } }>;
  };
  const ranges = Object.entries(lock.packages)
    .filter(([, p]) => typeof p.engines?.node === 'string')
    .map(([name, p]) => [name, p.engines?.node as string] as const);

  it('the range check can fail (Node 22-only ranges refuse 20.19) and passes what it should', () => {
    expect(oldest).toMatch(/^20\.\d+/);
    for (const r of ['>=22', '>= 22.0.0', '^22.12.0', '22.x', '^18 || >=22', '>=6 <7 || >=21'])
      expect(satisfies('20.19.0', r), r).toBe(false);
    for (const r of ['>=18', '>= 10.x', '^20.19.0 || >=22.12.0', '20.x || 22.x', '6.* || 8.* || >= 10.*', '~20.19'])
      expect(satisfies('20.19.0', r), r).toBe(true);
    expect(satisfies('20.18.3', '^20.19.0 || >=22.12.0')).toBe(false);
  });

  it.each([
    ['the oldest Node package.json allows', oldest],
    ['this Node', process.versions.node],
  ])('every package in pnpm-lock.yaml accepts %s (%s)', (_what, version) => {
    expect(ranges.length).toBeGreaterThan(50);
    const refused = ranges
      .filter(([, range]) => !satisfies(version, range))
      .map(([name, range]) => `${name}: ${range}`);
    expect(refused).toEqual([]);
  });
});
