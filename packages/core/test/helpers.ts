import Database from 'better-sqlite3';
import { type BackupOptions, createBackup } from '../src/backup/backup.js';
import type { Manifest } from '../src/backup/manifest.js';
import type { BackupStore } from '../src/backup/store.js';
import { openDatabase } from '../src/connection/connection.js';

// Small helpers of core's own tests: assertions read files through a connection of their own.

/** Runs `fn` on a read-write driver connection of the test's own to `file`, then closes it. */
export function raw<T>(file: string, fn: (db: Database.Database) => T): T {
  const db = new Database(file, { fileMustExist: true });
  try {
    return fn(db);
  } finally {
    db.close();
  }
}

type Failure = Error & { code?: string; exitStatus?: number };

/** The error `fn` throws (the test fails when it throws none). */
export function errorOf(fn: () => unknown): Failure {
  try {
    fn();
  } catch (error) {
    return error as Failure;
  }
  throw new Error('expected an error');
}

/** The error `promise` rejects with (the test fails when it resolves). */
export async function rejectionOf(promise: Promise<unknown>): Promise<Failure> {
  try {
    await promise;
  } catch (error) {
    return error as Failure;
  }
  throw new Error('expected a rejection');
}

/** One zstd backup of `path` into `store` through core's createBackup; its manifest. */
export async function backupOnce(
  path: string,
  store: BackupStore,
  options: Partial<BackupOptions> = {},
): Promise<Manifest> {
  const db = openDatabase(path);
  try {
    const report = await createBackup(db, {
      store,
      method: 'vacuum-into',
      compression: 'zstd',
      compressionLevel: 3,
      maxProblems: 10,
      ...options,
    });
    return report.manifest;
  } finally {
    db.close();
  }
}
