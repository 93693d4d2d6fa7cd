import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { openDatabase, withDatabase } from '../src/connection/connection.js';
import { listPoints, prunePoints, rebuildPoint, takePoint } from '../src/pitr/store.js';
import { prng as rng } from '../src/seed/demo-data.js';
import { dumpDatabase, insertItems, makeDatabase, packNames, runAndKill, tempDir } from './pitr-helpers.js';

const cleanups: (() => void)[] = [];
afterEach(() => {
  for (const c of cleanups.splice(0)) c();
});

/** Every published point rebuilds, passes integrity_check and holds exactly the state recorded for it. */
function expectAllRestorable(root: string, store: string, dumps: Map<string, string>, tag: string): number {
  const { points, unreadable } = listPoints(store);
  expect(unreadable).toEqual([]);
  for (const p of points) {
    const out = join(root, `${tag}-${p.id}.db`);
    expect(rebuildPoint(store, p.id, out).integrity.ok).toBe(true);
    expect(dumpDatabase(out), `point ${p.id} after ${tag}`).toBe(dumps.get(p.id));
  }
  return points.length;
}

describe('restore points survive SIGKILL', { timeout: 600_000 }, () => {
  it('during a point: every other point stays restorable, and prune clears what the killed run left', async () => {
    const t = tempDir('ora-pitr-crash');
    cleanups.push(t.cleanup);
    const db = join(t.dir, 'live.db');
    const store = join(t.dir, 'points');
    makeDatabase(db, 16_000); // ~8 MB: a point takes long enough to be killed inside it
    const dumps = new Map<string, string>();
    const first = takePoint({ database: db, dir: store });
    if (first.status !== 'taken') throw new Error('skipped');
    dumps.set(first.point.id, dumpDatabase(db));
    const pointMs = first.point.durationMs;
    const random = rng(16);
    let killedInside = 0;
    for (let round = 0; round < 4; round++) {
      withDatabase(openDatabase(db), (d) => {
        insertItems(d, 100_000 + round * 500, 500);
        d.exec(`UPDATE items SET name = 'r${round}' WHERE id % 97 = ${round}`);
      });
      const state = dumpDatabase(db);
      const before = new Set(listPoints(store).points.map((p) => p.id));
      const r = await runAndKill(['take', db, store], Math.floor(random() * pointMs * 1.5));
      for (const p of listPoints(store).points) if (!before.has(p.id)) dumps.set(p.id, state);
      if (r.killed && listPoints(store).points.length === before.size) killedInside++;
      expectAllRestorable(t.dir, store, dumps, `take${round}`);
      // The next point (in this process) builds on whatever the killed one left.
      const next = takePoint({ database: db, dir: store });
      if (next.status !== 'taken') throw new Error('skipped');
      dumps.set(next.point.id, state);
    }
    expect(killedInside).toBeGreaterThan(0); // at least one kill landed before the manifest
    expectAllRestorable(t.dir, store, dumps, 'final');
    prunePoints(store); // all young: nothing dropped, but the killed runs' leftovers go
    const points = listPoints(store).points;
    const packs = new Set(points.flatMap((p) => packNames(store, p).map((n) => `${n}.pack`)));
    expect(readdirSync(join(store, 'packs')).sort()).toEqual([...packs].sort());
    expect(readdirSync(join(store, 'maps')).filter((n) => n.startsWith('.'))).toEqual([]);
    expectAllRestorable(t.dir, store, dumps, 'pruned');
  });

  it('during prune: every point still listed stays restorable', async () => {
    const t = tempDir('ora-pitr-crash');
    cleanups.push(t.cleanup);
    const db = join(t.dir, 'live.db');
    const store = join(t.dir, 'points');
    makeDatabase(db, 1500);
    const dumps = new Map<string, string>();
    const day = 86_400_000;
    const start = Date.parse('2026-01-01T00:00:00Z');
    for (let k = 0; k < 30; k++) {
      withDatabase(openDatabase(db), (d) => {
        d.exec(`UPDATE items SET name = 'k${k}-' || id, payload = randomblob(400) WHERE id <= 30`);
        if (k % 3 === 0) insertItems(d, 10_000 + k * 20, 20);
      });
      const r = takePoint({ database: db, dir: store, now: new Date(start + k * 3 * day + (k % 5) * 3_600_000) });
      if (r.status !== 'taken') throw new Error('skipped');
      dumps.set(r.point.id, dumpDatabase(db));
    }
    const random = rng(1602);
    const pauseMs = 15;
    let killed = 0;
    for (const [round, days] of [60, 100, 200, 500].entries()) {
      const now = new Date(start + days * day).toISOString();
      const r = await runAndKill(['prune', store, now, String(pauseMs)], Math.floor(random() * 40 * pauseMs));
      expectAllRestorable(t.dir, store, dumps, `prune${round}`);
      if (!r.killed) continue;
      killed++;
      prunePoints(store, { now: new Date(now) }); // the next prune finishes the job
      expectAllRestorable(t.dir, store, dumps, `reprune${round}`);
    }
    expect(killed).toBeGreaterThan(0);
    expect(listPoints(store).points.length).toBeGreaterThan(0);
  });
});
