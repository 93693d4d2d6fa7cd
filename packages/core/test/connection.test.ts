import { mkdirSync, readdirSync, statSync, truncateSync, writeFileSync } from 'node:fs';
import { holdLock, tempDir } from '@ora/testkit';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { openDatabase, readConnectionSettings } from '../src/connection/connection.js';
import {
  DatabaseCorruptError,
  DatabaseEmptyError,
  DatabaseIsDirectoryError,
  DatabaseLockedError,
  DatabaseNotFoundError,
  NotADatabaseError,
} from '../src/errors/errors.js';
import { createOraDatabase } from '../src/testing/index.js';

let t: ReturnType<typeof tempDir>;
beforeEach(() => {
  t = tempDir();
});
afterEach(() => t.cleanup());

function errorOf(fn: () => unknown): Error & { code?: string; exitStatus?: number } {
  try {
    fn();
  } catch (error) {
    return error as Error;
  }
  throw new Error('expected an error');
}

describe('openDatabase', () => {
  it('refuses to open a missing database and creates no file (not even -wal/-shm)', () => {
    const path = t.path('missing.db');
    const error = errorOf(() => openDatabase(path));
    expect(error).toBeInstanceOf(DatabaseNotFoundError);
    expect(error.exitStatus).toBe(3);
    expect(error.message).toBe(
      `database not found: ${path} (nothing was created); check --db / DATABASE_PATH, or create one with 'ora-db init --db ${path}'`,
    );
    expect(readdirSync(t.dir)).toEqual([]);
    expect(() => openDatabase(path, { readonly: true })).toThrow(DatabaseNotFoundError);
    expect(readdirSync(t.dir)).toEqual([]);
  });

  it('refuses a directory', () => {
    const path = t.path('dir.db');
    mkdirSync(path);
    const error = errorOf(() => openDatabase(path));
    expect(error).toBeInstanceOf(DatabaseIsDirectoryError);
    expect(error.message).toBe(
      `database path is a directory, not a file: ${path}; point --db / DATABASE_PATH at the .db file inside it`,
    );
    expect(readdirSync(t.dir)).toEqual(['dir.db']);
  });

  it('refuses an empty file that should hold data, and leaves it empty', () => {
    const path = t.path('empty.db');
    writeFileSync(path, '');
    const error = errorOf(() => openDatabase(path));
    expect(error).toBeInstanceOf(DatabaseEmptyError);
    expect(error.exitStatus).toBe(3);
    expect(error.message).toMatch(/^database file is empty \(0 bytes\): .*empty\.db; it holds no data/);
    expect(statSync(path).size).toBe(0);
    expect(readdirSync(t.dir)).toEqual(['empty.db']);
  });

  it('refuses a file that is not SQLite', () => {
    const path = t.path('notes.db');
    writeFileSync(path, 'this is a text file, not a database\n'.repeat(20));
    const error = errorOf(() => openDatabase(path));
    expect(error).toBeInstanceOf(NotADatabaseError);
    expect(error.exitStatus).toBe(3);
    expect(error.message).toBe(
      `not an SQLite database: ${path} (it does not start with "SQLite format 3"); check --db / DATABASE_PATH`,
    );
    expect(readdirSync(t.dir)).toEqual(['notes.db']);
  });

  it('refuses a truncated database with its own message', () => {
    const path = t.path('ora.db');
    createOraDatabase(path, 50);
    const full = statSync(path).size;
    truncateSync(path, Math.floor(full / 2));
    const error = errorOf(() => openDatabase(path));
    expect(error).toBeInstanceOf(DatabaseCorruptError);
    expect(error.code).toBe('DATABASE_TRUNCATED');
    expect(error.exitStatus).toBe(1);
    expect(error.message).toMatch(/^database file is truncated: .* but its header says \d+ pages of 4096 bytes/);
  });

  it('applies the guide PRAGMAs and reads them back', () => {
    const path = t.path('ora.db');
    createOraDatabase(path);
    const db = openDatabase(path, { busyTimeoutMs: 1234 });
    try {
      expect(readConnectionSettings(db)).toEqual({
        journalMode: 'wal',
        synchronous: 1,
        foreignKeys: true,
        busyTimeoutMs: 1234,
        tempStore: 2,
        cacheSize: -20000,
      });
    } finally {
      db.close();
    }
  });

  it('opens read-only connections that cannot write', () => {
    const path = t.path('ora.db');
    createOraDatabase(path);
    const db = openDatabase(path, { readonly: true });
    try {
      expect(() => db.run(() => db.exec("INSERT INTO workflows (name, status) VALUES ('a', 'b')"))).toThrow(
        /read-only/,
      );
    } finally {
      db.close();
    }
  });

  it('commits a transaction, and rolls back everything when the function throws', () => {
    const path = t.path('ora.db');
    createOraDatabase(path);
    const db = openDatabase(path);
    try {
      db.transaction(() => db.exec("INSERT INTO workflows (name, status) VALUES ('kept', 'ok')"));
      expect(() =>
        db.transaction(() => {
          db.exec("INSERT INTO workflows (name, status) VALUES ('lost', 'ok')");
          throw new Error('boom');
        }),
      ).toThrow('boom');
      const names = db.prepare('SELECT name FROM workflows ORDER BY name').pluck().all();
      expect(names).toEqual(['kept']);
      expect(db.inTransaction).toBe(false);
    } finally {
      db.close();
    }
  });

  it('turns SQLITE_BUSY past the timeout into "database is locked by another process" (exit 3)', async () => {
    const path = t.path('ora.db');
    createOraDatabase(path);
    const holder = await holdLock(path, 'write');
    const db = openDatabase(path, { busyTimeoutMs: 200 });
    try {
      const started = Date.now();
      const error = errorOf(() =>
        db.transaction(() => db.exec("INSERT INTO workflows (name, status) VALUES ('x', 'y')")),
      );
      expect(Date.now() - started).toBeGreaterThanOrEqual(150);
      expect(error).toBeInstanceOf(DatabaseLockedError);
      expect(error.exitStatus).toBe(3);
      expect(error.message).toBe(
        `database is locked by another process: ${path} (waited 200 ms); retry later, raise ORA_BUSY_TIMEOUT_MS, or see who holds it with 'fuser -v ${path}*'`,
      );
    } finally {
      db.close();
      await holder.release();
    }
  });

  it('reports a database held exclusively by another process as locked at open', async () => {
    const path = t.path('ora.db');
    createOraDatabase(path);
    const holder = await holdLock(path, 'exclusive');
    try {
      expect(() => openDatabase(path, { readonly: true, busyTimeoutMs: 100 })).toThrow(DatabaseLockedError);
    } finally {
      await holder.release();
    }
  });
});
