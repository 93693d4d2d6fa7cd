import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, renameSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';

/** Orders per MiB of an ORA database from `ora-db seed` (measured: 2.7 M orders ≈ 1041 MiB). */
const ORDERS_PER_MIB = 2_600;

/**
 * A deterministic ORA-shaped database of about `sizeMib`, generated once by `ora-db seed` (fixed
 * seed and end date) and cached under bench/.fixtures.
 */
export function fixture(root: string, sizeMib: number): string {
  const dir = join(root, 'bench/.fixtures');
  mkdirSync(dir, { recursive: true });
  const orders = Math.max(1000, Math.round(sizeMib * ORDERS_PER_MIB));
  const path = join(dir, `ora-${orders}.db`);
  if (existsSync(path)) return path;
  const temp = `${path}.building`;
  rmSync(temp, { force: true });
  console.error(`bench: generating ${path} (~${sizeMib} MiB, ${orders} orders)…`);
  const r = spawnSync(
    process.execPath,
    [
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
    ],
    { stdio: ['ignore', 'ignore', 'inherit'], env: { ...process.env, ORA_LOG_LEVEL: 'warn' } },
  );
  if (r.status !== 0) throw new Error('fixture generation failed');
  renameSync(temp, path);
  console.error(`bench: fixture is ${(statSync(path).size / 1048576).toFixed(0)} MiB`);
  return path;
}
