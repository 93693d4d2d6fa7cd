import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { openDatabase } from '../src/connection/connection.js';
import { journalMode } from '../src/connection/journal.js';
import { initDatabase } from '../src/schema/create.js';
import { LATEST_SCHEMA_VERSION } from '../src/schema/migrations.js';

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'ora-create-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

describe('initDatabase', () => {
  it('creates a missing database with mode 0600, the ORA schema and WAL; then is a no-op', () => {
    const path = join(dir, 'ora.db');
    const first = initDatabase(path, 1000);
    expect(first.created).toBe(true);
    expect(first.schemaVersion).toBe(LATEST_SCHEMA_VERSION);
    expect(first.applied.length).toBeGreaterThan(0);
    expect(statSync(path).mode & 0o777).toBe(0o600);
    const db = openDatabase(path, { readonly: true });
    try {
      expect(journalMode(db)).toBe('wal');
    } finally {
      db.close();
    }
    expect(initDatabase(path, 1000)).toEqual({ created: false, schemaVersion: LATEST_SCHEMA_VERSION, applied: [] });
  });

  it('creates the schema in an empty file without replacing the file', () => {
    const path = join(dir, 'empty.db');
    writeFileSync(path, '');
    const r = initDatabase(path, 1000);
    expect(r.created).toBe(false);
    expect(r.applied.length).toBeGreaterThan(0);
  });

  it('refuses a foreign database and leaves it byte-identical (in its own journal mode)', () => {
    const path = join(dir, 'foreign.db');
    const raw = new Database(path);
    raw.exec('CREATE TABLE notes (id INTEGER PRIMARY KEY)');
    raw.close();
    const before = readFileSync(path);
    expect(() => initDatabase(path, 1000)).toThrow(expect.objectContaining({ code: 'NOT_ORA_SCHEMA' }));
    expect(readFileSync(path).equals(before)).toBe(true);
    expect(existsSync(`${path}-wal`)).toBe(false);
  });

  it('names the missing directory, and creates nothing', () => {
    const path = join(dir, 'nope', 'ora.db');
    expect(() => initDatabase(path, 1000)).toThrow(
      `cannot create ${path}: directory ${join(dir, 'nope')} does not exist; create it first (mkdir -p ${join(dir, 'nope')})`,
    );
    expect(existsSync(join(dir, 'nope'))).toBe(false);
  });

  it('refuses a path under a regular file as a missing directory', () => {
    const file = join(dir, 'plain');
    writeFileSync(file, 'x');
    expect(() => initDatabase(join(file, 'ora.db'), 1000)).toThrow(expect.objectContaining({ code: 'IO_ERROR' }));
    expect(readFileSync(file, 'utf8')).toBe('x');
  });
});

describe('journalMode', () => {
  it('reads the journal mode in lower case and does not change it', () => {
    const path = join(dir, 'delete.db');
    const raw = new Database(path);
    raw.exec('CREATE TABLE t (x)');
    raw.close();
    const db = openDatabase(path);
    try {
      expect(journalMode(db)).toBe('delete');
      expect(journalMode(db)).toBe('delete');
    } finally {
      db.close();
    }
  });
});
