import { createHash } from 'node:crypto';
import { readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { openDatabase, withDatabase } from '../src/connection/connection.js';
import {
  listPoints,
  type PointManifest,
  pointPacks,
  prunePoints,
  rebuildPoint,
  takePoint,
  verifyPoints,
  writePointManifest,
} from '../src/pitr/store.js';
import { dumpDatabase, insertItems, packNames, pointFixture } from './pitr-helpers.js';

// A point's pack list (every pack its pages live in, with checksums) lives in the page maps as
// deltas (format 2), so what a point stores does not grow with the number of packs in the store.

const cleanups: (() => void)[] = [];
afterEach(() => {
  for (const c of cleanups.splice(0)) c();
});

function take(db: string, store: string): PointManifest {
  const r = takePoint({ database: db, dir: store });
  if (r.status !== 'taken') throw new Error(`point skipped: ${r.reason}`);
  return r.point;
}

const manifestBytes = (store: string, id: string) => statSync(join(store, 'points', `${id}.json`)).size;
const mapBytes = (store: string, id: string) => statSync(join(store, 'maps', `${id}.map`)).size;

/** Rewrites the JSON header of map file `path` with `edit` and its trailing SHA-256 to match. */
function rewriteMapHeader(path: string, edit: (header: Record<string, unknown>) => void): void {
  const buf = readFileSync(path);
  const len = buf.readUInt32LE(8);
  const header = JSON.parse(buf.subarray(12, 12 + len).toString()) as Record<string, unknown>;
  edit(header);
  const json = Buffer.from(JSON.stringify(header));
  const size = Buffer.alloc(4);
  size.writeUInt32LE(json.length, 0);
  const body = Buffer.concat([buf.subarray(0, 8), size, json, buf.subarray(12 + len, buf.length - 32)]);
  writeFileSync(path, Buffer.concat([body, createHash('sha256').update(body).digest()]));
}

describe('restore points: pack lists in the page maps', { timeout: 120_000 }, () => {
  it("a manifest's size stays the same while the packs its point needs grow; every point rebuilds", () => {
    const { root, db, store } = pointFixture(cleanups, 'ora-pitr-lists', 2000);
    const points: { point: PointManifest; dump: string }[] = [];
    points.push({ point: take(db, store), dump: dumpDatabase(db) });
    for (let k = 0; k < 40; k++) {
      // New rows land in new pages that stay: each point adds a pack that later points still need.
      withDatabase(openDatabase(db), (d) => {
        insertItems(d, 10_000 + k * 40, 40);
        d.exec(`UPDATE items SET name = 'k${k}' WHERE id = ${1 + k * 37}`);
      });
      points.push({ point: take(db, store), dump: dumpDatabase(db) });
    }
    const last = points.at(-1)?.point as PointManifest;
    expect(last.formatVersion).toBe(2);
    expect(last.packs).toBeUndefined();
    expect(packNames(store, last).length).toBeGreaterThanOrEqual(35);
    // The list grew with the packs (a manifest listing them would have grown ~185 bytes a pack);
    // the manifests did not: only digits of sizes and times differ between them.
    const deltas = points.slice(1).map((p) => manifestBytes(store, p.point.id));
    expect(Math.max(...deltas) - Math.min(...deltas)).toBeLessThan(64);
    // A delta map carries the one pack its point added: it stays small too.
    for (const { point } of points.slice(1)) {
      if (point.map.kind === 'delta') expect(mapBytes(store, point.id)).toBeLessThan(2048);
    }
    for (const i of [0, 1, 20, 39, 40]) {
      const { point, dump } = points[i] as { point: PointManifest; dump: string };
      const out = join(root, `rebuilt-${i}.db`);
      rebuildPoint(store, point.id, out);
      expect(dumpDatabase(out)).toBe(dump);
    }
    expect(verifyPoints(store).ok).toBe(true);
    // Forgetting points in the middle keeps exactly the packs the others' lists name.
    const forget = points.slice(1, 30).map((p) => p.point.id);
    prunePoints(store, { forget });
    const kept = listPoints(store).points;
    const needed = new Set(kept.flatMap((p) => packNames(store, p).map((n) => `${n}.pack`)));
    expect(readdirSync(join(store, 'packs')).sort()).toEqual([...needed].sort());
    for (const i of [0, 30, 40]) {
      const { point, dump } = points[i] as { point: PointManifest; dump: string };
      const out = join(root, `after-forget-${i}.db`);
      rebuildPoint(store, point.id, out);
      expect(dumpDatabase(out)).toBe(dump);
    }
  });

  it('reads a store of format 1 (manifests list their packs, maps do not) and goes on with a full map', () => {
    const { root, db, store } = pointFixture(cleanups, 'ora-pitr-v1', 2000);
    const old: { point: PointManifest; dump: string }[] = [];
    for (let k = 0; k < 3; k++) {
      withDatabase(openDatabase(db), (d) => insertItems(d, 10_000 + k * 100, 100));
      old.push({ point: take(db, store), dump: dumpDatabase(db) });
    }
    // Rewrite it as the previous version wrote it.
    for (const { point } of old) {
      const v1: PointManifest = { ...point, formatVersion: 1, packs: pointPacks(store, point) };
      writePointManifest(store, v1);
    }
    for (const { point } of old) {
      rewriteMapHeader(join(store, 'maps', `${point.id}.map`), (h) => {
        delete h.packRefs;
        delete h.packsAdded;
        delete h.packsDropped;
      });
    }
    expect(verifyPoints(store).ok).toBe(true);
    for (const [i, { point, dump }] of old.entries()) {
      const out = join(root, `v1-${i}.db`);
      rebuildPoint(store, point.id, out);
      expect(dumpDatabase(out)).toBe(dump);
    }
    // The next point cannot be a delta of a chain without lists: it writes a full map, and the
    // one after it a delta again.
    withDatabase(openDatabase(db), (d) => d.exec("UPDATE items SET name = 'v2' WHERE id = 3"));
    const p4 = { point: take(db, store), dump: dumpDatabase(db) };
    withDatabase(openDatabase(db), (d) => d.exec("UPDATE items SET name = 'v2b' WHERE id = 4"));
    const p5 = { point: take(db, store), dump: dumpDatabase(db) };
    expect(p4.point.map.kind).toBe('full');
    expect(p5.point.map.kind).toBe('delta');
    expect(p4.point.parent).toBe(old[2]?.point.id);
    // p4 still reuses the old points' packs: it stored only the few pages that changed.
    expect(p4.point.newPages).toBeLessThan(20);
    expect(p4.point.newPages).toBeLessThan(p4.point.pageCount / 5);
    expect(packNames(store, p5.point)).toEqual(expect.arrayContaining([old[0]?.point.id, p4.point.id]));
    prunePoints(store, { forget: [old[0]?.point.id as string, old[1]?.point.id as string] });
    const mixed = [old[2], p4, p5] as { point: PointManifest; dump: string }[];
    for (const [i, { point, dump }] of mixed.entries()) {
      const out = join(root, `mixed-${i}.db`);
      rebuildPoint(store, point.id, out);
      expect(dumpDatabase(out)).toBe(dump);
    }
    expect(verifyPoints(store).ok).toBe(true);
  });

  it('a map whose pack list was changed is refused by its checksum; one whose list is malformed is named by verify', () => {
    const { db, store } = pointFixture(cleanups, 'ora-pitr-badlist', 1000);
    take(db, store);
    withDatabase(openDatabase(db), (d) => insertItems(d, 10_000, 100));
    const p2 = take(db, store);
    const path = join(store, 'maps', `${p2.id}.map`);
    const sound = readFileSync(path);
    // A list entry without its checksum, with the file's own checksum made to match.
    rewriteMapHeader(path, (h) => {
      (h.packsAdded as Record<string, unknown>[]).forEach((r) => {
        delete r.sha256;
      });
    });
    const report = verifyPoints(store);
    expect(report.ok).toBe(false);
    expect(report.points.find((p) => p.id === p2.id)?.problems.join(' ')).toMatch(/header does not match its schema/);
    // Bytes changed under the checksum: refused as damaged.
    const flipped = Buffer.from(sound);
    flipped[20] = (flipped[20] as number) ^ 0xff;
    writeFileSync(path, flipped);
    expect(
      verifyPoints(store)
        .points.find((p) => p.id === p2.id)
        ?.problems.join(' '),
    ).toMatch(/checksum mismatch/);
  });
});
