import { closeSync, copyFileSync, openSync, statSync, truncateSync, writeSync } from 'node:fs';
import Database from 'better-sqlite3';

/** The kinds of damage the recover benchmark inflicts, as an operator meets them. */
export const DAMAGE_KINDS = ['leaf', 'interior', 'truncate'] as const;
export type DamageKind = (typeof DAMAGE_KINDS)[number];

export const DAMAGE_LABEL: Record<DamageKind, string> = {
  leaf: 'five table-leaf pages garbled',
  interior: 'one table-interior page garbled',
  truncate: 'last quarter of the file cut off (header keeps the old page count)',
};

/** Deterministic garbage (so every run damages alike). */
function garbage(bytes: number, seed: number): Buffer {
  const b = Buffer.alloc(bytes);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < bytes; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    b[i] = x & 0xff;
  }
  return b;
}

/**
 * Copies `source` to `target` and damages the copy: garbles five leaf pages of the largest table
 * spread over its tree, one interior page of it just above the leaves, or cuts off the last
 * quarter of the file. Returns the pages garbled.
 */
export function damageCopy(source: string, target: string, kind: DamageKind): number[] {
  copyFileSync(source, target);
  if (kind === 'truncate') {
    const size = statSync(target).size;
    const pageSize = 4096;
    truncateSync(target, Math.floor((size * 0.75) / pageSize) * pageSize);
    return [];
  }
  const db = new Database(source, { readonly: true });
  let pages: number[];
  let pageSize: number;
  try {
    pageSize = Number(db.pragma('page_size', { simple: true }));
    const largest = db
      .prepare(
        "SELECT name FROM dbstat WHERE name IN (SELECT name FROM sqlite_schema WHERE type = 'table') GROUP BY name ORDER BY count(*) DESC LIMIT 1",
      )
      .pluck()
      .get() as string;
    if (kind === 'leaf') {
      const leaves = db
        .prepare("SELECT pageno FROM dbstat WHERE name = ? AND pagetype = 'leaf' ORDER BY path")
        .pluck()
        .all(largest) as number[];
      pages = [1, 2, 3, 4, 5].map((i) => leaves[Math.floor((leaves.length * i) / 6)] as number);
    } else {
      // The deepest interior pages are the parents of leaves: garble one in the middle.
      const interior = db
        .prepare("SELECT pageno, path FROM dbstat WHERE name = ? AND pagetype = 'internal' ORDER BY path")
        .all(largest) as { pageno: number; path: string }[];
      const depth = Math.max(...interior.map((p) => p.path.length));
      const parents = interior.filter((p) => p.path.length === depth);
      pages = [(parents[Math.floor(parents.length / 2)] as { pageno: number }).pageno];
    }
  } finally {
    db.close();
  }
  const fd = openSync(target, 'r+');
  try {
    for (const p of pages) writeSync(fd, garbage(pageSize, p), 0, pageSize, (p - 1) * pageSize);
  } finally {
    closeSync(fd);
  }
  return pages;
}
