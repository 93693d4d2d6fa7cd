// pnpm demo: seeds .demo/ora.db if absent, then runs every job that exists so far against it
// through the bundled CLI (the same code a container runs), printing each result.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const cli = join(root, 'packages/cli/dist/ora-db.mjs');
const db = join(root, '.demo/ora.db');

/** [title, args, exit codes that count as success] */
const steps = [
  ['Morning health check (quick_check)', ['health-check'], [0]],
  ['Health check with full integrity_check, as JSON', ['health-check', '--full', '--json'], [0]],
  ['Daily maintenance (bounded checkpoint, ANALYZE, optimize, quick_check)', ['daily-maintenance'], [0]],
  ['Weekly vacuum (skipped outside its window or below the threshold)', ['weekly-vacuum'], [0]],
  ['Metrics: tables, indexes, index usage', ['metrics'], [0]],
  ['Troubleshooting: locks', ['diagnose', 'locks'], [0]],
  ['Troubleshooting: foreign keys', ['diagnose', 'fk'], [0]],
  [
    'Troubleshooting: a query plan',
    ['explain', 'SELECT * FROM shipped_items WHERE ship_date > ?', '--params', '["2026-01-01"]'],
    [0],
  ],
  ['Backup: snapshot, integrity_check, gzip, checksum, manifest, retention', ['backup'], [0]],
  [
    'A restore point: only the pages changed since the last one (cron: every 5 minutes)',
    ['backup', '--incremental'],
    [0],
  ],
  ['The stored backups and restore points', ['backup', 'list'], [0]],
  ['Restore drill of the newest backup (touches nothing live)', ['backup', 'verify', 'latest'], [0]],
  ['What a restore of the newest backup or restore point would do', ['restore', 'latest', '--dry-run'], [0]],
  ['Migrations (backup first when any are pending)', ['migrate'], [0]],
  ['Archive: what would move to the yearly archives', ['archive', '--older-than', '365d', '--dry-run'], [0]],
  ['Recover: a healthy database has nothing to recover', ['recover'], [0]],
  ['Low-stock alert (first 5)', ['inventory', 'low-stock', '--limit', '5'], [0]],
  ['Record a shipment', ['inventory', 'ship', 'SKU-0001', '1'], [0]],
  ['Another restore point: a few KiB for that shipment', ['backup', '--incremental'], [0]],
  ['A bad input is refused with exit 2 and one line', ['inventory', 'ship', 'NO-SUCH-SKU', '1'], [2]],
];

const env = {
  ...process.env,
  DATABASE_PATH: db,
  BACKUP_DIR: join(root, '.demo/backups'),
  ORA_LOG_LEVEL: process.env.ORA_LOG_LEVEL ?? 'warn',
};
function oraDb(args) {
  return spawnSync(process.execPath, ['--enable-source-maps', cli, ...args], { env, stdio: 'inherit' }).status;
}

if (!existsSync(cli)) {
  console.error(`demo: ${cli} is missing; run 'pnpm bundle' first`);
  process.exit(3);
}
let failed = 0;
if (!existsSync(db)) {
  mkdirSync(dirname(db), { recursive: true, mode: 0o700 });
  console.log(`\n== Seeding ${db} (ora-db seed --size small) ==`);
  if (oraDb(['seed', '--size', 'small']) !== 0) process.exit(1);
}
for (const [title, args, ok] of steps) {
  console.log(`\n== ${title}: ora-db ${args.join(' ')} ==`);
  const code = oraDb(args);
  console.log(`(exit ${code})`);
  if (!ok.includes(code)) failed++;
}
console.log(failed === 0 ? '\ndemo: every step behaved as expected' : `\ndemo: ${failed} step(s) did not`);
process.exit(failed === 0 ? 0 : 1);
