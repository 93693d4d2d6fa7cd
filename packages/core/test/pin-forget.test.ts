import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { applyRetention, createBackup } from '../src/backup/backup.js';
import { localStore } from '../src/backup/store.js';
import { openDatabase, withDatabase } from '../src/connection/connection.js';
import { InvalidInputError } from '../src/errors/errors.js';
import { forget, setPin } from '../src/pitr/manage.js';
import { localPointStore } from '../src/pitr/point-store.js';
import type { PointManifest } from '../src/pitr/store.js';
import { dumpDatabase, insertItems, makeDatabase, packNames, tempDir } from './pitr-helpers.js';

// backup pin / unpin / forget over full backups and restore points, on real files.

let t: ReturnType<typeof tempDir>;
let db: string;
let backups: string;
beforeEach(() => {
  t = tempDir('ora-pin');
  db = join(t.dir, 'live.db');
  backups = join(t.dir, 'backups');
  makeDatabase(db, 500);
});
afterEach(() => t.cleanup());

const DAY = 86_400_000;
const more = (from: number) => withDatabase(openDatabase(db), (d) => insertItems(d, from, 50));
async function backup() {
  const d = openDatabase(db);
  try {
    return await createBackup(d, {
      store: localStore(backups),
      method: 'backup-api',
      compression: 'zstd',
      compressionLevel: 3,
      maxProblems: 10,
    });
  } finally {
    d.close();
  }
}

describe('pinned full backups', () => {
  it('survive a retention that deletes every other old backup; unpinned, they go too', async () => {
    const store = localStore(backups);
    const points = localPointStore(backups);
    const a = (await backup()).manifest;
    const b = (await backup()).manifest;
    const c = (await backup()).manifest;
    const pinned = await setPin(store, points, a.id, 'before the v2 migration');
    expect(pinned).toMatchObject({
      kind: 'backup',
      id: a.id,
      unchanged: false,
      pinned: { reason: 'before the v2 migration' },
    });
    expect((await setPin(store, points, a.id, 'before the v2 migration')).unchanged).toBe(true);
    const later = new Date(Date.now() + 400 * DAY);
    const r = await applyRetention(store, { keepDays: 30, keepMonths: 0 }, later, false);
    expect(r.kept).toEqual(
      expect.arrayContaining([
        { id: a.id, reason: 'pinned' },
        { id: c.id, reason: 'newest verified backup' },
      ]),
    );
    expect(r.deleted).toEqual([b.id]);
    await setPin(store, points, a.id, null);
    const again = await applyRetention(store, { keepDays: 30, keepMonths: 0 }, later, false);
    expect(again.deleted).toEqual([a.id]);
    expect((await store.list()).backups.map((m) => m.id)).toEqual([c.id]);
  });

  it('forget deletes one backup; refuses a pinned one and the newest verified one without force', async () => {
    const store = localStore(backups);
    const points = localPointStore(backups);
    const a = (await backup()).manifest;
    const b = (await backup()).manifest;
    await setPin(store, points, a.id, 'keep');
    await expect(forget(store, points, a.id, { force: true })).rejects.toThrow(
      new InvalidInputError(
        `backup ${a.id} is pinned (keep); unpin it first with 'ora-db backup unpin ${a.id}' — nothing was deleted`,
      ),
    );
    await expect(forget(store, points, b.id, { force: false })).rejects.toThrow(
      /is the newest verified backup; give --force/,
    );
    expect((await store.list()).backups).toHaveLength(2);
    await setPin(store, points, a.id, null);
    expect(await forget(store, points, a.id, { force: false })).toMatchObject({ kind: 'backup', id: a.id });
    expect(existsSync(join(backups, `${a.id}.db.zst`))).toBe(false);
    await forget(store, points, b.id, { force: true });
    expect((await store.list()).backups).toEqual([]);
    await expect(forget(store, points, 'ora-20200101T000000000Z-abcdef', { force: true })).rejects.toThrow(
      /^no backup or restore point ora-20200101T000000000Z-abcdef in /,
    );
  });
});

describe('pinned and forgotten restore points', () => {
  it('a pinned point survives a prune that drops its neighbours, and still rebuilds', async () => {
    const points = localPointStore(backups);
    const now = Date.now();
    const ids: string[] = [];
    const states: string[] = [];
    for (let i = 0; i < 4; i++) {
      more(1000 + i * 100);
      const r = await points.take({ database: db, now: new Date(now - (40 - i) * DAY) });
      if (r.status !== 'taken') throw new Error(r.reason);
      ids.push(r.point.id);
      states.push(dumpDatabase(db));
    }
    await setPin(localStore(backups), points, ids[1] as string, 'audit');
    const policy = { allHours: 1, hourlyDays: 0, dailyDays: 0, monthlyMonths: 0 };
    const r = await points.prune({ policy, now: new Date(now) });
    expect(r.kept.map((k) => k.id).sort()).toEqual([ids[1], ids[3]].sort());
    expect(r.kept.find((k) => k.id === ids[1])?.reason).toBe('pinned');
    const out = join(t.dir, 'pinned.db');
    await points.rebuild(ids[1] as string, out);
    expect(dumpDatabase(out)).toBe(states[1]);
  });

  it('forget deletes one point and only what no other point needs: the later points still rebuild', async () => {
    const points = localPointStore(backups);
    const ids: string[] = [];
    const states: string[] = [];
    for (let i = 0; i < 3; i++) {
      more(2000 + i * 100);
      const r = await points.take({ database: db });
      if (r.status !== 'taken') throw new Error(r.reason);
      ids.push(r.point.id);
      states.push(dumpDatabase(db));
    }
    await expect(forget(localStore(backups), points, ids[2] as string, { force: false })).rejects.toThrow(
      /is the newest restore point; give --force/,
    );
    const r = await forget(localStore(backups), points, ids[1] as string, { force: false });
    expect(r.kind).toBe('point');
    expect(r.prune?.dropped).toEqual([ids[1]]);
    // The third point's pages that the second point stored are still needed: its pack stays.
    const third = (await points.list()).points.find((p) => p.id === ids[2]);
    expect(packNames(join(backups, 'restore-points'), third as PointManifest)).toContain(ids[1]);
    expect(r.prune?.deletedPacks).toEqual([]);
    expect((await points.list()).points.map((p) => p.id)).toEqual([ids[0], ids[2]]);
    for (const i of [0, 2]) {
      const out = join(t.dir, `after-forget-${i}.db`);
      await points.rebuild(ids[i] as string, out);
      expect(dumpDatabase(out)).toBe(states[i]);
    }
  });
});
