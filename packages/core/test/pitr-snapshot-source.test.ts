import { spawnSync } from 'node:child_process';
import { existsSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { openDatabase, withDatabase } from '../src/connection/connection.js';
import { openSnapshotSource } from '../src/pitr/snapshot-pages.js';
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

  it('reads one snapshot, once', () => {
    const { db } = pointFixture(cleanups, 'ora-source', 200);
    const source = openSnapshotSource(db);
    try {
      let pages = 0;
      const info = source.read(() => pages++);
      expect(pages).toBe(info.pageCount);
      expect(() => source.read(() => {})).toThrow(/one snapshot/);
    } finally {
      source.close();
    }
  });

  it('takes a point of a rollback-journal database, where there is no WAL to checkpoint', () => {
    const { root } = pointFixture(cleanups, 'ora-source', 10);
    const journal = join(root, 'journal.db');
    makeDatabase(journal, 50);
    withDatabase(openDatabase(journal), (d) => d.pragma('journal_mode = DELETE'));
    const source = openSnapshotSource(journal);
    try {
      expect(source.checkpoint()).toBeNull();
    } finally {
      source.close();
    }
    expect(takePoint({ database: journal, dir: join(root, 'points') }).status).toBe('taken');
    expect(existsSync(`${journal}-wal`)).toBe(false);
  });
});
