/**
 * Restore points at real size, measured by hand (the `pnpm bench --only pitr` section, pitr-bench.ts,
 * is the benchmark; this also compares the two snapshot methods):
 *
 *     npx tsx bench/src/pitr-measure.ts <fixture.db> [seconds=120] [every=30] [rate=100]
 *
 * On a WAL copy of the fixture: (1) the two ways to read a consistent snapshot, idle — one read
 * transaction reading pages directly vs the one-step backup API into a temp file read back —
 * each hashing every page; (2) the first (full) point; (3) the guide's writer (bench/guide/writer.py)
 * idle for 15 s, its p99; (4) the writer at `rate`/s for `seconds` with a point every `every` s:
 * time, changed pages and bytes stored per point, writer p99 meanwhile; (5) rebuilding the newest
 * and the oldest point (checksums + integrity_check). Prints one JSON object.
 */
import { createHash } from 'node:crypto';
import { closeSync, copyFileSync, mkdtempSync, openSync, readSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { openDatabase, withDatabase } from '../../packages/core/src/connection/connection.js';
import { readSnapshotPages } from '../../packages/core/src/pitr/snapshot-pages.js';
import { listPoints, rebuildPoint, takePoint } from '../../packages/core/src/pitr/store.js';
import { startGuideWriter } from './live-restore-bench.js';
import { dirBytes } from './pitr-bench.js';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const [fixture, secondsArg = '120', everyArg = '30', rateArg = '100'] = process.argv.slice(2);
if (!fixture) throw new Error('usage: pitr-measure.ts <fixture.db> [seconds] [every] [rate]');
const seconds = Number(secondsArg);
const every = Number(everyArg);
const rate = Number(rateArg);

const work = mkdtempSync(join(tmpdir(), 'ora-pitr-measure-'));
const db = join(work, 'live.db');
const store = join(work, 'points');
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

try {
  copyFileSync(fixture, db);
  withDatabase(openDatabase(db, { journalMode: 'wal' }), () => {});
  const dbBytes = statSync(db).size;

  // (1) Snapshot methods, idle, each hashing every page; best of three, alternated.
  const readTx: number[] = [];
  const backupApi: number[] = [];
  for (let round = 0; round < 3; round++) {
    let t = performance.now();
    readSnapshotPages(db, (_pgno, page) => {
      createHash('sha256').update(page).digest();
    });
    readTx.push(performance.now() - t);
    t = performance.now();
    const copy = join(work, `copy-${round}.db`);
    const source = openDatabase(db, { readonly: true });
    await source.backupTo(copy);
    source.close();
    const fd = openSync(copy, 'r');
    const buf = Buffer.alloc(256 * 4096);
    for (let pos = 0; ; ) {
      const n = readSync(fd, buf, 0, buf.length, pos);
      if (n === 0) break;
      for (let o = 0; o < n; o += 4096)
        createHash('sha256')
          .update(buf.subarray(o, o + 4096))
          .digest();
      pos += n;
    }
    closeSync(fd);
    backupApi.push(performance.now() - t);
    rmSync(copy, { force: true });
  }

  // (2) The first point: every page.
  let t = performance.now();
  const first = takePoint({ database: db, dir: store });
  const firstMs = performance.now() - t;
  if (first.status !== 'taken') throw new Error(first.reason);

  // (3) The writer alone.
  const idle = await startGuideWriter(root, db, rate);
  await sleep(15_000);
  const idleReport = await idle.stop();

  // (4) The writer with a point every `every` seconds.
  const busy = await startGuideWriter(root, db, rate);
  const points: {
    ms: number;
    changedPages: number;
    newPages: number;
    storedBytes: number;
    map: string;
    walPages: number;
  }[] = [];
  const end = Date.now() + seconds * 1000;
  while (Date.now() < end) {
    await sleep(every * 1000);
    t = performance.now();
    const r = takePoint({ database: db, dir: store });
    const ms = performance.now() - t;
    if (r.status !== 'taken') throw new Error(r.reason);
    points.push({
      ms: Math.round(ms),
      changedPages: r.point.changedPages,
      newPages: r.point.newPages,
      storedBytes: r.point.storedBytes,
      map: r.point.map.kind,
      walPages: r.snapshot.walPages,
    });
  }
  const busyReport = await busy.stop();

  // (5) Rebuilds.
  const all = listPoints(store).points;
  const rebuild = (id: string) => {
    const out = join(work, `rebuilt-${id}.db`);
    const s = performance.now();
    const r = rebuildPoint(store, id, out);
    const ms = performance.now() - s;
    rmSync(out, { force: true });
    return { ms: Math.round(ms), integrityMs: r.integrity.durationMs, packsRead: r.packsRead };
  };
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? 0;
  console.log(
    JSON.stringify(
      {
        dbMiB: +(dbBytes / 1048576).toFixed(1),
        snapshot: {
          readTransactionMs: readTx.map(Math.round),
          backupApiMs: backupApi.map(Math.round),
        },
        firstPoint: { ms: Math.round(firstMs), storedBytes: first.point.storedBytes, pages: first.point.pageCount },
        writerIdle: idleReport,
        writerDuringPoints: busyReport,
        points,
        medianPointMs: median(points.map((p) => p.ms)),
        medianStoredBytes: median(points.map((p) => p.storedBytes)),
        storeBytes: dirBytes(store),
        rebuildNewest: rebuild(all[all.length - 1]?.id as string),
        rebuildOldest: rebuild(all[0]?.id as string),
        peakRssMiB: Math.round(process.resourceUsage().maxRSS / 1024),
      },
      null,
      2,
    ),
  );
} finally {
  rmSync(work, { recursive: true, force: true });
}
