import { randomBytes } from 'node:crypto';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { type OraDatabase, openDatabase, withDatabase } from '../src/connection/connection.js';
import { PageHashIndex } from '../src/pitr/hash-index.js';
import { RUN_PAGES, runsDir } from '../src/pitr/run-digests.js';
import { rebuildPoint, type TakePointResult, takePoint } from '../src/pitr/store.js';
import { dumpDatabase, insertItems, pointFixture } from './pitr-helpers.js';

// The run-digest shortcut (run-digests.ts): a point hashes page by page only the runs whose
// digest differs from its parent's. Each case rebuilds the point and compares it with the
// database byte for byte, so a changed page the shortcut missed (left at the parent's content)
// fails it.

const cleanups: (() => void)[] = [];
afterEach(() => {
  for (const c of cleanups.splice(0)) c();
});

const setup = (rows = 3000) => pointFixture(cleanups, 'ora-pitr-runs', rows);

function take(db: string, store: string): Extract<TakePointResult, { status: 'taken' }> {
  const r = takePoint({ database: db, dir: store });
  if (r.status !== 'taken') throw new Error(`point skipped: ${r.reason}`);
  return r;
}

const checkpoint = (db: string) => withDatabase(openDatabase(db), (d) => d.pragmaRows('wal_checkpoint(TRUNCATE)'));

/** Rebuilds `id` and expects its file to be the database's, byte for byte (the WAL checkpointed first). */
function expectRebuildIsDatabase(root: string, store: string, id: string, db: string): void {
  const out = join(root, `rebuilt-${id}.db`);
  rebuildPoint(store, id, out);
  checkpoint(db);
  const live = readFileSync(db);
  const rebuilt = readFileSync(out);
  expect(rebuilt.length).toBe(live.length);
  const pageSize = 4096;
  const differing: number[] = [];
  for (let p = 0; p < live.length / pageSize; p++) {
    if (!live.subarray(p * pageSize, (p + 1) * pageSize).equals(rebuilt.subarray(p * pageSize, (p + 1) * pageSize)))
      differing.push(p + 1);
  }
  expect(differing).toEqual([]);
  expect(dumpDatabase(out)).toBe(dumpDatabase(db));
  rmSync(out);
}

/** Changes rows in pages spread over the file: the first, middle and last page of runs among them. */
function scatterChanges(d: OraDatabase, ids: number[]): void {
  const update = d.prepare('UPDATE items SET payload = randomblob(400) WHERE id = ?');
  d.transaction(() => {
    for (const id of ids) update.run(id);
  });
}

describe('restore points: the run-digest shortcut', { timeout: 60_000 }, () => {
  it('hashes only the runs that changed, and misses no changed page (in the WAL, mid-run, in a grown last run)', () => {
    const { root, db, store } = setup();
    const first = take(db, store);
    expect(first.pagesHashed).toBe(first.point.pageCount);
    expect(first.point.pageCount).toBeGreaterThan(4 * RUN_PAGES);

    // Changes left in the WAL: a connection stays open, so no close checkpoints them.
    const holder = openDatabase(db);
    let held = true;
    let before = 0;
    try {
      scatterChanges(holder, [2, 700, 1499, 1500, 2301, 2999]);
      const second = take(db, store);
      expect(second.snapshot.walPages).toBeGreaterThan(0);
      expect(second.point.changedPages).toBeGreaterThan(0);
      // The shortcut worked: most runs were not hashed page by page, the changed ones were.
      expect(second.pagesHashed).toBeGreaterThan(second.point.changedPages);
      expect(second.pagesHashed).toBeLessThan(second.point.pageCount / 2);
      holder.close();
      held = false;
      expectRebuildIsDatabase(root, store, second.point.id, db);
      before = second.point.pageCount;
    } finally {
      if (held) holder.close();
    }

    // The file grows by less than a run: the last run's length changes, as do the pages past it.
    withDatabase(openDatabase(db), (d) => insertItems(d, 10_000, 40));
    const third = take(db, store);
    expect(third.point.pageCount).toBeGreaterThan(before);
    expect(third.point.pageCount - before).toBeLessThan(RUN_PAGES);
    expectRebuildIsDatabase(root, store, third.point.id, db);

    // One page changed, none in the WAL (checkpointed on close): exactly one run hashed.
    withDatabase(openDatabase(db), (d) => d.exec('UPDATE counter SET n = n + 1 WHERE id = 1'));
    const fourth = take(db, store);
    expect(fourth.snapshot.walPages).toBe(0);
    expect(fourth.point.changedPages).toBe(1);
    expect(fourth.pagesHashed).toBe(RUN_PAGES);
    expectRebuildIsDatabase(root, store, fourth.point.id, db);
  });

  it("never uses run digests that are not of the parent's snapshot", () => {
    const { root, db, store } = setup();
    const a = take(db, store);
    withDatabase(openDatabase(db), (d) => scatterChanges(d, [10, 1600]));
    const b = take(db, store);
    // b is lost (as when its upload failed and it was removed), its run digests stay behind: they
    // describe the database as it is now, so trusting them would leave a's pages in c.
    rmSync(join(store, 'points', `${b.point.id}.json`));
    writeFileSync(join(runsDir(store), `${a.point.id}.runs`), readFileSync(join(runsDir(store), `${b.point.id}.runs`)));
    const c = take(db, store);
    expect(c.point.parent).toBe(a.point.id);
    expect(c.pagesHashed).toBe(c.point.pageCount);
    expect(c.point.changedPages).toBeGreaterThan(0);
    expectRebuildIsDatabase(root, store, c.point.id, db);
  });

  it('hashes every page when the run digests are missing or damaged', () => {
    const { root, db, store } = setup(1500);
    take(db, store);
    withDatabase(openDatabase(db), (d) => scatterChanges(d, [3, 900]));
    rmSync(runsDir(store), { recursive: true });
    const b = take(db, store);
    expect(b.pagesHashed).toBe(b.point.pageCount);
    expectRebuildIsDatabase(root, store, b.point.id, db);

    withDatabase(openDatabase(db), (d) => scatterChanges(d, [4, 1200]));
    const file = join(runsDir(store), `${b.point.id}.runs`);
    const bytes = readFileSync(file);
    bytes[100] = (bytes[100] as number) ^ 1; // a flipped bit in the digests: the checksum fails
    writeFileSync(file, bytes);
    const c = take(db, store);
    expect(c.pagesHashed).toBe(c.point.pageCount);
    expectRebuildIsDatabase(root, store, c.point.id, db);
  });
});

describe('PageHashIndex', () => {
  it("finds every page of the parent's packs and of the new pack by hash, and nothing else", () => {
    const packs = [randomBytes(32 * 3000), randomBytes(32 * 5), randomBytes(32 * 20_000)];
    const index = new PageHashIndex(100); // grows from a small table
    packs.forEach((h, k) => {
      index.addPack(`p${k}`, h);
    });
    index.startNew('new', 4);
    const added = Array.from({ length: 500 }, () => randomBytes(32));
    for (const h of added) index.addNew(h);
    packs.forEach((h, k) => {
      for (let s = 0; s < h.length / 32; s += 7) {
        expect(index.find(h.subarray(s * 32, s * 32 + 32))).toEqual({ pack: `p${k}`, slot: s });
      }
    });
    added.forEach((h, s) => {
      expect(index.find(h)).toEqual({ pack: 'new', slot: s });
    });
    for (let i = 0; i < 1000; i++) expect(index.find(randomBytes(32))).toBeUndefined();
    // Same first 4 bytes, different hash: not a match.
    const near = Buffer.from(added[0] as Buffer);
    near[31] = (near[31] as number) ^ 1;
    expect(index.find(near)).toBeUndefined();
  });
});
