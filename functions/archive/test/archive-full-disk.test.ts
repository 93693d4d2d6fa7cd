import { rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createOraDatabase } from '@ora/core/testing';
import { bundleRunner, fillUpTo, mountTmpfs, tempDir } from '@ora/testkit';
import Database from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';

// The archive directory fills up mid-run (a real tmpfs: mount(2) needs root; where the kernel
// refuses it the test fails, saying so). The run exits 3 with DISK_FULL, and what it committed
// before that is printed: in the one error line, and under `committed` in --json.

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const archive = bundleRunner(root);

let t: ReturnType<typeof tempDir>;
let db: string;
let dir: string;
let unmount: (() => void) | undefined;
beforeEach(() => {
  t = tempDir();
  db = t.path('ora.db');
  dir = t.path('archives');
});
afterEach(() => {
  unmount?.();
  unmount = undefined;
  t.cleanup();
});

const count = (file: string, sql: string) => {
  const h = new Database(file, { fileMustExist: true });
  try {
    return h.prepare(sql).pluck().get() as number;
  } finally {
    h.close();
  }
};

describe('archive into a directory that fills up mid-run (real tmpfs)', () => {
  it('exits 3 naming the committed batches (text and --json); with room again a rerun finishes', () => {
    createOraDatabase(db, 1500);
    const total = count(db, "SELECT count(*) FROM shipped_orders WHERE ship_date < '2026-01-01'");
    unmount = mountTmpfs(dir, '4m');
    const args = ['--db', db, '--archive-dir', dir, '--batch-size', '5', '--max-lock-ms', '10000'];
    // A first small run makes the archive; then only 48 KiB stay free.
    const first = count(db, 'SELECT min(ship_date) FROM shipped_orders') as unknown as string;
    const nextDay = new Date(Date.parse(`${first}T00:00:00Z`) + 86_400_000).toISOString().slice(0, 10);
    expect(archive([...args, '--before', nextDay]).code).toBe(0);
    fillUpTo(dir, 48 * 1024);
    const path = join(dir, 'ora_archive_2025.db');
    const before = count(path, 'SELECT count(*) FROM shipped_orders');

    const r = archive([...args, '--before', '2026-01-01', '--json']);
    expect(r.code, r.stderr).toBe(3);
    const error = r.json().error;
    expect(error.code).toBe('DISK_FULL');
    const archived = count(path, 'SELECT count(*) FROM shipped_orders');
    expect(error.committed.batches).toBeGreaterThan(0);
    expect(error.committed.moved.shipped_orders).toBe(archived - before);
    expect(error.committed.archives).toEqual([path]);
    expect(error.message).toContain(
      `before that, ${error.committed.batches} batch(es) committed and stay moved (${archived - before} shipped_orders`,
    );
    expect(count(db, "SELECT count(*) FROM shipped_orders WHERE ship_date < '2026-01-01'")).toBe(total - archived);

    // Without --json: the same in the one error line on stderr, nothing on stdout.
    rmSync(join(dir, 'filler'));
    fillUpTo(dir, 48 * 1024);
    const text = archive([...args, '--before', '2026-01-01']);
    expect(text.code).toBe(3);
    expect(text.stdout).toBe('');
    expect(text.logs.at(-1)).toMatchObject({ level: 'error', code: 'DISK_FULL' });
    expect(text.stderr).toContain('rerun the same command to finish');

    rmSync(join(dir, 'filler'));
    const rest = archive([...args, '--before', '2026-01-01', '--json']);
    expect(rest.code, rest.stderr).toBe(0);
    expect(count(path, 'SELECT count(*) FROM shipped_orders')).toBe(total);
    expect(count(db, "SELECT count(*) FROM shipped_orders WHERE ship_date < '2026-01-01'")).toBe(0);
  }, 120_000);
});
