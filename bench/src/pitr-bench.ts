import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import {
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { openDatabase, prng, withDatabase } from '@ora/core';
import { localPointStore, POINTS_SUBDIR, type PointManifest, pointPacks } from '@ora/core/pitr';
import { type GuideWriterReport, runJob, startGuideWriter } from './live-restore-bench.js';
import { fmt, summarize } from './stats.js';

/**
 * `pnpm bench --only pitr`: restore points at real size while the operations guide's own client
 * writes, against full backups at the same interval and against Litestream 0.3.13.
 *
 * 1. A copy of the fixture in WAL mode; one full backup of it (the backup job's bundle: its zstd
 *    artifact's size × the number of points is what full backups at the points' interval store).
 * 2. The first restore point (every page), then the guide's writer (bench/guide/writer.py) at
 *    `rate` commits/s for `seconds`, a point every `every` s, each by the backup job's bundle
 *    (`backup --incremental --json`, as cron runs it) under /usr/bin/time -v (peak RSS per point).
 * 3. Restore: a point picked at random (seeded) rebuilt and verified (checksums + integrity_check)
 *    against the backup job's bundle restoring the full artifact (`restore latest --to`).
 * 4. Litestream 0.3.13 (npm `@flydotio/litestream-linux-x64`, installed on first use into
 *    bench/.cache/litestream) replicating a fresh copy of the fixture to a file replica while the
 *    same writer runs at the same rate for the same time; `litestream restore -timestamp` to the
 *    instant at the same offset as our random point.
 * 5. Writer latency split by what ran at the time: commits that started while a point's process
 *    ran vs the rest of the same run.
 * 6. 30 days of 5-minute points of a database changing 1 % of its pages a day, simulated from the
 *    measured per-point figures (see simulate30Days).
 */

export interface PitrPoint {
  startedAt: number;
  endedAt: number;
  /** From spawning the point's process to its exit (the window the writer's commits are split by). */
  processStartedAt: number;
  processEndedAt: number;
  /** The point itself (its manifest's durationMs: the locks, reading the parent, the snapshot, publishing). */
  ms: number;
  /** The whole job run: the point and the retention prune after it (the process's start-up not included). */
  jobMs: number;
  id: string;
  createdAt: string;
  kind: 'full' | 'delta';
  changedPages: number;
  newPages: number;
  storedBytes: number;
  packBytes: number;
  mapBytes: number;
  packsReferenced: number;
  walPages: number;
  /** Pages hashed one by one (the rest were in runs whose digest equals the parent's). */
  pagesHashed: number;
  phases: { lockMs: number; parentMs: number; snapshotMs: number; publishMs: number };
  notes: string[];
  /** Peak RSS of the point's process, from /usr/bin/time -v (else the process's own maxRSS). */
  peakRssKiB: number;
  /** The machine's 1-minute load average when the point ended (the machine may be shared). */
  loadAverage?: number;
}

export interface LatencySplit {
  commits: number;
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
}

export interface PitrBenchResult {
  fixtureMib: number;
  pageCount: number;
  seconds: number;
  everySeconds: number;
  rate: number;
  firstPoint: PitrPoint;
  points: PitrPoint[];
  pointMs: { min: number; median: number; max: number };
  storedBytesPerPoint: { min: number; median: number; max: number };
  /** The store after the run: the first (full) point and every later one. */
  storeBytes: number;
  /** The later points only (what the run added after the first full copy). */
  incrementBytes: number;
  peakRssKiB: { firstPoint: number; points: number; baseline: number };
  fullBackup: { ms: number; artifactBytes: number; restoreMs: number; timesPoints: number };
  restorePoint: { id: string; index: number; ms: number; integrityMs: number };
  writer: {
    report: GuideWriterReport;
    duringPoints: LatencySplit;
    betweenPoints: LatencySplit;
    p99Ratio: number;
  };
  /** The same writer for the same time beside one `backup --incremental --every` process (a sidecar). */
  sidecar: SidecarResult;
  litestream: LitestreamResult | null;
  simulation: Simulation;
  notes: string[];
}

export interface SidecarResult {
  points: number;
  pointMs: { min: number; median: number; max: number };
  /** Split by its runs' windows (each --json result's `startedAt` + `durationMs`: no process start, no exit). */
  writer: { report: GuideWriterReport; duringPoints: LatencySplit; betweenPoints: LatencySplit; p99Ratio: number };
  exitCode: number | null;
}

export interface LitestreamResult {
  version: string;
  initialSnapshotMs: number;
  replicaBytes: number;
  snapshotBytes: number;
  walBytes: number;
  /** Its working copy beside the database (`.<db>-litestream/`), not part of the replica. */
  shadowBytes: number;
  restoreMs: number;
  restoredAt: string;
  writer: GuideWriterReport;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export const dirBytes = (d: string): number =>
  existsSync(d)
    ? readdirSync(d, { withFileTypes: true }).reduce(
        (n, e) => n + (e.isDirectory() ? dirBytes(join(d, e.name)) : statSync(join(d, e.name)).size),
        0,
      )
    : 0;

/** Runs `node --import tsx <script> …args` under /usr/bin/time -v when present; its JSON line and peak RSS. */
/**
 * Runs the backup job's bundle as cron runs it (`backup --incremental --json`; with `dryRun`, the
 * same process loading everything and taking no point) under /usr/bin/time -v.
 */
async function runPointProcess(
  root: string,
  db: string,
  backupDir: string,
  dryRun = false,
): Promise<{ json: Record<string, unknown>; peakRssKiB: number; startedAt: number; endedAt: number }> {
  const timed = existsSync('/usr/bin/time');
  const job = [
    process.execPath,
    join(root, 'functions/backup/dist/index.mjs'),
    '--incremental',
    '--db',
    db,
    '--backup-dir',
    backupDir,
    '--json',
    ...(dryRun ? ['--dry-run'] : []),
  ];
  const startedAt = Date.now();
  const r = await runJob(timed ? ['-v', ...job] : job.slice(1), timed ? '/usr/bin/time' : (job[0] as string));
  const endedAt = Date.now();
  if (r.code !== 0) throw new Error(`bench pitr: backup --incremental exited ${r.code}: ${r.stderr.slice(-2000)}`);
  const json = JSON.parse(r.stdout) as Record<string, unknown>;
  const m = /Maximum resident set size \(kbytes\): (\d+)/.exec(r.stderr);
  return { json, peakRssKiB: m ? Number(m[1]) : 0, startedAt, endedAt };
}

async function takePointProcess(root: string, db: string, backupDir: string): Promise<PitrPoint> {
  const { json, peakRssKiB, startedAt, endedAt } = await runPointProcess(root, db, backupDir);
  const job = json as unknown as {
    status: string;
    reason?: string;
    durationMs: number;
    point: PointManifest;
    phases: PitrPoint['phases'];
    pagesHashed: number;
    notes: string[];
  };
  if (job.status !== 'ok') throw new Error(`bench pitr: point not taken: ${job.status} ${String(job.reason)}`);
  const p = job.point;
  return {
    startedAt: Date.parse(p.createdAt),
    endedAt,
    processStartedAt: startedAt,
    processEndedAt: endedAt,
    ms: p.durationMs,
    jobMs: job.durationMs,
    id: p.id,
    createdAt: p.createdAt,
    kind: p.map.kind,
    changedPages: p.changedPages,
    newPages: p.newPages,
    storedBytes: p.storedBytes,
    packBytes: p.pack?.bytes ?? 0,
    mapBytes: p.map.bytes,
    packsReferenced: pointPacks(join(backupDir, POINTS_SUBDIR), p).length,
    walPages: p.snapshot.walPages,
    pagesHashed: job.pagesHashed,
    phases: job.phases,
    notes: job.notes,
    peakRssKiB,
  };
}

/** Splits the writer's commits (start ms, latency ms) by whether they started inside one of `windows`. */
export function splitLatencies(
  log: readonly [number, number][],
  windows: readonly [number, number][],
): { during: LatencySplit; between: LatencySplit } {
  const during: number[] = [];
  const between: number[] = [];
  const sorted = [...windows].sort((a, b) => a[0] - b[0]);
  let w = 0;
  for (const [start, ms] of [...log].sort((a, b) => a[0] - b[0])) {
    while (w < sorted.length && (sorted[w] as [number, number])[1] < start) w++;
    const win = sorted[w];
    (win && win[0] <= start ? during : between).push(ms);
  }
  const stats = (xs: number[]): LatencySplit => {
    const s = [...xs].sort((a, b) => a - b);
    const q = (p: number) => s[Math.min(s.length - 1, Math.floor(p * s.length))] ?? 0;
    return { commits: s.length, p50Ms: q(0.5), p99Ms: q(0.99), maxMs: s.at(-1) ?? 0 };
  };
  return { during: stats(during), between: stats(between) };
}

/**
 * `backup --incremental --every <every>s --json` as one long-running process (after a first point
 * taken as cron takes it) while the guide's writer runs `seconds`; SIGTERM ends it. Its runs' JSON
 * results give the windows (`startedAt` + `durationMs`) the writer's commits are split by.
 */
async function benchSidecar(
  root: string,
  fixture: string,
  work: string,
  o: { seconds: number; every: number; rate: number },
): Promise<SidecarResult> {
  const db = join(work, 'sidecar.db');
  copyFileSync(fixture, db);
  toWal(db);
  const dir = join(work, 'sidecar-points');
  await runPointProcess(root, db, dir);
  const latencyLog = join(work, 'sidecar-writer.log');
  const writer = await startGuideWriter(root, db, o.rate, latencyLog);
  const started = Date.now();
  const child = spawn(
    process.execPath,
    [
      join(root, 'functions/backup/dist/index.mjs'),
      '--incremental',
      '--every',
      `${o.every}s`,
      '--db',
      db,
      '--backup-dir',
      dir,
      '--json',
    ],
    { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ORA_LOG_LEVEL: 'warn' } },
  );
  const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
  let out = '';
  child.stdout?.on('data', (d: Buffer) => {
    out += d.toString();
  });
  child.stderr?.resume();
  // Its first point at once, then every `every` s: stop it just after the last that fits.
  await sleep(o.seconds * 1000 - (Date.now() - started));
  child.kill('SIGTERM');
  const exitCode = await exited;
  const report = await writer.stop();
  // One JSON line a run (a repeating job's --json).
  const runs = out
    .split('\n')
    .filter((x) => x.trim())
    .map((x) => JSON.parse(x) as { status: string; startedAt: string; durationMs: number; point?: PointManifest });
  const taken = runs.filter((r) => r.point !== undefined);
  const windows = runs.map(
    (r) => [Date.parse(r.startedAt), Date.parse(r.startedAt) + r.durationMs] as [number, number],
  );
  const split = splitLatencies(readLatencyLog(latencyLog), windows);
  const ms = summarize(taken.map((r) => r.point?.durationMs ?? 0));
  rmSync(dir, { recursive: true, force: true });
  for (const f of [db, `${db}-wal`, `${db}-shm`]) rmSync(f, { force: true });
  return {
    points: taken.length,
    pointMs: { min: ms.min, median: ms.median, max: ms.max },
    writer: {
      report,
      duringPoints: split.during,
      betweenPoints: split.between,
      p99Ratio: Math.round((split.during.p99Ms / Math.max(split.between.p99Ms, 0.001)) * 100) / 100,
    },
    exitCode,
  };
}

function readLatencyLog(path: string): [number, number][] {
  if (!existsSync(path)) return [];
  return readFileSync(path, 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((l) => l.split(' ').map(Number) as [number, number]);
}

/** The Litestream binary from npm (`@flydotio/litestream-linux-x64` 1.0.1 ships 0.3.13), installed once into bench/.cache. */
function litestreamBinary(root: string, notes: string[]): string | null {
  const dir = join(root, 'bench/.cache/litestream');
  const bin = join(dir, 'node_modules/@flydotio/litestream-linux-x64/litestream');
  if (!existsSync(bin)) {
    if (process.platform !== 'linux' || process.arch !== 'x64') {
      notes.push(`Litestream skipped: its npm package is for linux x64, this is ${process.platform} ${process.arch}`);
      return null;
    }
    mkdirSync(dir, { recursive: true });
    const r = spawnSync(
      'npm',
      [
        'install',
        '--prefix',
        dir,
        '--no-save',
        '--no-package-lock',
        '--no-audit',
        '--no-fund',
        '@flydotio/litestream-linux-x64@1.0.1',
      ],
      { stdio: ['ignore', 'ignore', 'inherit'] },
    );
    if (r.status !== 0 || !existsSync(bin)) {
      notes.push('Litestream skipped: npm could not install @flydotio/litestream-linux-x64@1.0.1');
      return null;
    }
  }
  return bin;
}

function toWal(db: string): number {
  return withDatabase(openDatabase(db, { journalMode: 'wal' }), (d) => Number(d.pragma('page_count')));
}

export async function benchLitestream(
  bin: string,
  root: string,
  fixture: string,
  work: string,
  writerMs: number,
  rate: number,
  restoreOffsetMs: number,
): Promise<LitestreamResult> {
  const version = spawnSync(bin, ['version'], { encoding: 'utf8' }).stdout.trim();
  const db = join(work, 'ls.db');
  copyFileSync(fixture, db);
  toWal(db);
  const replica = join(work, 'ls-replica');
  const config = join(work, 'litestream.yml');
  writeFileSync(config, `dbs:\n  - path: ${db}\n    replicas:\n      - type: file\n        path: ${replica}\n`);
  const started = performance.now();
  const ls: ChildProcess = spawn(bin, ['replicate', '-config', config], { stdio: ['ignore', 'ignore', 'pipe'] });
  let lsErr = '';
  ls.stderr?.on('data', (d: Buffer) => {
    lsErr = (lsErr + d.toString()).slice(-4000);
  });
  const snapshots = () => {
    const gens = join(replica, 'generations');
    if (!existsSync(gens)) return [] as string[];
    return readdirSync(gens).flatMap((g) => {
      const s = join(gens, g, 'snapshots');
      return existsSync(s) ? readdirSync(s).map((f) => join(s, f)) : [];
    });
  };
  try {
    while (snapshots().filter((f) => f.endsWith('.lz4')).length === 0) {
      if (ls.exitCode !== null) throw new Error(`litestream exited ${ls.exitCode}: ${lsErr}`);
      if (performance.now() - started > 600_000) throw new Error(`litestream made no snapshot in 600 s: ${lsErr}`);
      await sleep(200);
    }
    const initialSnapshotMs = Math.round(performance.now() - started);
    const writer = await startGuideWriter(root, db, rate);
    const writerStarted = Date.now();
    await sleep(writerMs);
    const report = await writer.stop();
    await sleep(3000); // its sync interval is 1 s: let it ship the last WAL
    ls.kill('SIGTERM');
    await new Promise((r) => (ls.exitCode !== null ? r(null) : ls.once('exit', r)));
    const snapshotBytes = snapshots().reduce((n, f) => n + statSync(f).size, 0);
    const replicaBytes = dirBytes(replica);
    const out = join(work, 'ls-restored.db');
    const restoredAt = new Date(writerStarted + restoreOffsetMs).toISOString();
    const t = performance.now();
    const r = spawnSync(bin, ['restore', '-config', config, '-o', out, '-timestamp', restoredAt, db], {
      encoding: 'utf8',
    });
    const restoreMs = Math.round(performance.now() - t);
    if (r.status !== 0 || !existsSync(out))
      throw new Error(`litestream restore -timestamp ${restoredAt} exited ${r.status}: ${r.stdout}${r.stderr}`);
    rmSync(out, { force: true });
    return {
      version,
      initialSnapshotMs,
      replicaBytes,
      snapshotBytes,
      walBytes: replicaBytes - snapshotBytes,
      shadowBytes: dirBytes(join(work, '.ls.db-litestream')),
      restoreMs,
      restoredAt,
      writer: report,
    };
  } finally {
    if (ls.exitCode === null) ls.kill('SIGKILL');
  }
}

export interface Simulation {
  model: string;
  points: number;
  changedPagesPerPoint: number;
  /** Bytes of the 30 days' store, every point kept (no prune): an upper bound. */
  allKeptBytes: number;
  /** Of which page maps (deltas and the full maps the store's rule writes among them). */
  mapBytes: number;
  /** Full maps written over the 30 days (the store writes one when its rule says so). */
  fullMaps: number;
  /** Under the default retention on day 30 (48 h every point, then hourly, then daily), packs and maps all kept. */
  retainedBytes: number;
  fullArtifactBytes: number;
  ratioAllKept: number;
  ratioRetained: number;
  inputs: Record<string, number>;
}

/** The store's rule for a full map (packages/core/src/pitr/store.ts: MIN_CHAIN_BYTES, MAX_CHAIN). */
const MIN_CHAIN_BYTES = 16 * 1024;
const MAX_CHAIN = 500;

/**
 * 30 days of a point every 5 minutes of a database of `pageCount` pages, 1 % of whose pages get
 * new content each day (uniformly at random: the pessimistic case for how long a pack stays
 * referenced), from measured constants: bytes per new page in a delta point's pack, a pack's and a
 * map's fixed bytes, a manifest's bytes, a pack-list entry's bytes in a map. Packs, and which pack
 * holds each page, are simulated page by page (seeded), so each delta map carries the packs its
 * point added to its pack list and dropped from it, and each full map (written by the store's own
 * rule: when the deltas since the last would outgrow it, or after 500 deltas) lists every pack in
 * use; a full map's entries are taken as 8 bytes a page moved out of the first pack (pages still
 * in the first pack, in its order, compress to almost nothing).
 */
export function simulate30Days(inputs: {
  pageCount: number;
  firstPointBytes: number;
  fullArtifactBytes: number;
  bytesPerNewPage: number;
  packFixedBytes: number;
  mapDeltaFixedBytes: number;
  mapBytesPerEntry: number;
  manifestBytes: number;
  packRefBytes: number;
  packNameBytes: number;
}): Simulation {
  const perDay = 288;
  const days = 30;
  const n = perDay * days;
  const perPoint = (inputs.pageCount * 0.01) / perDay;
  const rand = prng(16);
  const packOf = new Uint32Array(inputs.pageCount); // pack 0: the first point's
  const refs: number[] = [inputs.pageCount];
  let live = 1;
  let moved = 0; // pages no longer in pack 0
  let carry = 0;
  let total = inputs.firstPointBytes;
  let mapBytes = 0;
  let fullMaps = 0;
  let fullBytes = 64 + inputs.packRefBytes; // the first point's map: pages in order, one pack
  let chainBytes = 0;
  let chainLength = 0;
  for (let k = 1; k <= n; k++) {
    carry += perPoint;
    const c = Math.floor(carry);
    carry -= c;
    refs.push(0);
    let dropped = 0;
    for (let j = 0; j < c; j++) {
      const p = Math.floor(rand() * inputs.pageCount);
      const old = packOf[p] as number;
      if (old === k) continue;
      if (old === 0) moved++;
      refs[old] = (refs[old] as number) - 1;
      if (refs[old] === 0) {
        live--;
        dropped++;
      }
      packOf[p] = k;
      refs[k] = (refs[k] as number) + 1;
    }
    const added = (refs[k] as number) > 0 ? 1 : 0;
    live += added;
    const pack = c > 0 ? inputs.packFixedBytes + c * (inputs.bytesPerNewPage + 32) : 0;
    const delta =
      inputs.mapDeltaFixedBytes +
      c * inputs.mapBytesPerEntry +
      added * inputs.packRefBytes +
      dropped * inputs.packNameBytes;
    let map: number;
    if (chainBytes + delta <= Math.max(fullBytes, MIN_CHAIN_BYTES) && chainLength < MAX_CHAIN) {
      map = delta;
      chainBytes += delta;
      chainLength++;
    } else {
      map = 64 + moved * 8 + live * inputs.packRefBytes;
      fullBytes = map;
      chainBytes = 0;
      chainLength = 0;
      fullMaps++;
    }
    mapBytes += map;
    total += pack + map + inputs.manifestBytes;
  }
  // Kept on day 30: the last 48 h's points, one an hour for the 5 days before, one a day before that.
  const keptPoints = 2 * perDay + (5 * perDay) / 12 + (n - 7 * perDay) / perDay;
  const retained = total - (n - keptPoints) * inputs.manifestBytes;
  const round2 = (x: number) => Math.round(x * 100) / 100;
  return {
    model: `simulated: ${n} points (every 5 min for ${days} days) of a ${inputs.pageCount}-page database, 1 % of its pages (uniformly at random) new each day, from this run's per-point figures`,
    points: n,
    changedPagesPerPoint: round2(perPoint),
    allKeptBytes: Math.round(total),
    mapBytes: Math.round(mapBytes),
    fullMaps,
    retainedBytes: Math.round(retained),
    fullArtifactBytes: inputs.fullArtifactBytes,
    ratioAllKept: round2(total / inputs.fullArtifactBytes),
    ratioRetained: round2(retained / inputs.fullArtifactBytes),
    inputs,
  };
}

export async function benchPitr(
  root: string,
  fixture: string,
  options: { seconds: number; every: number; rate: number },
): Promise<PitrBenchResult | null> {
  if (spawnSync('python3', ['-c', 'import sqlite3']).status !== 0) return null;
  const { seconds, every, rate } = options;
  const notes: string[] = [];
  const work = mkdtempSync(join(tmpdir(), 'ora-bench-pitr-'));
  const log = (m: string) => console.error(`bench pitr: ${m}`);
  try {
    const db = join(work, 'live.db');
    copyFileSync(fixture, db);
    const pageCount = toWal(db);
    const fixtureMib = Math.round(statSync(db).size / 1048576);

    // 1. One full backup: its artifact, and a full restore of it.
    const backups = join(work, 'full');
    let t = performance.now();
    const b = await runJob([join(root, 'functions/backup/dist/index.mjs'), '--db', db, '--backup-dir', backups]);
    const backupMs = Math.round(performance.now() - t);
    if (b.code !== 0) throw new Error(`bench pitr: backup exited ${b.code}: ${b.stderr}`);
    const artifact = readdirSync(backups).find((f) => f.endsWith('.zst'));
    const artifactBytes = statSync(join(backups, artifact as string)).size;
    t = performance.now();
    const fr = await runJob([
      join(root, 'functions/restore/dist/index.mjs'),
      'latest',
      '--db',
      db,
      '--backup-dir',
      backups,
      '--to',
      join(work, 'full-restored.db'),
    ]);
    const fullRestoreMs = Math.round(performance.now() - t);
    if (fr.code !== 0) throw new Error(`bench pitr: full restore exited ${fr.code}: ${fr.stderr}`);
    rmSync(join(work, 'full-restored.db'), { force: true });
    log(
      `full backup ${fmt(backupMs)} (${(artifactBytes / 1048576).toFixed(1)} MiB), full restore ${fmt(fullRestoreMs)}`,
    );

    // 2. The first point, then the writer with a point every `every` s.
    const pointsDir = join(work, 'points');
    const baseline = await runPointProcess(root, db, pointsDir, true);
    const firstPoint = await takePointProcess(root, db, pointsDir);
    log(
      `first point ${fmt(firstPoint.ms)} (${(firstPoint.storedBytes / 1048576).toFixed(1)} MiB), peak RSS ${Math.round(firstPoint.peakRssKiB / 1024)} MiB`,
    );
    const latencyLog = join(work, 'writer.log');
    const writer = await startGuideWriter(root, db, rate, latencyLog);
    const writerStarted = Date.now();
    const points: PitrPoint[] = [];
    for (let k = 1; k * every <= seconds; k++) {
      const wait = writerStarted + k * every * 1000 - Date.now();
      if (wait > 0) await sleep(wait);
      const p = await takePointProcess(root, db, pointsDir);
      p.loadAverage = Math.round((loadavg()[0] ?? 0) * 10) / 10;
      points.push(p);
      log(
        `point ${k}: ${fmt(p.ms)} (${JSON.stringify(p.phases)}), ${p.changedPages} pages changed, ${p.pagesHashed} hashed one by one, ${p.storedBytes} B, peak RSS ${Math.round(p.peakRssKiB / 1024)} MiB, load average ${p.loadAverage}`,
      );
    }
    const rest = writerStarted + seconds * 1000 - Date.now();
    if (rest > 0) await sleep(rest);
    const report = await writer.stop();
    const writerMs = Date.now() - writerStarted;
    const split = splitLatencies(
      readLatencyLog(latencyLog),
      points.map((p) => [p.processStartedAt, p.processEndedAt]),
    );
    const storeBytes = dirBytes(join(pointsDir, 'restore-points'));

    // 3. A point picked at random, rebuilt and verified.
    const chosen = points[Math.floor(prng(42)() * points.length)] as PitrPoint;
    t = performance.now();
    const rebuilt = await localPointStore(pointsDir).rebuild(chosen.id, join(work, 'point-restored.db'));
    const restoreMs = Math.round(performance.now() - t);
    rmSync(join(work, 'point-restored.db'), { force: true });
    log(`rebuilt point ${points.indexOf(chosen) + 1} in ${fmt(restoreMs)}`);

    // 3b. The same writer for the same time beside one sidecar (`--every`), on a fresh copy.
    const sidecar = await benchSidecar(root, fixture, work, { seconds, every, rate });
    log(
      `sidecar: ${sidecar.points} points, ${fmt(sidecar.pointMs.median)} median; writer p99 ${sidecar.writer.duringPoints.p99Ms} ms during points, ${sidecar.writer.betweenPoints.p99Ms} ms between (${sidecar.writer.p99Ratio}x)`,
    );

    // 4. Litestream on the same workload.
    const bin = litestreamBinary(root, notes);
    let litestream: LitestreamResult | null = null;
    if (bin) {
      rmSync(db, { force: true });
      rmSync(`${db}-wal`, { force: true });
      rmSync(`${db}-shm`, { force: true });
      log(`Litestream: replicating while the writer runs ${Math.round(writerMs / 1000)} s`);
      litestream = await benchLitestream(bin, root, fixture, work, writerMs, rate, chosen.startedAt - writerStarted);
      log(
        `Litestream: replica ${(litestream.replicaBytes / 1048576).toFixed(1)} MiB, restore -timestamp ${fmt(litestream.restoreMs)}`,
      );
    }

    // 6. 30 days, simulated from the measured per-point figures.
    const deltas = points.filter((p) => p.newPages > 0);
    const sum = (xs: number[]) => xs.reduce((a, c) => a + c, 0);
    const packFixed = (p: PitrPoint) => 16 + 64 + 16 * Math.ceil(p.newPages / 64) + 32 * p.newPages;
    const manifestBytes = points.map((p) => p.storedBytes - p.packBytes - p.mapBytes);
    // A pack-list entry as a map header holds it (JSON of name, SHA-256, bytes, pages).
    const ref = { name: firstPoint.id, sha256: '0'.repeat(64), bytes: 123_456_789, pages: 123_456 };
    const simulation = simulate30Days({
      pageCount,
      firstPointBytes: firstPoint.storedBytes,
      fullArtifactBytes: artifactBytes,
      bytesPerNewPage: deltas.length
        ? sum(deltas.map((p) => p.packBytes - packFixed(p))) / sum(deltas.map((p) => p.newPages))
        : firstPoint.packBytes / firstPoint.newPages,
      packFixedBytes: 16 + 64 + 16,
      mapDeltaFixedBytes: Math.min(...points.map((p) => p.mapBytes)),
      mapBytesPerEntry: 12,
      manifestBytes: Math.round(Math.max(...manifestBytes)),
      packRefBytes: JSON.stringify(ref).length + 1,
      packNameBytes: JSON.stringify(firstPoint.id).length + 1,
    });

    const ms = summarize(points.map((p) => p.ms));
    const sb = summarize(points.map((p) => p.storedBytes));
    return {
      fixtureMib,
      pageCount,
      seconds,
      everySeconds: every,
      rate,
      firstPoint,
      points,
      pointMs: { min: ms.min, median: ms.median, max: ms.max },
      storedBytesPerPoint: { min: sb.min, median: sb.median, max: sb.max },
      storeBytes,
      incrementBytes: sum(points.map((p) => p.storedBytes)),
      peakRssKiB: {
        firstPoint: firstPoint.peakRssKiB,
        points: Math.max(...points.map((p) => p.peakRssKiB)),
        baseline: baseline.peakRssKiB,
      },
      fullBackup: {
        ms: backupMs,
        artifactBytes,
        restoreMs: fullRestoreMs,
        timesPoints: artifactBytes * (points.length + 1),
      },
      restorePoint: {
        id: chosen.id,
        index: points.indexOf(chosen) + 1,
        ms: restoreMs,
        integrityMs: rebuilt.integrity.durationMs,
      },
      writer: {
        report,
        duringPoints: split.during,
        betweenPoints: split.between,
        p99Ratio: Math.round((split.during.p99Ms / Math.max(split.between.p99Ms, 0.001)) * 100) / 100,
      },
      sidecar,
      litestream,
      simulation,
      notes,
    };
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

const mib = (b: number) => `${(b / 1048576).toFixed(1)} MiB`;
const kb = (b: number) => (b >= 1048576 ? mib(b) : `${(b / 1024).toFixed(1)} KiB`);

/** The section's Markdown. */
export function pitrTable(r: PitrBenchResult | null, machine: string): string[] {
  if (!r) return ['', '## Restore points', '', 'skipped: python3 with sqlite3 is not installed'];
  const pass = (ok: boolean) => (ok ? 'met' : '**missed**');
  const ls = r.litestream;
  const n = r.points.length + 1;
  const w = r.writer;
  const sc = r.sidecar;
  return [
    '',
    `## Restore points while the guide's client writes (${r.fixtureMib} MiB ORA database, ${r.pageCount} pages; ${machine})`,
    '',
    `The guide's \`DatabaseConnection\` + \`add_inventory_transaction\` (bench/guide/writer.py) at ${r.rate} commits/s for ${r.seconds} s; a point every ${r.everySeconds} s (${r.points.length} after the first, each a run of the backup job's bundle, backup --incremental, as cron runs it); Litestream ${ls?.version ?? '(skipped)'} replicating a fresh copy to a file replica under the same writer for the same time.`,
    '',
    '| | restore points (ours) | full backup every interval | Litestream |',
    '|---|---|---|---|',
    `| time per point / backup | ${fmt(r.pointMs.median)} median (${fmt(r.pointMs.min)}–${fmt(r.pointMs.max)}; ${Math.round(summarize(r.points.map((p) => p.pagesHashed)).median)} pages hashed one by one, median); first (full) ${fmt(r.firstPoint.ms)} | ${fmt(r.fullBackup.ms)} | continuous (initial snapshot ${ls ? fmt(ls.initialSnapshotMs) : 'n/a'}) |`,
    `| bytes per point | ${kb(r.storedBytesPerPoint.median)} median (${kb(r.storedBytesPerPoint.min)}–${kb(r.storedBytesPerPoint.max)}) | ${mib(r.fullBackup.artifactBytes)} | ${ls ? `${kb(ls.walBytes / Math.max(1, r.points.length))} of WAL per ${r.everySeconds} s` : 'n/a'} |`,
    `| stored over the run, with the initial full copy | ${mib(r.storeBytes)} | ${mib(r.fullBackup.timesPoints)} (${n} × ${mib(r.fullBackup.artifactBytes)}) | ${ls ? `${mib(ls.replicaBytes)} (snapshot ${mib(ls.snapshotBytes)} + WAL ${mib(ls.walBytes)})` : 'n/a'} |`,
    `| stored over the run after it | ${kb(r.incrementBytes)} | ${mib(r.fullBackup.timesPoints - r.fullBackup.artifactBytes)} | ${ls ? kb(ls.walBytes) : 'n/a'} |`,
    `| restore | point ${r.restorePoint.index} (random): ${fmt(r.restorePoint.ms)} (incl. integrity_check ${fmt(r.restorePoint.integrityMs)}) | ${fmt(r.fullBackup.restoreMs)} (checksum, decompress, integrity_check) | \`restore -timestamp\`: ${ls ? fmt(ls.restoreMs) : 'n/a'} (no check) |`,
    `| writer p99 | ${w.duringPoints.p99Ms.toFixed(2)} ms during points (${w.duringPoints.commits} commits), ${w.betweenPoints.p99Ms.toFixed(2)} ms between (${w.betweenPoints.commits}) | | ${ls ? `${ls.writer.p99Ms.toFixed(2)} ms (${ls.writer.commits} commits)` : 'n/a'} |`,
    `| writer p99 beside a sidecar (--every ${r.everySeconds}s, ${sc.points} points, ${fmt(sc.pointMs.median)} median) | ${sc.writer.duringPoints.p99Ms.toFixed(2)} ms during points (${sc.writer.duringPoints.commits} commits), ${sc.writer.betweenPoints.p99Ms.toFixed(2)} ms between (${sc.writer.betweenPoints.commits}) | | |`,
    `| peak RSS of a point's process | ${Math.round(r.peakRssKiB.points / 1024)} MiB (first, full: ${Math.round(r.peakRssKiB.firstPoint / 1024)} MiB; the same job with --dry-run, taking none: ${Math.round(r.peakRssKiB.baseline / 1024)} MiB) | | |`,
    '',
    '| target | figure | status |',
    '|---|---|---|',
    `| time per point ≤ 1.5 s at 1 GiB | ${fmt(r.pointMs.median)} median at ${r.fixtureMib} MiB | ${r.fixtureMib >= 1000 ? pass(r.pointMs.median <= 1500) : 'n/a (not 1 GiB)'} |`,
    `| stored over the run ≤ Litestream's | ${mib(r.storeBytes)} vs ${ls ? mib(ls.replicaBytes) : 'n/a'} | ${ls ? pass(r.storeBytes <= ls.replicaBytes) : 'n/a'} |`,
    `| writer p99 during points ≤ 1.2x between, a process per point (cron) | ${w.duringPoints.p99Ms.toFixed(2)} vs ${w.betweenPoints.p99Ms.toFixed(2)} ms (${w.p99Ratio}x); failures ${w.report.failures} | ${pass(w.p99Ratio <= 1.2 && w.report.failures === 0)} |`,
    `| writer p99 during points ≤ 1.2x between, a sidecar (--every) | ${sc.writer.duringPoints.p99Ms.toFixed(2)} vs ${sc.writer.betweenPoints.p99Ms.toFixed(2)} ms (${sc.writer.p99Ratio}x); failures ${sc.writer.report.failures}; exit ${sc.exitCode} | ${pass(sc.writer.p99Ratio <= 1.2 && sc.writer.report.failures === 0 && sc.exitCode === 0)} |`,
    `| 30 days of 5-minute points, 1 %/day, ≤ 2x a full artifact (**${r.simulation.model}**) | every point kept: ${mib(r.simulation.allKeptBytes)} (${r.simulation.ratioAllKept}x), of which page maps ${mib(r.simulation.mapBytes)} (${r.simulation.fullMaps} full maps); under the default retention: ${mib(r.simulation.retainedBytes)} (${r.simulation.ratioRetained}x) | ${pass(r.simulation.ratioRetained <= 2)} |`,
    ...r.notes.map((x) => `\nNote: ${x}`),
  ];
}
