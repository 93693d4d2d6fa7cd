import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { migrateDatabase } from '../src/backup/index.js';
import { initDatabase } from '../src/schema/create.js';
import { LATEST_SCHEMA_VERSION } from '../src/schema/migrations.js';

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'ora-migrate-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

const options = () => ({
  backupDir: join(dir, 'backups'),
  s3Region: 'us-east-1',
  s3ForcePathStyle: false,
  busyTimeoutMs: 1000,
  maxProblems: 10,
  dryRun: false,
});

/** An ORA database as another program made it: the ORA tables, schema version 0. */
function versionZero(): string {
  const path = join(dir, 'ora.db');
  initDatabase(path, 1000);
  const raw = new Database(path);
  raw.pragma('user_version = 0');
  raw.close();
  return path;
}

describe('migrateDatabase', () => {
  it('skips a current database, taking no backup', async () => {
    const path = join(dir, 'ora.db');
    initDatabase(path, 1000);
    const r = await migrateDatabase(path, options());
    expect(r).toMatchObject({ status: 'skipped', mode: 'none', backupId: null, fromVersion: LATEST_SCHEMA_VERSION });
    expect(existsSync(join(dir, 'backups'))).toBe(false);
  });

  it('plans the adoption of a version-0 ORA database in a dry run and changes nothing', async () => {
    const path = versionZero();
    const before = readFileSync(path);
    const r = await migrateDatabase(path, { ...options(), dryRun: true });
    expect(r).toMatchObject({
      status: 'ok',
      dryRun: true,
      mode: 'adopt',
      fromVersion: 0,
      toVersion: LATEST_SCHEMA_VERSION,
    });
    expect(readFileSync(path).equals(before)).toBe(true);
  });

  it('adopts it after a verified backup and names the restore command that rolls back', async () => {
    const path = versionZero();
    const r = await migrateDatabase(path, options());
    if (!('rollback' in r)) throw new Error('expected a migration');
    expect(r.toVersion).toBe(LATEST_SCHEMA_VERSION);
    expect(r.rollback).toBe(`ora-db restore ${r.backupId} --db ${path} --backup-dir ${join(dir, 'backups')}`);
    expect(readdirSync(join(dir, 'backups')).some((f) => f.startsWith(`${r.backupId}`))).toBe(true);
  });

  it('refuses a foreign database and leaves it byte-identical', async () => {
    const path = join(dir, 'foreign.db');
    const raw = new Database(path);
    raw.exec('CREATE TABLE notes (id INTEGER PRIMARY KEY)');
    raw.close();
    const before = readFileSync(path);
    await expect(migrateDatabase(path, options())).rejects.toThrow(expect.objectContaining({ code: 'NOT_ORA_SCHEMA' }));
    expect(readFileSync(path).equals(before)).toBe(true);
  });
});
