import { spawn, spawnSync } from 'node:child_process';
import { copyFileSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startWriter, type WriterReport } from '@ora/testkit';
import Database from 'better-sqlite3';
import { type Summary, summarize } from './stats.js';

export interface Comparison {
  name: string;
  ours: Summary;
  baseline: Summary | null;
  baselineName: string;
  /** baseline median / ours median (> 1: ours is faster), or ours/baseline where `lowerIsOurs` is false. */
  ratio: number | null;
  target: string;
  met: boolean | null;
  note?: string;
}

const has = (cmd: string) => spawnSync('sh', ['-c', `command -v ${cmd}`]).status === 0;

function timeIt(cmd: string, args: string[], env: NodeJS.ProcessEnv = process.env, okCodes = [0]): number {
  const t = performance.now();
  const r = spawnSync(cmd, args, { stdio: ['ignore', 'ignore', 'pipe'], env });
  if (!okCodes.includes(r.status ?? -1)) throw new Error(`${cmd} ${args.join(' ')} exited ${r.status}: ${r.stderr}`);
  return performance.now() - t;
}

/** Runs A and B alternately `runs` times each and compares medians. */
function alternate(runs: number, a: () => number, b: (() => number) | null): [number[], number[]] {
  const as: number[] = [];
  const bs: number[] = [];
  for (let i = 0; i < runs; i++) {
    as.push(a());
    if (b) bs.push(b());
  }
  return [as, bs];
}

const env = { ...process.env, ORA_LOG_LEVEL: 'warn' };

/** 3. health-check (quick and full) vs the guide's bash health script on the same file. */
export function benchHealthCheck(root: string, db: string, runs: number): Comparison[] {
  const bundle = join(root, 'functions/health-check/dist/index.mjs');
  const work = mkdtempSync(join(tmpdir(), 'ora-bench-hc-'));
  const script = join(work, 'daily_health_check.sh');
  // The guide's script, verbatim but for the paths.
  writeFileSync(
    script,
    `#!/bin/bash\nDB="$1"; LOG="${work}/db_health.log"\necho "=== ORA Database Health Check: $(date) ===" >> $LOG\nif [ ! -f "$DB" ]; then echo "ERROR" >> $LOG; exit 1; fi\nsqlite3 "$DB" "PRAGMA integrity_check;" >> $LOG\nDB_SIZE=$(du -h "$DB" | cut -f1); echo "Database size: $DB_SIZE" >> $LOG\nWAL_SIZE=$(du -h "$DB-wal" 2>/dev/null | cut -f1); echo "WAL file size: \${WAL_SIZE:-N/A}" >> $LOG\nsqlite3 "$DB" "SELECT ROUND(CAST((SELECT freelist_count FROM pragma_freelist_count()) AS REAL) / (SELECT page_count FROM pragma_page_count()) * 100, 2) || '% free space';" >> $LOG\necho "Health check completed successfully" >> $LOG\n`,
  );
  const guide = has('sqlite3') ? () => timeIt('bash', [script, db]) : null;
  const out: Comparison[] = [];
  for (const full of [false, true]) {
    const [ours, base] = alternate(
      runs,
      () => timeIt(process.execPath, [bundle, '--db', db, ...(full ? ['--full'] : [])], env),
      guide,
    );
    const o = summarize(ours);
    const b = base.length ? summarize(base) : null;
    const ratio = b ? Math.round((o.median / b.median) * 100) / 100 : null;
    out.push({
      name: `health-check ${full ? '--full (integrity_check)' : '(quick_check)'}`,
      ours: o,
      baseline: b,
      baselineName: "guide's daily_health_check.sh (full integrity_check)",
      ratio,
      target: full ? '≤ 0.7x the guide script' : 'informational',
      met: full && ratio !== null ? ratio <= 0.7 : null,
    });
  }
  rmSync(work, { recursive: true, force: true });
  return out;
}

/** 5. restore (verified, into a new path) vs `sqlite3 .restore` of a plain copy. */
export function benchRestore(root: string, db: string, runs: number): Comparison {
  const work = mkdtempSync(join(tmpdir(), 'ora-bench-restore-'));
  const backups = join(work, 'b');
  timeIt(process.execPath, [join(root, 'functions/backup/dist/index.mjs'), '--db', db, '--backup-dir', backups], env);
  const plain = join(work, 'plain.db');
  copyFileSync(db, plain);
  let i = 0;
  const [ours, base] = alternate(
    runs,
    () => {
      const to = join(work, `r-${i++}.db`);
      const ms = timeIt(
        process.execPath,
        [join(root, 'functions/restore/dist/index.mjs'), 'latest', '--db', db, '--backup-dir', backups, '--to', to],
        env,
      );
      rmSync(to, { force: true });
      return ms;
    },
    has('sqlite3')
      ? () => {
          const to = join(work, `s-${i++}.db`);
          copyFileSync(plain, to);
          const ms = timeIt('sqlite3', [to, `.restore '${plain}'`]);
          rmSync(to, { force: true });
          return ms;
        }
      : null,
  );
  rmSync(work, { recursive: true, force: true });
  const o = summarize(ours);
  const b = base.length ? summarize(base) : null;
  return {
    name: 'restore (checksum + decompress + integrity_check + restore)',
    ours: o,
    baseline: b,
    baselineName: 'sqlite3 .restore (no verification)',
    ratio: b ? Math.round((o.median / b.median) * 100) / 100 : null,
    target: 'informational (ours verifies; .restore does not)',
    met: null,
  };
}

/** 4. archive rows/s and longest lock vs one bulk INSERT … SELECT; DELETE pair. */
export function benchArchive(root: string, db: string, runs: number): Comparison {
  const cutoff = '2025-06-01';
  const ours: number[] = [];
  const base: number[] = [];
  let longest = 0;
  for (let i = 0; i < runs; i++) {
    const work = mkdtempSync(join(tmpdir(), 'ora-bench-archive-'));
    const copy = join(work, 'a.db');
    copyFileSync(db, copy);
    const t = performance.now();
    const r = spawnSync(
      process.execPath,
      [join(root, 'functions/archive/dist/index.mjs'), '--db', copy, '--before', cutoff, '--json'],
      { env, encoding: 'utf8' },
    );
    ours.push(performance.now() - t);
    longest = Math.max(longest, JSON.parse(r.stdout).longestLockMs);
    rmSync(work, { recursive: true, force: true });
    const bulkDir = mkdtempSync(join(tmpdir(), 'ora-bench-bulk-'));
    const copy2 = join(bulkDir, 'b.db');
    copyFileSync(db, copy2);
    const raw = new Database(copy2);
    raw.exec(
      `ATTACH '${copy2}.archive' AS arch; CREATE TABLE arch.shipped_orders AS SELECT * FROM shipped_orders WHERE 0; CREATE TABLE arch.shipped_items AS SELECT * FROM shipped_items WHERE 0;`,
    );
    const t2 = performance.now();
    raw.exec(`BEGIN IMMEDIATE;
      INSERT INTO arch.shipped_orders SELECT * FROM shipped_orders WHERE ship_date < '${cutoff}';
      INSERT INTO arch.shipped_items SELECT i.* FROM shipped_items i JOIN shipped_orders o ON o.order_number = i.order_number WHERE o.ship_date < '${cutoff}';
      DELETE FROM shipped_items WHERE order_number IN (SELECT order_number FROM shipped_orders WHERE ship_date < '${cutoff}');
      DELETE FROM shipped_orders WHERE ship_date < '${cutoff}';
      COMMIT;`);
    base.push(performance.now() - t2);
    raw.close();
    rmSync(bulkDir, { recursive: true, force: true });
  }
  const o = summarize(ours);
  const b = summarize(base);
  const ratio = Math.round((b.median / o.median) * 100) / 100;
  return {
    name: `archive (batched, verified; longest write lock ${longest} ms)`,
    ours: o,
    baseline: b,
    baselineName: 'one bulk INSERT … SELECT; DELETE (holds the lock throughout)',
    ratio,
    target: '≥ 0.5x the bulk pair, lock ≤ 50 ms',
    met: ratio >= 0.5 && longest <= 50,
  };
}

/** 6. repository inventory transactions and batch inserts vs a raw prepared-statement loop. */
export async function benchRepositories(root: string, runs: number): Promise<Comparison[]> {
  const core = await import(join(root, 'packages/core/src/index.ts'));
  const work = mkdtempSync(join(tmpdir(), 'ora-bench-repo-'));
  const make = (name: string) => {
    const path = join(work, name);
    const db = core.openDatabase(path, { create: true });
    core.migrate(db);
    core.upsertInventoryItem(db, { sku: 'A', productName: 'A', reorderPoint: 10, quantity: 0 });
    return db;
  };
  // Inventory movements, one transaction each. The raw loop is the cheapest pair of statements
  // for a movement (constants, no stock check, no alert level, no RETURNING), so the ratio is a
  // conservative one: the repository also refuses negative stock and maintains the alert level.
  const n = 2000;
  const ours: number[] = [];
  const raw: number[] = [];
  // Shipment batches: `orders` orders of 3 items each in one transaction, vs the same INSERT
  // statements in a raw loop inside one transaction.
  const orders = 5000;
  const batch = Array.from({ length: orders }, (_, i) => ({
    orderNumber: `SO-${i}`,
    shipDate: '2026-11-01',
    customer: `Customer ${i % 97}`,
    carrier: 'UPS',
    trackingNumber: `1Z${i}`,
    items: [0, 1, 2].map((k) => ({ baseSku: `SKU-${(i + k) % 89}`, skuLot: `L${k}`, quantityShipped: 1 + k })),
  }));
  const oursBatch: number[] = [];
  const rawBatch: number[] = [];
  // Round 0 warms both up (JIT, page cache) and is not counted: these are rates, not cold starts.
  for (let r = 0; r <= runs * 5; r++) {
    const a = make(`o-${r}.db`);
    let t = performance.now();
    for (let i = 0; i < n; i++)
      core.recordInventoryTransaction(a, { sku: 'A', quantity: 1, type: 'Receive', date: '2026-11-01' });
    if (r > 0) ours.push(performance.now() - t);
    t = performance.now();
    core.insertShipments(a, batch);
    if (r > 0) oursBatch.push(performance.now() - t);
    a.close();
    const b = make(`r-${r}.db`);
    const ins = b.prepare(
      "INSERT INTO inventory_transactions (date, sku, quantity, transaction_type) VALUES ('2026-11-01', 'A', 1, 'Receive')",
    );
    const upd = b.prepare("UPDATE inventory_current SET current_quantity = current_quantity + 1 WHERE sku = 'A'");
    t = performance.now();
    for (let i = 0; i < n; i++)
      b.transactionFunction(() => {
        ins.run();
        upd.run();
      }).immediate();
    if (r > 0) raw.push(performance.now() - t);
    const order = b.prepare(
      'INSERT INTO shipped_orders (order_number, ship_date, customer, carrier, tracking_number) VALUES (?, ?, ?, ?, ?)',
    );
    const item = b.prepare(
      'INSERT INTO shipped_items (ship_date, sku_lot, base_sku, quantity_shipped, order_number) VALUES (?, ?, ?, ?, ?)',
    );
    t = performance.now();
    b.transactionFunction(() => {
      for (const o of batch) {
        order.run(o.orderNumber, o.shipDate, o.customer, o.carrier, o.trackingNumber);
        for (const it of o.items) item.run(o.shipDate, it.skuLot, it.baseSku, it.quantityShipped, o.orderNumber);
      }
    }).immediate();
    if (r > 0) rawBatch.push(performance.now() - t);
    b.close();
  }
  rmSync(work, { recursive: true, force: true });
  const compare = (name: string, o: Summary, b: Summary, baselineName: string): Comparison => {
    const ratio = Math.round((b.median / o.median) * 100) / 100;
    return { name, ours: o, baseline: b, baselineName, ratio, target: '≥ 0.9x the raw driver', met: ratio >= 0.9 };
  };
  return [
    compare(
      `inventory transactions (${n}, one transaction each)`,
      summarize(ours),
      summarize(raw),
      'raw better-sqlite3: INSERT + UPDATE with constants, same transactions',
    ),
    compare(
      `shipment batch insert (${orders} orders × 3 items, one transaction)`,
      summarize(oursBatch),
      summarize(rawBatch),
      'raw better-sqlite3: the same INSERTs in a loop, one transaction',
    ),
  ];
}

/** 7. cold start of a bundle (to --help, and a health check of a tiny database) vs node -e 0. */
export function benchColdStart(root: string, tinyDb: string, runs: number): Comparison[] {
  const bundle = join(root, 'functions/health-check/dist/index.mjs');
  const out: Comparison[] = [];
  for (const [label, args] of [
    ['--help', ['--help']],
    ['health-check of a tiny database', ['--db', tinyDb]],
  ] as const) {
    const [ours, base] = alternate(
      runs * 3,
      () => timeIt(process.execPath, [bundle, ...args], env),
      () => timeIt(process.execPath, ['-e', '0']),
    );
    const o = summarize(ours);
    const b = summarize(base);
    const ratio = Math.round((o.median / b.median) * 100) / 100;
    out.push({
      name: `cold start to ${label}`,
      ours: o,
      baseline: b,
      baselineName: 'node -e 0',
      ratio,
      target: label === '--help' ? 'informational' : '≤ 1.5x node -e 0',
      met: label === '--help' ? null : ratio <= 1.5,
    });
  }
  return out;
}

export interface WriterDuring {
  job: string;
  idle: WriterReport;
  during: WriterReport;
  ratio: number;
  met: boolean;
}

/** 2. a writer at 100 commits/s: p99 idle vs during each job. */
export async function benchWriterDuring(root: string, db: string): Promise<WriterDuring[]> {
  const work = mkdtempSync(join(tmpdir(), 'ora-bench-writer-'));
  const copy = join(work, 'ora.db');
  copyFileSync(db, copy);
  const jobs: [string, string[]][] = [
    ['backup', ['--backup-dir', join(work, 'b')]],
    ['daily-maintenance', []],
    ['metrics', []],
    ['archive', ['--before', '2025-06-01']],
    ['weekly-vacuum', ['--force', '--vacuum-threshold-pct', '0']],
  ];
  const results: WriterDuring[] = [];
  for (const [job, args] of jobs) {
    const idleWriter = await startWriter(copy, { ratePerSecond: 100 });
    await new Promise((r) => setTimeout(r, 3000));
    const idle = await idleWriter.stop();
    const writer = await startWriter(copy, { ratePerSecond: 100 });
    await new Promise<void>((resolve, reject) => {
      const child = spawn(process.execPath, [join(root, `functions/${job}/dist/index.mjs`), '--db', copy, ...args], {
        stdio: 'ignore',
        env,
      });
      child.once('exit', (code) => (code === 0 ? resolve() : reject(new Error(`${job} exited ${code}`))));
    });
    const during = await writer.stop();
    const ratio = Math.round((during.p99Ms / Math.max(idle.p99Ms, 0.001)) * 100) / 100;
    results.push({
      job,
      idle,
      during,
      ratio,
      met: job === 'weekly-vacuum' ? during.failures === 0 : ratio <= 2 && during.failures === 0,
    });
  }
  rmSync(work, { recursive: true, force: true });
  return results;
}
