import { spawn } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, openSync, readdirSync, readSync, rmSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { openDatabase, withDatabase } from '../src/connection/connection.js';
import { BackupInvalidError } from '../src/errors/errors.js';
import { acquireJobLock } from '../src/locking/job-lock.js';
import { planPointRetention } from '../src/pitr/retention.js';
import {
  listPoints,
  type PointManifest,
  pickPoint,
  prunePoints,
  rebuildPoint,
  summarizePoints,
  takePoint,
  verifyPoints,
} from '../src/pitr/store.js';
import { dumpDatabase, insertItems, packNames, pointFixture } from './pitr-helpers.js';

const cleanups: (() => void)[] = [];
afterEach(() => {
  for (const c of cleanups.splice(0)) c();
});

const setup = (rows = 3000) => pointFixture(cleanups, 'ora-pitr', rows);

function take(db: string, store: string, now?: Date): PointManifest {
  const r = takePoint({ database: db, dir: store, ...(now ? { now } : {}) });
  if (r.status !== 'taken') throw new Error(`point skipped: ${r.reason}`);
  return r.point;
}

describe('restore points', { timeout: 60_000 }, () => {
  it('rebuilds each of several points after known changes to exactly that state, storing only changed pages', () => {
    const { root, db, store } = setup();
    const states: { point: PointManifest; dump: string }[] = [];
    const record = () => states.push({ point: take(db, store), dump: dumpDatabase(db) });

    record(); // 1: everything (a full map, one pack)
    withDatabase(openDatabase(db), (d) => d.exec("UPDATE items SET name = 'changed' WHERE id IN (5, 1500, 2999)"));
    record(); // 2: a few pages, still in the WAL
    withDatabase(openDatabase(db), (d) => {
      d.exec('DELETE FROM items WHERE id > 2000');
      d.pragmaRows('wal_checkpoint(TRUNCATE)');
      d.exec('VACUUM'); // the file shrinks: pages past the end go
    });
    record(); // 3: after a checkpoint, from the file alone
    withDatabase(openDatabase(db), (d) => {
      insertItems(d, 5000, 1500);
      d.exec("CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT); INSERT INTO notes VALUES (1, 'hello')");
      d.pragma('user_version = 7');
    });
    record(); // 4: the file grows, a new table
    withDatabase(openDatabase(db), (d) => d.exec("UPDATE items SET name = 'changed' WHERE id IN (5, 1500, 2999)"));
    withDatabase(openDatabase(db), (d) => d.exec("UPDATE items SET name = 'x' WHERE id = 6"));
    record(); // 5

    const [p1, p2] = states.map((s) => s.point) as [PointManifest, PointManifest];
    expect(p1.map.kind).toBe('full');
    expect(p1.newPages).toBe(p1.pageCount);
    // The second point holds only what changed: a few pages, and a map of a few entries.
    expect(p2.changedPages).toBeGreaterThan(0);
    expect(p2.changedPages).toBeLessThan(20);
    expect(p2.storedBytes).toBeLessThan(p1.storedBytes / 20);
    expect(p2.map.kind).toBe('delta');

    for (const [i, s] of states.entries()) {
      const out = join(root, `restored-${i}.db`);
      const r = rebuildPoint(store, s.point.id, out);
      expect(r.integrity.ok).toBe(true);
      expect(dumpDatabase(out)).toBe(s.dump);
    }
    // Distinct states really differ (the test can tell them apart).
    expect(new Set(states.map((s) => s.dump)).size).toBe(states.length);

    const listed = summarizePoints(listPoints(store).points);
    expect(listed.map((p) => p.id)).toEqual(states.map((s) => s.point.id));
    expect(listed[0]?.coversUntil).toBe(states[1]?.point.createdAt);
    expect(listed[4]?.coversUntil).toBeNull();
    expect(verifyPoints(store).ok).toBe(true);
    // --at picks the newest point at or before the time.
    const at = new Date(Date.parse(states[2]?.point.createdAt as string) + 1);
    expect(pickPoint(listPoints(store).points, { at }, store).id).toBe(states[2]?.point.id);
    expect(() => pickPoint(listPoints(store).points, { at: new Date(0) }, store)).toThrow(
      /no restore point at or before/,
    );
    expect(() => pickPoint(listPoints(store).points, { id: '../etc' }, store)).toThrow(/is not an id/);
  });

  it('refuses a tampered pack, naming the points it breaks; points without it still rebuild', () => {
    const { root, db, store } = setup();
    const p1 = take(db, store);
    withDatabase(openDatabase(db), (d) => insertItems(d, 10_000, 200));
    const p2 = take(db, store);
    withDatabase(openDatabase(db), (d) => d.exec("UPDATE items SET name = 'y' WHERE id = 10"));
    const p3 = take(db, store);
    expect(p2.pack).not.toBeNull();
    expect(packNames(store, p3)).toContain(p2.id);

    // Flip one byte in the middle of p2's pack.
    const path = join(store, 'packs', `${p2.id}.pack`);
    const fd = openSync(path, 'r+');
    const b = Buffer.alloc(1);
    readSync(fd, b, 0, 1, 200);
    b[0] = (b[0] as number) ^ 0xff;
    writeSync(fd, b, 0, 1, 200);
    closeSync(fd);

    for (const p of [p2, p3]) {
      const out = join(root, `bad-${p.id}.db`);
      let error: unknown;
      try {
        rebuildPoint(store, p.id, out);
      } catch (e) {
        error = e;
      }
      expect(error).toBeInstanceOf(BackupInvalidError);
      expect((error as Error).message).toContain(`${p2.id}.pack is damaged`);
      expect((error as Error).message).toContain(`points ${p2.id}, ${p3.id}`);
      expect(existsSync(out)).toBe(false);
    }
    expect(rebuildPoint(store, p1.id, join(root, 'good.db')).integrity.ok).toBe(true);
    const v = verifyPoints(store);
    expect(v.ok).toBe(false);
    expect(v.damagedPacks).toEqual([
      { name: p2.id, problem: expect.stringMatching(/checksum/), breaks: [p2.id, p3.id] },
    ]);
    expect(v.points.map((p) => p.ok)).toEqual([true, false, false]);
  });

  it('takes a full point when the newest point cannot be read, instead of failing every run', () => {
    const { root, db, store } = setup(500);
    const p1 = take(db, store);
    rmSync(join(store, 'packs', `${p1.id}.pack`));
    withDatabase(openDatabase(db), (d) => d.exec("UPDATE items SET name = 'z' WHERE id = 3"));
    const r = takePoint({ database: db, dir: store });
    if (r.status !== 'taken') throw new Error(r.reason);
    expect(r.notes[0]).toMatch(new RegExp(`newest point ${p1.id} cannot be read`));
    expect(r.point.parent).toBeNull();
    expect(r.point.newPages).toBe(r.point.pageCount);
    const out = join(root, 'after-loss.db');
    rebuildPoint(store, r.point.id, out);
    expect(dumpDatabase(out)).toBe(dumpDatabase(db));
  });

  it('takes consistent points while another process writes', async () => {
    const { root, db, store } = setup(2000);
    // The writer: each transaction adds an item and counts it, so a torn snapshot breaks count = n.
    const writer = spawn('python3', [
      '-c',
      `import sqlite3, sys
c = sqlite3.connect(sys.argv[1], isolation_level=None, timeout=8)
c.execute('PRAGMA journal_mode=WAL')
i = 100000
while True:
    c.execute('BEGIN IMMEDIATE')
    c.execute("INSERT INTO items (id, name, payload) VALUES (?, 'w', randomblob(3000))", (i,))
    c.execute('UPDATE counter SET n = n + 1')
    c.execute('COMMIT')
    if i == 100000:
        print('writing', flush=True)
    i += 1
`,
      db,
    ]);
    try {
      // Python starts slowly on loaded cores: wait for its first commit.
      await new Promise<void>((ok) => writer.stdout.on('data', (d) => String(d).includes('writing') && ok()));
      const points: PointManifest[] = [];
      for (let k = 0; k < 6; k++) {
        points.push(take(db, store));
        await new Promise((r) => setTimeout(r, 150));
      }
      expect(writer.exitCode).toBeNull(); // it kept writing throughout
      const counts: number[] = [];
      for (const p of points) {
        const out = join(root, `w-${p.id}.db`);
        expect(rebuildPoint(store, p.id, out).integrity.ok).toBe(true);
        const [n, items] = withDatabase(openDatabase(out, { readonly: true }), (d) => [
          d.value<number>('SELECT n FROM counter') as number,
          d.value<number>('SELECT count(*) FROM items WHERE id >= 100000') as number,
        ]);
        expect(items).toBe(n);
        counts.push(n);
      }
      expect(counts[counts.length - 1]).toBeGreaterThan(counts[0] as number);
      expect(points.some((p) => p.snapshot.walPages > 0)).toBe(true);
    } finally {
      writer.kill('SIGKILL');
    }
  }, 60_000);

  it('takes points of a rollback-journal database too, and refuses bad rebuild targets and ids', () => {
    const { root, db, store } = setup(500);
    withDatabase(openDatabase(db), (d) => d.pragma('journal_mode = DELETE'));
    const p1 = take(db, store);
    expect(p1.snapshot.journalMode).toBe('delete');
    const dump1 = dumpDatabase(db);
    withDatabase(openDatabase(db), (d) => d.exec("UPDATE items SET name = 'j' WHERE id < 50"));
    const p2 = take(db, store);
    expect(p2.changedPages).toBeLessThan(p1.pageCount / 2);
    const out = join(root, 'journal.db');
    rebuildPoint(store, p1.id, out);
    expect(dumpDatabase(out)).toBe(dump1);
    // An existing file is never overwritten; an unknown or malformed id is bad input.
    expect(() => rebuildPoint(store, p2.id, out)).toThrow(/already exists; rebuild a point into a new file/);
    expect(dumpDatabase(out)).toBe(dump1);
    expect(() => rebuildPoint(store, 'ora-20990101T000000000Z-abcdef', join(root, 'x.db'))).toThrow(/no restore point/);
    expect(() => rebuildPoint(store, 'nope', join(root, 'y.db'))).toThrow(/is not an id/);
    expect(existsSync(join(root, 'x.db')) || existsSync(join(root, 'y.db'))).toBe(false);
  });

  it('skips a point while the database job lock or the store lock is held', () => {
    const { db, store } = setup(100);
    const lock = acquireJobLock(db, { job: 'weekly-vacuum', waitMs: 0 });
    try {
      const r = takePoint({ database: db, dir: store });
      expect(r.status).toBe('skipped');
      if (r.status === 'skipped') expect(r.reason).toMatch(/weekly-vacuum/);
    } finally {
      lock.release();
    }
    mkdirSync(store, { recursive: true });
    const storeLock = acquireJobLock(join(store, 'store'), { job: 'prune', waitMs: 0 });
    try {
      expect(takePoint({ database: db, dir: store }).status).toBe('skipped');
      expect(() => prunePoints(store)).toThrow(/another job holds the lock/);
    } finally {
      storeLock.release();
    }
    expect(takePoint({ database: db, dir: store }).status).toBe('taken');
  });

  it('prunes to the retention policy, deleting only packs and maps no kept point needs', () => {
    const { root, db, store } = setup(1500);
    const day = 86_400_000;
    const start = Date.parse('2026-01-01T00:00:00Z');
    const made: { point: PointManifest; dump: string }[] = [];
    for (let k = 0; k < 12; k++) {
      withDatabase(openDatabase(db), (d) => {
        // The same rows each time: a dropped point's pages are all superseded by later ones.
        d.exec(`UPDATE items SET name = 'k${k}-' || id, payload = randomblob(400) WHERE id <= 40`);
      });
      made.push({ point: take(db, store, new Date(start + k * 10 * day)), dump: dumpDatabase(db) });
    }
    const now = new Date(start + 120 * day);
    const policy = { allHours: 48, hourlyDays: 7, dailyDays: 30, monthlyMonths: 2 };
    const dry = prunePoints(store, { now, policy, dryRun: true });
    expect(listPoints(store).points).toHaveLength(12);
    const report = prunePoints(store, { now, policy });
    expect(report.dropped).toEqual(dry.dropped);
    expect(report.dropped.length).toBeGreaterThan(0);
    expect(report.deletedPacks.length).toBeGreaterThan(0);
    const left = listPoints(store).points.map((p) => p.id);
    expect(left).toEqual(report.kept.map((k) => k.id).sort());
    for (const m of made.filter((m) => left.includes(m.point.id))) {
      const out = join(root, `kept-${m.point.id}.db`);
      rebuildPoint(store, m.point.id, out);
      expect(dumpDatabase(out)).toBe(m.dump);
    }
    const packs = readdirSync(join(store, 'packs'));
    const needed = new Set(listPoints(store).points.flatMap((p) => packNames(store, p).map((n) => `${n}.pack`)));
    expect(packs.sort()).toEqual([...needed].sort());
    // The newest point's map chain still names packs the prune deleted (none of its pages are in
    // them): the next point is an incremental one all the same, and rebuilds.
    withDatabase(openDatabase(db), (d) => d.exec("UPDATE items SET name = 'after prune' WHERE id <= 40"));
    const next = takePoint({ database: db, dir: store, now: new Date(start + 121 * day) });
    if (next.status !== 'taken') throw new Error(next.reason);
    expect(next.notes).toEqual([]);
    expect(next.point.map.kind).toBe('delta');
    expect(next.point.newPages).toBeLessThan(next.point.pageCount / 4);
    const out = join(root, 'after-prune.db');
    rebuildPoint(store, next.point.id, out);
    expect(dumpDatabase(out)).toBe(dumpDatabase(db));
  });
});

describe('point retention', () => {
  const hour = 3_600_000;
  const now = new Date('2026-06-15T12:00:00Z');
  const at = (msAgo: number, n: number) => ({ id: `p${n}`, createdAt: new Date(now.getTime() - msAgo).toISOString() });

  it('keeps every point for 48 h, then the newest of each hour, day and month', () => {
    const points = [
      at(1 * hour, 1),
      at(47 * hour, 2),
      at(50 * hour - 30 * 60_000, 3), // an hour's newest
      at(50 * hour, 4), // same hour: dropped
      at(10 * 24 * hour, 5), // day bucket: newest
      at(10 * 24 * hour + hour, 6), // same day: dropped
      at(60 * 24 * hour, 7), // a month bucket
      at(500 * 24 * hour, 8), // past 12 months: dropped
      { id: 'p9', createdAt: new Date(now.getTime() + hour).toISOString() }, // future: kept
    ];
    const plan = planPointRetention(points, now);
    expect(plan.keep.map((k) => k.point.id).sort()).toEqual(['p1', 'p2', 'p3', 'p5', 'p7', 'p9']);
    expect(plan.drop.map((p) => p.id).sort()).toEqual(['p4', 'p6', 'p8']);
  });

  it('always keeps the newest point and refuses a bad policy', () => {
    expect(planPointRetention([at(1000 * 24 * hour, 1)], now).keep.map((k) => k.point.id)).toEqual(['p1']);
    expect(() =>
      planPointRetention([], now, { allHours: -1, hourlyDays: 7, dailyDays: 30, monthlyMonths: 12 }),
    ).toThrow(/allHours must be a whole number/);
  });
});
