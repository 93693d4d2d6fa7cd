import { spawnSync } from 'node:child_process';
import { mkdirSync, readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { bundleRunner, tableContents, tempDir } from '@ora/testkit';
import Database from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';

// Errors about the backup's destination name the destination (SPEC §3: what, which file, what
// to do), not the live database, which is fine. Real filesystems: a 40 MiB tmpfs that fills up,
// and a read-only bind mount of the backup directory. Both need mount(2) (root); where the
// kernel refuses it the test says so and fails rather than pass without checking anything.

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const backup = bundleRunner(root);

let t: ReturnType<typeof tempDir>;
const mounted: string[] = [];
beforeEach(() => {
  t = tempDir();
});
afterEach(() => {
  for (const m of mounted.splice(0).reverse()) spawnSync('umount', [m]);
  t.cleanup();
});

function mount(args: string[], target: string): void {
  mkdirSync(target, { recursive: true });
  const r = spawnSync('mount', [...args, target], { encoding: 'utf8' });
  if (r.status !== 0) {
    throw new Error(
      `mount ${args.join(' ')} ${target} refused (${r.stderr.trim()}): this test needs root to mount a real filesystem`,
    );
  }
  mounted.push(target);
}

/** A database of `mib` MiB of incompressible blobs. */
function bigDatabase(path: string, mib: number): void {
  const db = new Database(path);
  try {
    db.pragma('journal_mode = WAL');
    db.exec('CREATE TABLE blobs (id INTEGER PRIMARY KEY, data BLOB)');
    db.exec(
      `WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ${mib}) INSERT INTO blobs (data) SELECT randomblob(1048576) FROM n`,
    );
  } finally {
    db.close();
  }
}

describe('backup into a destination it cannot write', () => {
  it('a full backup filesystem (real 40 MiB tmpfs) names the backup directory, not the live database', () => {
    const db = t.path('live.db');
    bigDatabase(db, 48);
    const before = tableContents(db);
    const dir = t.path('small');
    mount(['-t', 'tmpfs', '-o', 'size=40m', 'tmpfs'], dir);
    const r = backup(['--db', db, '--backup-dir', join(dir, 'backups'), '--json']);
    expect(r.code).toBe(3);
    const error = r.json().error;
    expect(error.code).toBe('DISK_FULL');
    expect(error.message).toMatch(
      new RegExp(
        `^disk full while writing the snapshot ${dir}/backups/\\.tmp-[^ ]+\\.db: the filesystem holding ${dir}/backups has no room for it`,
      ),
    );
    expect(error.message).not.toContain(`${db};`);
    expect(readdirSync(join(dir, 'backups'))).toEqual([]); // nothing partial left behind
    expect(tableContents(db)).toEqual(before);
  });

  it('a snapshot that fits but an artifact that does not (real tmpfs) names the artifact being written', () => {
    const db = t.path('live.db');
    bigDatabase(db, 24);
    const dir = t.path('small');
    mount(['-t', 'tmpfs', '-o', 'size=40m', 'tmpfs'], dir);
    const r = backup(['--db', db, '--backup-dir', dir, '--json']);
    expect(r.code).toBe(3);
    const error = r.json().error;
    expect(error.code).toBe('DISK_FULL');
    expect(error.message).toMatch(
      new RegExp(`^disk full while writing the artifact ${dir}/\\.tmp-[^ ]+; free space on the filesystem holding it`),
    );
    expect(readdirSync(dir)).toEqual([]);
  });

  it('a read-only backup directory (real read-only bind mount) is named as such', () => {
    const db = t.path('live.db');
    bigDatabase(db, 1);
    const before = tableContents(db);
    const dir = t.path('backups');
    mkdirSync(dir, { mode: 0o700 });
    mount(['--bind', dir], dir);
    const r0 = spawnSync('mount', ['-o', 'remount,bind,ro', dir], { encoding: 'utf8' });
    if (r0.status !== 0) throw new Error(`read-only remount refused: ${r0.stderr}`);
    const r = backup(['--db', db, '--backup-dir', dir, '--json']);
    expect(r.code).toBe(3);
    const error = r.json().error;
    expect(error.code).toBe('PERMISSION_DENIED');
    expect(error.message).toMatch(
      new RegExp(`the backup directory ${dir} is not writable|${dir}.*read-only filesystem`),
    );
    expect(error.message).not.toMatch(/^cannot open .*live\.db/);
    expect(tableContents(db)).toEqual(before);
  });
});
