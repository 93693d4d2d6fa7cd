import { existsSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, request } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { type LocalBucket, startLocalBucket } from '@ora/testkit/s3';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { type S3Objects, s3Objects } from '../src/backup/s3-store.js';
import { openDatabase, withDatabase } from '../src/connection/connection.js';
import { BackupInvalidError, InvalidInputError, IoError } from '../src/errors/errors.js';
import { cacheName, openPointStore, type PointStore } from '../src/pitr/point-store.js';
import type { PointManifest, TakePointResult } from '../src/pitr/store.js';
import { prng as rng } from '../src/seed/demo-data.js';
import { dumpDatabase, insertItems, makeDatabase, packNames, runAndKill, tempDir } from './pitr-helpers.js';

// Restore points on S3 (s3rver on 127.0.0.1): the same store as a local one under
// s3://bucket/prefix/restore-points/, worked through a local cache. Every test reads the bucket
// itself (its own client) to check what was uploaded, deleted or tampered with.

const BUCKET = 'ora-points';
let bucket: LocalBucket;
let objects: S3Objects;
const cleanups: (() => void)[] = [];

beforeAll(async () => {
  process.env.AWS_ACCESS_KEY_ID = 'S3RVER';
  process.env.AWS_SECRET_ACCESS_KEY = 'S3RVER';
  bucket = await startLocalBucket(BUCKET);
  objects = s3Objects({ region: 'us-east-1', forcePathStyle: true, endpoint: bucket.endpoint }, BUCKET);
});
afterAll(async () => {
  await bucket?.stop();
});
afterEach(() => {
  for (const c of cleanups.splice(0)) c();
});

/**
 * A proxy on 127.0.0.1 in front of s3rver that answers 500 to every upload whose key contains
 * `failOn` (while it is set): an S3 that fails in the middle of a point.
 */
async function failingProxy(target: string) {
  const state = { failOn: null as string | null };
  const server = createServer((req, res) => {
    if (req.method === 'PUT' && state.failOn && (req.url ?? '').includes(state.failOn)) {
      req.resume();
      res.writeHead(500, { 'content-type': 'application/xml' });
      res.end('<?xml version="1.0"?><Error><Code>InternalError</Code><Message>injected</Message></Error>');
      return;
    }
    const up = request(`${target}${req.url}`, { method: req.method, headers: req.headers }, (r) => {
      res.writeHead(r.statusCode ?? 502, r.headers);
      r.pipe(res);
    });
    req.pipe(up);
  });
  await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok));
  return {
    endpoint: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    state,
    close: () => new Promise<void>((ok) => server.close(() => ok())),
  };
}

function setup(rows = 3000, endpoint?: string) {
  const t = tempDir('ora-pitr-s3');
  cleanups.push(t.cleanup);
  const db = join(t.dir, 'live.db');
  makeDatabase(db, rows);
  const prefix = `prod/${Date.now()}-${Math.random().toString(16).slice(2)}`;
  const staging = join(t.dir, 'staging');
  const open = () =>
    openPointStore({
      backupDir: staging,
      dest: [`s3://${BUCKET}/${prefix}`],
      s3Endpoint: endpoint ?? bucket.endpoint,
      s3Region: 'us-east-1',
      s3ForcePathStyle: true,
    });
  const base = `${prefix}/restore-points/`;
  const cache = join(staging, 'restore-points-cache', BUCKET, cacheName(`${prefix}/`));
  /** The bucket's files of this store, by subdirectory (`packs/<id>.pack` …). */
  const remote = async () => {
    const all = await objects.list(base);
    return new Map(all.map((o) => [o.key.slice(base.length), o.size]));
  };
  return { root: t.dir, db, store: open(), open, base, cache, remote };
}

async function take(store: PointStore, db: string, now?: Date) {
  const r: TakePointResult = await store.take({ database: db, ...(now ? { now } : {}) });
  if (r.status !== 'taken') throw new Error(`point skipped: ${r.reason}`);
  return r;
}

const change = (db: string, sql: string) => withDatabase(openDatabase(db), (d) => d.exec(sql));

describe('restore points on S3', { timeout: 120_000 }, () => {
  it('round trip: takes points, lists them, rebuilds each to exactly its state, verifies, prunes, rebuilds a kept one', async () => {
    const { root, db, store, base, cache, remote } = setup();
    expect(store.location).toBe(`s3://${BUCKET}/${base}`);
    const day = 86_400_000;
    const start = Date.parse('2026-11-01T12:00:00Z');
    const states: { point: PointManifest; dump: string }[] = [];
    const record = async (at: number) => {
      const r = await take(store, db, new Date(at));
      states.push({ point: r.point, dump: dumpDatabase(db) });
    };
    await record(start - 10 * day); // 1: every page
    change(db, "UPDATE items SET name = 'changed' WHERE id IN (5, 1500, 2999)");
    await record(start - 10 * day + 60_000); // 2: same day as 1 — the daily tier keeps one of them
    change(db, 'DELETE FROM items WHERE id > 2000');
    withDatabase(openDatabase(db), (d) => {
      d.pragmaRows('wal_checkpoint(TRUNCATE)');
      d.exec('VACUUM');
    });
    await record(start - 5 * day); // 3: the file shrank
    withDatabase(openDatabase(db), (d) => {
      insertItems(d, 5000, 1500);
      d.exec("CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT); INSERT INTO notes VALUES (1, 'hello')");
      d.pragma('user_version = 7');
    });
    await record(start - 3_600_000); // 4: it grew, a new table
    change(db, "UPDATE items SET name = 'x' WHERE id = 6");
    await record(start); // 5

    const listed = await store.list();
    expect(listed.unreadable).toEqual([]);
    expect(listed.points.map((p) => p.id)).toEqual(states.map((s) => s.point.id));
    expect(new Set(states.map((s) => s.dump)).size).toBe(states.length);
    // The bucket holds the store under the same names as a local one.
    const files = await remote();
    for (const { point } of states) {
      expect(files.has(`points/${point.id}.json`)).toBe(true);
      expect(files.has(`maps/${point.id}.map`)).toBe(true);
      if (point.pack) expect(files.get(`packs/${point.id}.pack`)).toBe(point.pack.bytes);
    }

    for (const [i, s] of states.entries()) {
      const out = join(root, `restored-${i}.db`);
      const r = await store.rebuild(s.point.id, out);
      expect(r.integrity.ok).toBe(true);
      expect(dumpDatabase(out)).toBe(s.dump);
    }
    const verified = await store.verify();
    expect(verified.ok).toBe(true);
    expect(verified.points).toHaveLength(states.length);

    // Keep 2 days of everything, daily for 7: points 1 and 2 share a day 10 days back (dropped).
    const deleted: string[] = [];
    const report = await store.prune({
      now: new Date(start + 60_000),
      policy: { allHours: 48, hourlyDays: 0, dailyDays: 7, monthlyMonths: 0 },
      onDelete: (u) => deleted.push(u),
    });
    const [p1, p2, p3, p4, p5] = states.map((s) => s.point) as PointManifest[];
    expect(report.dropped.sort()).toEqual([p1?.id, p2?.id].sort());
    expect(report.kept.map((k) => k.id).sort()).toEqual([p3?.id, p4?.id, p5?.id].sort());
    expect(report.freedBytes).toBeGreaterThan(0);
    // Manifests went first.
    const firstOther = deleted.findIndex((u) => !u.includes('/points/'));
    expect(deleted.slice(0, 2).every((u) => u.includes('/points/'))).toBe(true);
    expect(firstOther).toBe(2);
    const after = await remote();
    expect(after.has(`points/${p1?.id}.json`)).toBe(false);
    expect(after.has(`points/${p2?.id}.json`)).toBe(false);
    expect((await store.list()).points.map((p) => p.id)).toEqual([p3?.id, p4?.id, p5?.id]);
    // What no kept point needs is gone from the bucket; what they need stays.
    for (const name of after.keys()) {
      if (!name.startsWith('packs/')) continue;
      const pack = name.slice(6, -5);
      expect([p3, p4, p5].some((p) => packNames(cache, p as PointManifest).includes(pack))).toBe(true);
    }
    expect((await store.verify()).ok).toBe(true);
    const out = join(root, 'after-prune.db');
    await store.rebuild(p4?.id as string, out);
    expect(dumpDatabase(out)).toBe(states[3]?.dump);
    // A pruned point is not offered.
    await expect(store.rebuild(p1?.id as string, join(root, 'gone.db'))).rejects.toThrow(InvalidInputError);
    expect(existsSync(join(root, 'gone.db'))).toBe(false);
  });

  it('uploads only the new pack, its map and its manifest (manifest last), and reports the bytes', async () => {
    const { db, store, remote } = setup(6000);
    const first = await take(store, db);
    expect(first.transfer?.uploaded.objects).toBe(3);
    const afterFirst = await remote();
    expect(afterFirst.size).toBe(3);
    const firstBytes = [...afterFirst.values()].reduce((a, b) => a + b, 0);
    expect(first.transfer?.uploaded.bytes).toBe(firstBytes);

    change(db, "UPDATE items SET name = 'changed' WHERE id IN (10, 3000)");
    const second = await take(store, db);
    const afterSecond = await remote();
    const added = [...afterSecond.keys()].filter((k) => !afterFirst.has(k));
    expect(added.sort()).toEqual(
      [`maps/${second.point.id}.map`, `packs/${second.point.id}.pack`, `points/${second.point.id}.json`].sort(),
    );
    const addedBytes = added.reduce((a, k) => a + (afterSecond.get(k) ?? 0), 0);
    expect(second.transfer?.uploaded).toMatchObject({ objects: 3, bytes: addedBytes });
    expect(addedBytes).toBeLessThan(firstBytes / 20);
    // The cache was current: nothing downloaded but manifests (none new).
    expect(second.transfer?.downloaded.objects).toBe(0);

    // Nothing changed: no pack, only a map and a manifest.
    const third = await take(store, db);
    expect(third.point.pack).toBeNull();
    expect(third.transfer?.uploaded.objects).toBe(2);
    expect((await remote()).size).toBe(afterSecond.size + 2);
  });

  it('a tampered pack on S3 is refused by rebuild and named by verify, with the points it breaks', async () => {
    const { root, db, store, base, cache } = setup();
    const p1 = (await take(store, db)).point;
    change(db, "UPDATE items SET name = 'changed' WHERE id = 42");
    const p2 = (await take(store, db)).point;
    // Flip one byte in the middle of the first pack, on S3.
    const packKey = `${base}packs/${p1.id}.pack`;
    const local = join(root, 'tampered.pack');
    expect(await objects.getFile(packKey, local)).toBe(true);
    const bytes = readFileSync(local);
    const at = Math.floor(bytes.length / 2);
    bytes.writeUInt8(bytes.readUInt8(at) ^ 0xff, at);
    writeFileSync(local, bytes);
    await objects.putFile(packKey, local, bytes.length, 'application/octet-stream');

    // The taking host's cache still has the sound copy: verify checks it is the bucket's object.
    const verified = await store.verify();
    expect(verified.ok).toBe(false);
    expect(verified.damagedPacks).toHaveLength(1);
    expect(verified.damagedPacks[0]?.name).toBe(p1.id);
    expect(verified.damagedPacks[0]?.breaks.sort()).toEqual([p1.id, p2.id].sort());

    // A fresh host (no cache) downloads the pack and refuses it, naming the object and both points.
    rmSync(cache, { recursive: true, force: true });
    const out = join(root, 'out.db');
    const error = (await store.rebuild(p2.id, out).catch((e: unknown) => e)) as Error;
    expect(error).toBeInstanceOf(BackupInvalidError);
    expect(error.message).toContain(`s3://${BUCKET}/${packKey}`);
    expect(error.message).toContain(p1.id);
    expect(error.message).toContain(p2.id);
    expect(existsSync(out)).toBe(false);
    // The damaged download was not kept in the cache.
    expect(existsSync(join(cache, 'packs', `${p1.id}.pack`))).toBe(false);
    expect((await store.verify()).damagedPacks.map((d) => d.name)).toEqual([p1.id]);
  });

  it('a fresh cache (another host, or the cache deleted) still takes an incremental point and rebuilds it', async () => {
    const { root, db, store, cache, open } = setup();
    const p1 = await take(store, db);
    change(db, 'UPDATE items SET payload = randomblob(400) WHERE id = 7');
    const pMid = await take(store, db);
    // The same row again: the middle point's pack holds no page of the newest point, which a fresh
    // cache therefore does not download (though the newest map chain names it).
    change(db, 'UPDATE items SET payload = randomblob(400) WHERE id = 7');
    const p2 = await take(store, db);
    expect(packNames(cache, p2.point)).not.toContain(pMid.point.id);
    rmSync(cache, { recursive: true, force: true });

    change(db, "UPDATE items SET name = 'changed again' WHERE id = 2500");
    const fresh = open();
    const p3 = await take(fresh, db);
    expect(p3.point.parent).toBe(p2.point.id);
    expect(p3.point.map.kind).toBe('delta');
    expect(p3.point.newPages).toBeLessThan(20);
    expect(p3.notes).toEqual([]);
    // It downloaded the manifests, the newest point's map chain and its pack(s), once.
    expect(p3.transfer?.downloaded.bytes).toBeGreaterThanOrEqual(p1.point.pack?.bytes ?? 0);
    expect(p3.transfer?.uploaded.objects).toBe(3);
    expect(p3.transfer?.uploaded.bytes).toBeLessThan((p1.point.pack?.bytes ?? 0) / 20);
    const dump = dumpDatabase(db);
    const p4 = await take(fresh, db);
    expect(p4.transfer?.downloaded.objects).toBe(0);

    rmSync(cache, { recursive: true, force: true });
    const out = join(root, 'fresh.db');
    await open().rebuild(p3.point.id, out);
    expect(dumpDatabase(out)).toBe(dump);
  });

  it('a point the cache holds but the bucket lost is dropped from the cache before the next point', async () => {
    const { db, store, base, cache } = setup();
    await take(store, db);
    change(db, "UPDATE items SET name = 'changed' WHERE id = 7");
    const p2 = (await take(store, db)).point;
    // As if the upload had died before the manifest (or someone removed it): the bucket has no p2.
    await objects.remove(`${base}points/${p2.id}.json`);
    change(db, "UPDATE items SET name = 'changed' WHERE id = 8");
    const p3 = (await take(store, db)).point;
    expect(p3.parent).not.toBe(p2.id);
    expect(readdirSync(join(cache, 'points')).filter((f) => f.endsWith('.json'))).toHaveLength(2);
    expect((await store.verify()).ok).toBe(true);
  });

  it('an upload that fails leaves the point in neither the bucket nor the cache, and says which key', async () => {
    const proxy = await failingProxy(bucket.endpoint);
    try {
      const { db, store, base, cache, remote } = setup(3000, proxy.endpoint);
      const p1 = (await take(store, db)).point;
      change(db, "UPDATE items SET name = 'changed' WHERE id = 7");
      proxy.state.failOn = '/restore-points/points/';
      const error = (await store.take({ database: db }).catch((e: unknown) => e)) as Error;
      expect(error).toBeInstanceOf(IoError);
      expect(error.message).toMatch(
        new RegExp(`^S3 upload of s3://${BUCKET}/${base}points/ora-[^ ]+\\.json failed .*was not published`),
      );
      const failed = /points\/(ora-[^ ]+)\.json/.exec(error.message)?.[1] as string;
      expect((await store.list()).points.map((p) => p.id)).toEqual([p1.id]);
      expect(existsSync(join(cache, 'points', `${failed}.json`))).toBe(false);
      // Its pack and map reached the bucket: garbage, which the next prune removes.
      expect((await remote()).has(`packs/${failed}.pack`)).toBe(true);

      proxy.state.failOn = null;
      const p3 = (await take(store, db)).point;
      expect(p3.parent).toBe(p1.id);
      const report = await store.prune({});
      expect(report.dropped).toEqual([]);
      expect(report.deletedPacks).toEqual([`${failed}.pack`]);
      expect(report.deletedMaps).toEqual([`${failed}.map`]);
      expect(existsSync(join(cache, 'packs', `${failed}.pack`))).toBe(false);
      expect((await store.verify()).ok).toBe(true);
    } finally {
      await proxy.close();
    }
  });

  it('refuses a --dest that is a URL but not an s3://bucket/prefix one before any request, creating nothing', async () => {
    const t = tempDir('ora-pitr-s3-bad');
    cleanups.push(t.cleanup);
    for (const bad of ['https://bucket/x', 's3://', 's3://B/x', 's3://bucket/../x']) {
      expect(() =>
        openPointStore({
          backupDir: join(t.dir, 'staging'),
          dest: [bad],
          s3Endpoint: bucket.endpoint,
          s3Region: 'us-east-1',
          s3ForcePathStyle: true,
        }),
      ).toThrow(InvalidInputError);
    }
    expect(readdirSync(t.dir)).toEqual([]);
  });

  it('a missing bucket is an I/O error naming the S3 location', async () => {
    const t = tempDir('ora-pitr-s3-nobucket');
    cleanups.push(t.cleanup);
    const store = openPointStore({
      backupDir: join(t.dir, 'staging'),
      dest: ['s3://no-such-bucket/prod'],
      s3Endpoint: bucket.endpoint,
      s3Region: 'us-east-1',
      s3ForcePathStyle: true,
    });
    const error = (await store.list().catch((e: unknown) => e)) as Error;
    expect(error).toBeInstanceOf(IoError);
    expect(error.message).toMatch(
      /^S3 listing of s3:\/\/no-such-bucket\/prod\/restore-points\/points\/ failed \(NoSuchBucket/,
    );
  });
});

describe('restore points on S3 survive SIGKILL', { timeout: 600_000 }, () => {
  /**
   * Every point the bucket lists is restorable: verify (through a cache of its own, checked
   * against the bucket's objects) finds every pack and map chain there and sound, and each point
   * not checked before rebuilds to exactly its state (a point's files never change, so one
   * rebuild per point and a verify per check cover them all).
   */
  async function expectAllRestorable(
    store: PointStore,
    root: string,
    dumps: Map<string, string>,
    rebuilt: Set<string>,
    tag: string,
  ) {
    const { points, unreadable } = await store.list();
    expect(unreadable).toEqual([]);
    const report = await store.verify();
    expect(report.ok, `${tag}: ${JSON.stringify(report.points.filter((p) => !p.ok))}`).toBe(true);
    for (const p of points) {
      if (rebuilt.has(p.id)) continue;
      const out = join(root, `${tag}-${p.id}.db`);
      expect((await store.rebuild(p.id, out)).integrity.ok).toBe(true);
      expect(dumpDatabase(out), `point ${p.id} after ${tag}`).toBe(dumps.get(p.id));
      rmSync(out);
      rebuilt.add(p.id);
    }
  }

  it('during a point and during prune: every point the bucket lists stays restorable, and the next run carries on', async () => {
    const { root, db } = setup(8000);
    const dest = `s3://${BUCKET}/crash/${Date.now()}`;
    const staging = join(root, 'staging');
    const open = (dir: string) =>
      openPointStore({
        backupDir: dir,
        dest: [dest],
        s3Endpoint: bucket.endpoint,
        s3Region: 'us-east-1',
        s3ForcePathStyle: true,
      });
    const checker = open(join(root, 'checker'));
    const rebuilt = new Set<string>();
    const dumps = new Map<string, string>();
    const day = 86_400_000;
    const start = Date.parse('2026-01-01T00:00:00Z');
    // Points over 90 days (prune has something to drop), then killed points.
    for (let k = 0; k < 12; k++) {
      change(db, `UPDATE items SET name = 'k${k}-' || id, payload = randomblob(400) WHERE id <= 30`);
      if (k % 3 === 0) withDatabase(openDatabase(db), (d) => insertItems(d, 20_000 + k * 50, 50));
      const r = await take(open(staging), db, new Date(start + k * 8 * day));
      dumps.set(r.point.id, dumpDatabase(db));
    }
    const timed = performance.now();
    const probe = await runAndKill(['s3-take', db, staging, dest, bucket.endpoint], 600_000);
    const takeMs = performance.now() - timed;
    expect(probe.killed).toBe(false);
    dumps.set(JSON.parse(probe.out.split('\n')[1] as string), dumpDatabase(db));

    const random = rng(1603);
    for (let round = 0; round < 4; round++) {
      withDatabase(openDatabase(db), (d) => {
        insertItems(d, 40_000 + round * 300, 300);
        d.exec(`UPDATE items SET name = 'r${round}' WHERE id % 89 = ${round}`);
      });
      const state = dumpDatabase(db);
      const before = new Set((await open(staging).list()).points.map((p) => p.id));
      await runAndKill(['s3-take', db, staging, dest, bucket.endpoint], Math.floor(random() * takeMs * 1.2));
      for (const p of (await open(staging).list()).points) if (!before.has(p.id)) dumps.set(p.id, state);
      await expectAllRestorable(checker, root, dumps, rebuilt, `take${round}`);
      const next = await take(open(staging), db); // carries on from whatever the killed run left
      expect(next.notes).toEqual([]);
      dumps.set(next.point.id, state);
    }

    const pauseMs = 20;
    let killed = 0;
    // Kills early in the deletions (among the manifests), then anywhere in them.
    for (const [round, [days, within]] of [
      [110, 4],
      [130, 10],
      [400, 30],
    ].entries()) {
      const now = new Date(start + (days as number) * day).toISOString();
      const r = await runAndKill(
        ['s3-prune', now, staging, dest, bucket.endpoint, String(pauseMs)],
        Math.floor(random() * (within as number) * pauseMs),
      );
      await expectAllRestorable(checker, root, dumps, rebuilt, `prune${round}`);
      if (!r.killed) continue;
      killed++;
      await open(staging).prune({ now: new Date(now) }); // the next prune finishes the job
      await expectAllRestorable(checker, root, dumps, rebuilt, `reprune${round}`);
    }
    expect(killed).toBeGreaterThan(0);
    // Nothing is left over in the bucket: every map and pack there is needed by a listed point.
    const store = open(staging);
    const listed = (await store.list()).points;
    expect(listed.length).toBeGreaterThan(0);
    const final = await store.prune({ now: new Date(start + 400 * day) });
    expect(final.dropped).toEqual([]);
    const packs = (await objects.list(`crash/`)).filter(
      (o) => o.key.startsWith(dest.slice(`s3://${BUCKET}/`.length)) && o.key.includes('/packs/'),
    );
    const cacheDir = join(staging, 'restore-points-cache', BUCKET, cacheName(dest.slice(`s3://${BUCKET}/`.length)));
    const needed = new Set(listed.flatMap((p) => packNames(cacheDir, p).map((n) => `${n}.pack`)));
    expect(packs.map((o) => o.key.split('/').pop()).sort()).toEqual([...needed].sort());
    expect((await store.verify()).ok).toBe(true);
  });
});
