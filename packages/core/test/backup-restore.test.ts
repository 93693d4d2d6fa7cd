import { copyFileSync, existsSync, readdirSync, readFileSync, statSync, unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { contentHash, holdLock, snapshotDir, tempDir } from '@ora/testkit';
import Database from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { BackupOptions } from '../src/backup/backup.js';
import { isVerified, listBackups, type Manifest, pickBackup } from '../src/backup/manifest.js';
import { backupSource, type RestoreOptions, restoreBackup } from '../src/backup/restore.js';
import { localStore } from '../src/backup/store.js';
import { verifyBackup } from '../src/backup/verify.js';
import {
  BackupInvalidError,
  DatabaseCorruptError,
  DatabaseLockedError,
  IoError,
  StoppedError,
} from '../src/errors/errors.js';
import { createOraDatabase } from '../src/testing/index.js';
import { backupOnce, raw, rejectionOf } from './helpers.js';

// Backup, verify and restore through core's API on real files (the jobs reach them through their
// bundles). Contents are compared with a hash of every row, read by the test's own connection.

let t: ReturnType<typeof tempDir>;
let live: string;
let backups: string;
beforeEach(() => {
  t = tempDir();
  live = t.path('ora.db');
  backups = t.path('backups');
  createOraDatabase(live, 300);
});
afterEach(() => t.cleanup());

function backup(path = live, options: Partial<BackupOptions> = {}): Promise<Manifest> {
  return backupOnce(path, localStore(backups), options);
}

function restore(manifest: Manifest, options: Partial<RestoreOptions> = {}) {
  return restoreBackup({
    source: backupSource(localStore(backups), manifest),
    target: live,
    toNewPath: false,
    busyTimeoutMs: 2000,
    maxProblems: 10,
    ...options,
  });
}

/** Adds rows to the live database, as the application would after a backup. */
function writeMore(path = live): void {
  raw(path, (db) => {
    db.pragma('journal_mode = WAL');
    const insert = db.prepare("INSERT INTO workflows (name, status, details) VALUES (?, 'ok', 'after the backup')");
    for (let i = 0; i < 50; i++) insert.run(`later-${i}`);
  });
}

describe('createBackup', () => {
  it.each([
    ['vacuum-into', 'zstd'],
    ['backup-api', 'gzip'],
  ] as const)(
    'publishes a checked %s snapshot as %s: artifact, then manifest, and no temp file',
    async (method, compression) => {
      const hash = contentHash(live);
      const manifest = await backup(live, { method, compression, compressionLevel: compression === 'gzip' ? 6 : 3 });
      expect(manifest.snapshot.method).toBe(method);
      expect(manifest.artifact.compression).toBe(compression);
      expect(manifest.integrity.ok).toBe(true);
      expect(manifest.snapshot.tables.shipped_orders).toBe(300);
      expect(readdirSync(backups).sort()).toEqual([`${manifest.id}.json`, manifest.artifact.file].sort());
      expect(statSync(backups).mode & 0o777).toBe(0o700);
      expect(statSync(join(backups, manifest.artifact.file)).size).toBe(manifest.artifact.bytes);
      expect(listBackups(backups)).toEqual({ backups: [manifest], unreadable: [] });
      // What it holds is the database as it was: restored to a new path, every row is there.
      const copy = t.path('copy.db');
      await restore(manifest, { target: copy, toNewPath: true });
      expect(contentHash(copy)).toBe(hash);
    },
  );

  it('publishes nothing when the snapshot fails integrity_check (a damaged live database)', async () => {
    // An index rewritten behind SQLite's back: pages stay readable, integrity_check fails; the
    // page-by-page snapshot carries the damage over.
    raw(live, (db) => {
      db.unsafeMode(true);
      db.pragma('writable_schema = ON');
      db.exec(
        "UPDATE sqlite_schema SET sql = 'CREATE INDEX idx_shipped_items_ship_date ON shipped_items(sku_lot)' WHERE name = 'idx_shipped_items_ship_date'",
      );
    });
    const error = await rejectionOf(backup(live, { method: 'backup-api' }));
    expect(error).toBeInstanceOf(DatabaseCorruptError);
    expect(error.message).toMatch(/fails integrity_check .*nothing was published/);
    expect(readdirSync(backups)).toEqual([]);
  });

  it('stops on a signal and publishes nothing', async () => {
    const stop = new AbortController();
    stop.abort();
    await expect(backup(live, { signal: stop.signal })).rejects.toBeInstanceOf(StoppedError);
    expect(listBackups(backups).backups).toEqual([]);
    expect(readdirSync(backups).filter((f) => !f.startsWith('.tmp-'))).toEqual([]);
  });
});

describe('verifyBackup', () => {
  it('passes an intact backup and records it in the manifest', async () => {
    const manifest = await backup();
    const result = await verifyBackup(localStore(backups), manifest, 10);
    expect(result).toMatchObject({ id: manifest.id, ok: true, checksumOk: true, integrityOk: true, detail: 'ok' });
    const [stored] = listBackups(backups).backups;
    expect(stored?.lastVerification).toMatchObject({ ok: true, detail: 'ok' });
    expect(readdirSync(backups).filter((f) => f.startsWith('.tmp-'))).toEqual([]);
  });

  it('fails an artifact swapped for another valid one (SHA-256), records it, and latest no longer picks it', async () => {
    const first = await backup();
    writeMore();
    const second = await backup();
    // A well-formed artifact with other content in place of the second one's.
    copyFileSync(join(backups, first.artifact.file), join(backups, second.artifact.file));
    const result = await verifyBackup(localStore(backups), second, 10);
    expect(result).toMatchObject({ ok: false, checksumOk: false });
    expect(result.detail).toContain('SHA-256 does not match the manifest');
    const stored = listBackups(backups).backups.find((b) => b.id === second.id) as Manifest;
    expect(stored.lastVerification?.ok).toBe(false);
    expect(isVerified(stored)).toBe(false);
    expect(pickBackup(listBackups(backups).backups, backups, { id: 'latest' }).id).toBe(first.id);
  });

  it('fails a damaged artifact (one byte changed) and a missing one, each with its reason', async () => {
    const manifest = await backup();
    const file = join(backups, manifest.artifact.file);
    const bytes = readFileSync(file);
    const middle = Math.floor(bytes.length / 2);
    bytes.writeUInt8((bytes.readUInt8(middle) ^ 0xff) & 0xff, middle);
    writeFileSync(file, bytes);
    const damaged = await verifyBackup(localStore(backups), manifest, 10);
    expect(damaged.ok).toBe(false);
    expect(damaged.detail).toMatch(/does not decompress|SHA-256 does not match/);
    unlinkSync(file); // then gone altogether
    const missing = await verifyBackup(localStore(backups), manifest, 10);
    expect(missing).toMatchObject({ ok: false, detail: `artifact ${manifest.artifact.file} is missing` });
  });
});

describe('restoreBackup to a new path', () => {
  it('refuses an existing path, and a stale -wal beside a new one, creating nothing', async () => {
    const manifest = await backup();
    const taken = t.path('taken.db');
    writeFileSync(taken, 'mine');
    await expect(restore(manifest, { target: taken, toNewPath: true })).rejects.toThrow(/already exists/);
    expect(readFileSync(taken, 'utf8')).toBe('mine');
    const fresh = t.path('fresh.db');
    writeFileSync(`${fresh}-wal`, 'old frames');
    const error = await rejectionOf(restore(manifest, { target: fresh, toNewPath: true }));
    expect(error).toBeInstanceOf(IoError);
    expect(error.message).toContain('a stale fresh.db-wal lies beside it');
    expect(existsSync(fresh)).toBe(false);
  });
});

describe('restoreBackup into the live database', () => {
  it('replaces the content page by page and keeps a copy of what it replaced', async () => {
    const atBackup = contentHash(live);
    const manifest = await backup();
    writeMore();
    const beforeRestore = contentHash(live);
    const report = await restore(manifest);
    expect(report).toMatchObject({ mode: 'live', method: 'pages', backupId: manifest.id });
    expect(report.tables).toEqual(manifest.snapshot.tables);
    expect(contentHash(live)).toBe(atBackup);
    expect(report.preRestoreCopy).toMatch(/ora_before_restore_ora_\d{8}_\d+/);
    expect(contentHash(report.preRestoreCopy as string)).toBe(beforeRestore);
    expect(raw(live, (db) => db.pragma('integrity_check', { simple: true }))).toBe('ok');
    expect(readdirSync(t.dir).filter((f) => f.startsWith('.ora-restore'))).toEqual([]);
  });

  it('restores row by row when the backup has another page size', async () => {
    const other = t.path('other.db');
    const db = new Database(other);
    db.pragma('page_size = 8192');
    db.exec('CREATE TABLE _init (x); DROP TABLE _init');
    db.close();
    createOraDatabase(other, 120, 7);
    const wanted = contentHash(other);
    const manifest = await backup(other);
    expect(manifest.snapshot.pageSize).toBe(8192);
    const beforeRestore = contentHash(live);
    const report = await restore(manifest);
    expect(report).toMatchObject({ mode: 'live', method: 'rows', preRestoreCopyMethod: 'under-lock' });
    expect(contentHash(live)).toBe(wanted);
    expect(raw(live, (r) => r.pragma('page_size', { simple: true }))).toBe(4096);
    expect(contentHash(report.preRestoreCopy as string)).toBe(beforeRestore);
  });

  it('refuses a tampered artifact with BACKUP_INVALID and leaves the live database untouched', async () => {
    const first = await backup();
    writeMore();
    const second = await backup();
    copyFileSync(join(backups, first.artifact.file), join(backups, second.artifact.file));
    const files = snapshotDir(t.dir);
    const error = await rejectionOf(restore(second));
    expect(error).toBeInstanceOf(BackupInvalidError);
    expect(error.message).toBe(
      `backup ${second.id} fails its SHA-256 check: the artifact was changed or damaged; nothing was restored — try an older backup`,
    );
    expect(snapshotDir(t.dir)).toEqual(files);
  });

  it('is refused with DATABASE_LOCKED when another process holds the write lock, changing nothing', async () => {
    const manifest = await backup();
    writeMore();
    const hash = contentHash(live);
    const lock = await holdLock(live, 'write');
    try {
      const error = await rejectionOf(restore(manifest, { busyTimeoutMs: 300 }));
      expect(error).toBeInstanceOf(DatabaseLockedError);
      expect(error.message).toContain('the restore was refused and the live database was not changed');
    } finally {
      await lock.release();
    }
    expect(contentHash(live)).toBe(hash);
    // Neither a copy that could pass for a pre-restore copy nor a temp file is left.
    expect(
      readdirSync(t.dir).filter((f) => f.startsWith('ora_before_restore') || f.startsWith('.ora-restore')),
    ).toEqual([]);
  });
});
