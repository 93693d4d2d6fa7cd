import { spawnSync } from 'node:child_process';
import { existsSync, renameSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { openDatabase, withDatabase } from '../src/connection/connection.js';
import { openSnapshotSource, openSourceEarly } from '../src/pitr/snapshot-pages.js';
import { takePoint } from '../src/pitr/store.js';
import { makeDatabase, pointFixture } from './pitr-helpers.js';

const cleanups: (() => void)[] = [];
afterEach(() => {
  for (const c of cleanups.splice(0)) c();
});

/**
 * The operations guide's client in another process: a new connection per transaction (its
 * DatabaseConnection.transaction()), `n` commits, each connection closed after its commit.
 */
function guideCommits(db: string, n: number, from: number): void {
  const r = spawnSync(
    'python3',
    [
      '-c',
      `import sqlite3, sys
for i in range(int(sys.argv[2]), int(sys.argv[2]) + int(sys.argv[3])):
    c = sqlite3.connect(sys.argv[1], timeout=30.0, isolation_level=None)
    c.executescript('PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; PRAGMA busy_timeout = 8000;')
    c.execute('BEGIN IMMEDIATE')
    c.execute("INSERT INTO items (id, name, payload) VALUES (?, 'guide', randomblob(300))", (i,))
    c.execute('UPDATE counter SET n = n + 1')
    c.execute('COMMIT')
    c.close()
`,
      db,
      String(from),
      String(n),
    ],
    { encoding: 'utf8' },
  );
  expect(r.status, r.stderr).toBe(0);
}

const count = (db: string) =>
  withDatabase(openDatabase(db, { readonly: true }), (d) => Number(d.value('SELECT n FROM counter')));

describe('the snapshot source a point holds open', { timeout: 60_000 }, () => {
  it('keeps a connection-per-transaction client from checkpointing at each close, then copies its WAL itself', () => {
    const { db } = pointFixture(cleanups, 'ora-source', 200);
    // Alone, the guide's client checkpoints at every close and deletes the WAL: none is left.
    guideCommits(db, 20, 10_000);
    expect(existsSync(`${db}-wal`)).toBe(false);

    const source = openSnapshotSource(db);
    try {
      guideCommits(db, 20, 20_000);
      // With our connection open, its closes were not the last: its frames are still in the WAL.
      expect(statSync(`${db}-wal`).size).toBeGreaterThan(0);
      const copied = source.checkpoint();
      expect(copied).not.toBeNull();
      expect(copied?.copied).toBe(copied?.walFrames);
      expect(copied?.copied).toBeGreaterThan(20);
    } finally {
      source.close();
    }
    expect(count(db)).toBe(40);
  });

  it('reads one snapshot, and tells when another file was renamed into its place', () => {
    const { root, db } = pointFixture(cleanups, 'ora-source', 200);
    const source = openSnapshotSource(db);
    try {
      expect(source.stillAt(db)).toBe(true);
      let pages = 0;
      const info = source.read(() => pages++);
      expect(pages).toBe(info.pageCount);
      expect(() => source.read(() => {})).toThrow(/one snapshot/);
      const other = join(root, 'other.db');
      makeDatabase(other, 10);
      renameSync(other, db);
      expect(source.stillAt(db)).toBe(false);
    } finally {
      source.close();
    }
  });

  it('is opened before the locks only for a database in WAL mode', () => {
    const { root, db } = pointFixture(cleanups, 'ora-source', 50);
    const early = openSourceEarly(db);
    expect(early).not.toBeNull();
    early?.close();
    const journal = join(root, 'journal.db');
    makeDatabase(journal, 50);
    withDatabase(openDatabase(journal), (d) => d.pragma('journal_mode = DELETE'));
    expect(openSourceEarly(journal)).toBeNull();
    expect(openSourceEarly(join(root, 'missing.db'))).toBeNull();
    // A point of the rollback-journal database is still taken (its source opened after the locks).
    expect(takePoint({ database: journal, dir: join(root, 'points') }).status).toBe('taken');
  });
});
