import { closeSync, existsSync, openSync, renameSync, unlinkSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import Database from 'better-sqlite3';
import { type OraDatabase, openDatabase } from '../connection/connection.js';
import { checkDatabaseFile } from '../connection/file-checks.js';
import { translateSqliteError } from '../connection/sqlite-errors.js';
import { BackupInvalidError, DatabaseLockedError, IoError, RestoreFailedError } from '../errors/errors.js';
import { checkIntegrity } from '../stats/integrity.js';
import { openCopy, tableRowCounts } from './backup.js';
import { decompressFile } from './compress.js';
import { fsyncDir, ioError } from './files.js';
import type { Manifest } from './manifest.js';
import type { BackupStore } from './store.js';

export interface RestoreOptions {
  store: BackupStore;
  manifest: Manifest;
  /** The database to restore into: the live one, or (`toNewPath`) a path that must not exist yet. */
  target: string;
  toNewPath: boolean;
  busyTimeoutMs: number;
  maxProblems: number;
}

export interface RestoreReport {
  backupId: string;
  target: string;
  mode: 'live' | 'new-path';
  /** The copy of what was replaced (live restores only). */
  preRestoreCopy: string | null;
  tables: Record<string, number>;
  durationMs: number;
}

function removeQuietly(path: string): void {
  try {
    unlinkSync(path);
  } catch {
    // not there
  }
}

function timestamp(d = new Date()): string {
  return d.toISOString().replace(/[-:]/g, '').replace('T', '_').slice(0, 15);
}

/**
 * Decompresses and checks a backup into `temp` (beside the target, so on its filesystem): SHA-256
 * of artifact and content against the manifest, full integrity_check, schema version and row
 * counts. Throws BACKUP_INVALID (exit 1) with the live database untouched.
 */
async function prepareVerifiedCopy(o: RestoreOptions, temp: string): Promise<void> {
  const fetched = await o.store.fetchArtifact(o.manifest);
  if (!fetched) {
    throw new BackupInvalidError(
      `backup ${o.manifest.id} has no artifact (${o.manifest.artifact.file} is missing in ${o.store.location}); nothing was restored`,
    );
  }
  let sums: Awaited<ReturnType<typeof decompressFile>>;
  try {
    sums = await decompressFile(fetched.path, temp, o.manifest.artifact.compression);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOSPC' || code === 'EACCES' || code === 'EROFS') throw ioError(error, `writing ${temp}`);
    throw new BackupInvalidError(
      `backup ${o.manifest.id} does not decompress (${(error as Error).message}): truncated or damaged; nothing was restored — try an older backup`,
      { cause: error },
    );
  } finally {
    fetched.release();
  }
  if (sums.artifactSha256 !== o.manifest.artifact.sha256 || sums.outputBytes !== o.manifest.snapshot.bytes) {
    throw new BackupInvalidError(
      `backup ${o.manifest.id} fails its SHA-256 check: the artifact was changed or damaged; nothing was restored — try an older backup`,
    );
  }
  const copy = openCopy(temp);
  try {
    const integrity = checkIntegrity(copy, { full: true, maxProblems: o.maxProblems });
    if (!integrity.ok) {
      throw new BackupInvalidError(
        `backup ${o.manifest.id} fails integrity_check (${integrity.problems[0] ?? ''}); nothing was restored`,
      );
    }
  } finally {
    copy.close();
  }
}

/** Copies `source` over the open database `target` with the online backup API, retrying while busy. */
async function copyPagesInto(sourcePath: string, target: OraDatabase): Promise<void> {
  const source = new Database(sourcePath, { readonly: true, fileMustExist: true });
  const deadline = Date.now() + target.busyTimeoutMs;
  try {
    for (;;) {
      try {
        // One step: every page in one transaction on the target, so readers of the live database
        // see either the old content or the restored content, never a mix.
        const result = await source.backup(target.path, { progress: () => 2_147_483_647 });
        // better-sqlite3 reports a backup whose first step met SQLITE_BUSY as finished with
        // totalPages 0: nothing was copied. Treat it as busy.
        if (result.totalPages > 0) return;
        throw Object.assign(new Error('database is locked'), { code: 'SQLITE_BUSY' });
      } catch (error) {
        const code = (error as { code?: string }).code ?? '';
        if (!/^SQLITE_(BUSY|LOCKED)/.test(code) || Date.now() >= deadline) {
          const translated = translateSqliteError(error, target.path, target.busyTimeoutMs);
          if (translated instanceof DatabaseLockedError) {
            throw new DatabaseLockedError(
              `${translated.message}; the restore was refused and the live database was not changed`,
              { cause: error },
            );
          }
          throw translated;
        }
        await new Promise((r) => setTimeout(r, 50));
      }
    }
  } finally {
    source.close();
  }
}

/** Checks that `db` now holds exactly the backup: integrity, schema version, row counts. */
function matchesBackup(db: OraDatabase, manifest: Manifest, maxProblems: number): string | null {
  const integrity = checkIntegrity(db, { full: true, maxProblems });
  if (!integrity.ok) return `integrity_check failed: ${integrity.problems[0] ?? ''}`;
  if (Number(db.pragma('user_version')) !== manifest.snapshot.userVersion)
    return 'schema version differs from the backup';
  const counts = tableRowCounts(db);
  if (JSON.stringify(counts) !== JSON.stringify(manifest.snapshot.tables)) return 'row counts differ from the backup';
  return null;
}

/**
 * Restores a verified backup (SPEC §4, invariant 4).
 *
 * Into the live database it never copies a file over it: the restored pages go in through
 * SQLite's online backup API in a single transaction on the live database. That is what makes it
 * safe with `-wal`/`-shm` files and open connections: SQLite itself applies the live WAL first, no
 * stale WAL can be replayed over the restored pages, and other processes see the old or the new
 * content, never a mix. A process holding a write transaction makes it refuse (exit 3, nothing
 * changed). A copy of the current content (with its WAL) is kept first as
 * `ora_before_restore_<ts>.db`, and if the result does not match the backup, that copy is put
 * back and verified.
 *
 * To a new path (`toNewPath`), the verified copy is renamed into place; a leftover `-wal` or
 * `-shm` beside that path is refused, since SQLite would replay it over the restored file.
 */
export async function restoreBackup(o: RestoreOptions): Promise<RestoreReport> {
  const started = performance.now();
  const target = resolve(o.target);
  const dir = dirname(target);
  const temp = join(dir, `.ora-restore-${o.manifest.id}.tmp.db`);
  if (o.toNewPath) {
    if (existsSync(target)) {
      throw new IoError(
        `--to ${o.target} already exists; restore to a new path, or restore the live database with --db`,
        'IO_ERROR',
      );
    }
    for (const companion of [`${target}-wal`, `${target}-shm`, `${target}-journal`]) {
      if (existsSync(companion)) {
        throw new IoError(
          `refusing to restore to ${o.target}: a stale ${basename(companion)} lies beside it and SQLite would replay it over the restored data; move it away first`,
          'IO_ERROR',
        );
      }
    }
    if (!existsSync(dir)) throw new IoError(`directory ${dir} does not exist; create it first`, 'IO_ERROR');
  } else {
    checkDatabaseFile(target);
  }
  removeQuietly(temp);
  try {
    await prepareVerifiedCopy(o, temp);
    if (o.toNewPath) {
      try {
        renameSync(temp, target);
        fsyncDir(dir);
      } catch (error) {
        throw ioError(error, `moving the restored database to ${target}`);
      }
      const db = openDatabase(target, { busyTimeoutMs: o.busyTimeoutMs });
      try {
        const problem = matchesBackup(db, o.manifest, o.maxProblems);
        if (problem)
          throw new RestoreFailedError(`restored ${target} does not match backup ${o.manifest.id}: ${problem}`);
        return {
          backupId: o.manifest.id,
          target,
          mode: 'new-path',
          preRestoreCopy: null,
          tables: tableRowCounts(db),
          durationMs: Math.round(performance.now() - started),
        };
      } finally {
        db.close();
      }
    }

    const live = openDatabase(target, { busyTimeoutMs: o.busyTimeoutMs });
    try {
      const preRestoreCopy = join(dir, `ora_before_restore_${timestamp()}.db`);
      try {
        closeSync(openSync(preRestoreCopy, 'wx', 0o600));
        live.run(() => live.handle.prepare('VACUUM INTO ?').run(preRestoreCopy));
      } catch (error) {
        removeQuietly(preRestoreCopy);
        throw (error as NodeJS.ErrnoException).code?.startsWith('E')
          ? ioError(error, `writing ${preRestoreCopy}`)
          : error;
      }
      await copyPagesInto(temp, live);
      live.pragma('journal_mode = WAL');
      const problem = matchesBackup(live, o.manifest, o.maxProblems);
      if (problem) {
        await copyPagesInto(preRestoreCopy, live);
        const back = checkIntegrity(live, { full: true, maxProblems: o.maxProblems });
        throw new RestoreFailedError(
          `restore of ${o.manifest.id} into ${target} did not verify (${problem}); the original was put back from ${preRestoreCopy} (integrity_check ${back.ok ? 'ok' : 'FAILED'})`,
        );
      }
      return {
        backupId: o.manifest.id,
        target,
        mode: 'live',
        preRestoreCopy,
        tables: tableRowCounts(live),
        durationMs: Math.round(performance.now() - started),
      };
    } finally {
      live.close();
    }
  } finally {
    removeQuietly(temp);
    removeQuietly(`${temp}-journal`);
  }
}
