import { existsSync, mkdirSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { acquireJobLock } from '@ora/core';
import { contentHash } from '@ora/testkit';
import Database from 'better-sqlite3';
import { describe, expect, it } from 'vitest';
import { start, useBigDatabase } from './long-jobs.js';

// SIGTERM (what Kubernetes and docker stop send) to real runs caught mid-work: each stops at its
// next safe point, exits 3 (SPEC §3 has 0-3; not the shell's 143), releases the job lock at once,
// publishes nothing partial and leaves the database intact.
const big = useBigDatabase('ora-stop-', 96);
const fresh = () => big.fresh();

function integrity(path: string): string {
  const db = new Database(path, { readonly: true });
  try {
    return db.pragma('integrity_check', { simple: true }) as string;
  } finally {
    db.close();
  }
}

function count(path: string, table: string): number {
  const db = new Database(path, { readonly: true });
  try {
    return db.prepare(`SELECT count(*) FROM ${table}`).pluck().get() as number;
  } finally {
    db.close();
  }
}

/** Sends SIGTERM, then checks the exit: code 3 with code STOPPED, within `withinMs`. */
async function stop(run: ReturnType<typeof start>, withinMs: number) {
  const sent = performance.now();
  run.child.kill('SIGTERM');
  const { code, signal, at } = await run.exited;
  const logs = run
    .stderr()
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as { msg: string; code?: string; level: string });
  expect({ code, signal }, run.stderr()).toEqual({ code: 3, signal: null });
  expect(at - sent, run.stderr()).toBeLessThan(withinMs);
  expect(logs.at(-1)).toMatchObject({ level: 'error', code: 'STOPPED' });
  return logs;
}

/** The job lock is free: a next run would start at once. */
function lockIsFree(db: string): void {
  const lock = acquireJobLock(db, { job: 'test', waitMs: 0 });
  expect(lock.tookOverFrom).toBeNull(); // released, not left behind by a dead process
  lock.release();
}

describe('SIGTERM to a running heavy job', () => {
  it('backup: stops during compression, publishes nothing, removes its temps', async () => {
    const db = fresh();
    const backups = `${db}.backups`;
    mkdirSync(backups);
    const before = contentHash(db);
    const run = start(['backup', '--db', db, '--backup-dir', backups]);
    await run.waitFor(/check\+compress started/);
    await stop(run, 10_000);
    expect(readdirSync(backups)).toEqual([]);
    lockIsFree(db);
    expect(contentHash(db)).toBe(before);
    expect(integrity(db)).toBe('ok');
  }, 240_000);

  it('weekly-vacuum: abandons the VACUUM at once; the file is as it was', async () => {
    const db = fresh();
    const free = (() => {
      const h = new Database(db, { readonly: true });
      const f = h.pragma('freelist_count', { simple: true });
      h.close();
      return f;
    })();
    const run = start(['weekly-vacuum', '--db', db, '--force']);
    await run.waitFor(/vacuum started/);
    await new Promise((r) => setTimeout(r, 300));
    await stop(run, 5_000);
    lockIsFree(db);
    expect(integrity(db)).toBe('ok');
    const h = new Database(db, { readonly: true });
    expect(h.pragma('freelist_count', { simple: true })).toBe(free); // not vacuumed, not half-vacuumed
    h.close();
    expect(existsSync(`${db}-journal`)).toBe(false);
  }, 240_000);

  it('archive: stops between batches; every order is in exactly one place', async () => {
    const db = fresh();
    const total = count(db, 'shipped_orders');
    const run = start(['archive', '--db', db, '--before', '2026-03-01', '--max-lock-ms', '5'], {
      ORA_PROGRESS_EVERY_MS: '100',
    });
    await run.waitFor(/archive: orders \d+%/);
    await stop(run, 5_000);
    lockIsFree(db);
    expect(integrity(db)).toBe('ok');
    const archives = readdirSync(big.dir()).filter((f) => /^ora_archive_\d{4}\.db$/.test(f));
    expect(archives.length).toBeGreaterThan(0);
    const h = new Database(db, { readonly: true });
    let archived = 0;
    for (const [i, a] of archives.entries()) {
      expect(integrity(join(big.dir(), a))).toBe('ok');
      h.prepare(`ATTACH ? AS a${i}`).run(join(big.dir(), a));
      archived += h.prepare(`SELECT count(*) FROM a${i}.shipped_orders`).pluck().get() as number;
      // No order both archived and still live (each batch is complete in both, or not done).
      expect(
        h
          .prepare(`SELECT count(*) FROM a${i}.shipped_orders WHERE id IN (SELECT id FROM main.shipped_orders)`)
          .pluck()
          .get(),
      ).toBe(0);
    }
    h.close();
    expect(archived).toBeGreaterThan(0);
    expect(archived + count(db, 'shipped_orders')).toBe(total);
    // A rerun finishes the work at once (the lock is free, the stopped run left nothing in the way).
    const rerun = start(['archive', '--db', db, '--before', '2026-03-01']);
    expect((await rerun.exited).code, rerun.stderr()).toBe(0);
  }, 240_000);
});
