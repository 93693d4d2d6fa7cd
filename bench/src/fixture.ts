import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, statSync } from 'node:fs';
import { join } from 'node:path';

/** Orders per MiB of an ORA database from `ora-db seed` (measured: 2.7 M orders ≈ 1041 MiB). */
const ORDERS_PER_MIB = 2_600;

/**
 * A deterministic ORA-shaped database of about `sizeMib`, generated once by `ora-db seed` (fixed
 * seed and end date) and cached under bench/.fixtures, or under `ORA_BENCH_FIXTURES` (a folder
 * several checkouts share: generation then holds `<folder>/.gen.lock` with flock(1), so two
 * benches never build the same file at once). The benches copy a fixture before changing it.
 */
export function fixture(root: string, sizeMib: number): string {
  const dir = process.env.ORA_BENCH_FIXTURES || join(root, 'bench/.fixtures');
  mkdirSync(dir, { recursive: true });
  const orders = Math.max(1000, Math.round(sizeMib * ORDERS_PER_MIB));
  const path = join(dir, `ora-${orders}.db`);
  if (existsSync(path)) return path;
  const temp = `${path}.building`;
  console.error(`bench: generating ${path} (~${sizeMib} MiB, ${orders} orders)…`);
  const seed = [
    process.execPath,
    join(root, 'packages/cli/dist/ora-db.mjs'),
    'seed',
    '--db',
    temp,
    '--orders',
    String(orders),
    '--seed',
    '7',
    '--end-date',
    '2026-11-01',
    '--days',
    '1500',
  ];
  // Under the lock: build only if nobody else has meanwhile, into a temp renamed when complete.
  const script = 'test -e "$1" && exit 0; p=$1; t=$2; shift 2; rm -f "$t" && "$@" && mv "$t" "$p"';
  const inLock = spawnSync('sh', ['-c', 'command -v flock']).status === 0;
  const r = spawnSync(
    inLock ? 'flock' : 'sh',
    [...(inLock ? [join(dir, '.gen.lock'), 'sh'] : []), '-c', script, 'sh', path, temp, ...seed],
    { stdio: ['ignore', 'ignore', 'inherit'], env: { ...process.env, ORA_LOG_LEVEL: 'warn' } },
  );
  if (r.status !== 0) throw new Error('fixture generation failed');
  console.error(`bench: fixture is ${(statSync(path).size / 1048576).toFixed(0)} MiB`);
  return path;
}
