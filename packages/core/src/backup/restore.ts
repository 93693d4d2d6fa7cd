import { closeSync, existsSync, openSync, renameSync, unlinkSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import Database from 'better-sqlite3';
import { type OraDatabase, openDatabase } from '../connection/connection.js';
import { checkDatabaseFile } from '../connection/file-checks.js';
import { translateSqliteError } from '../connection/sqlite-errors.js';
import {
  BackupInvalidError,
  DatabaseLockedError,
  IoError,
  RestoreFailedError,
  throwIfStopped,
} from '../errors/errors.js';
import { quoteIdentifier } from '../metrics/table-stats.js';
import type { ProgressSink } from '../progress.js';
import { checkIntegrity } from '../stats/integrity.js';
import { openCopy, tableRowCounts } from './backup.js';
import { decompressFile } from './compress.js';
import { fsyncDir, fsyncFile, ioError, publishExclusively, removeDeadTemps } from './files.js';
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
  progress?: ProgressSink;
  /** Aborted: the restore stops before it touches the live database (or, later, rolls back). */
  signal?: AbortSignal;
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
  return d.toISOString().replace(/[-:.]/g, '').replace('T', '_').slice(0, 18); // to the millisecond
}

/**
 * Decompresses and checks a backup into `temp` (beside the target, so on its filesystem): SHA-256
 * of artifact and content against the manifest, full integrity_check, schema version and row
 * counts. Throws BACKUP_INVALID (exit 1) with the live database untouched.
 */
async function prepareVerifiedCopy(o: RestoreOptions, temp: string): Promise<void> {
  o.progress?.phase?.('fetch');
  const fetched = await o.store.fetchArtifact(o.manifest);
  if (!fetched) {
    throw new BackupInvalidError(
      `backup ${o.manifest.id} has no artifact (${o.manifest.artifact.file} is missing in ${o.store.location}); nothing was restored`,
    );
  }
  let sums: Awaited<ReturnType<typeof decompressFile>>;
  try {
    o.progress?.phase?.('decompress');
    sums = await decompressFile(fetched.path, temp, o.manifest.artifact.compression, {
      onProgress: (done) => o.progress?.update(done, o.manifest.snapshot.bytes, 'bytes'),
      ...(o.signal ? { signal: o.signal } : {}),
    });
  } catch (error) {
    throwIfStopped(o.signal);
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
  throwIfStopped(o.signal);
  o.progress?.phase?.('integrity_check');
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

/**
 * Replaces every schema object and row of the live database (`main`) with those of the attached,
 * verified copy (`restored`), inside the caller's write transaction: other connections see the old
 * content until COMMIT, and a ROLLBACK (or a crash) leaves the old content whole.
 */
function replaceContent(db: Database.Database): void {
  type Entry = { type: string; name: string; tbl_name: string; sql: string | null };
  const schema = (s: string) =>
    db
      .prepare(
        `SELECT type, name, tbl_name, sql FROM ${s}.sqlite_schema WHERE name NOT LIKE 'sqlite\\_%' ESCAPE '\\' ORDER BY rowid`,
      )
      .all() as Entry[];
  const restored = schema('restored');
  if (restored.some((e) => /^\s*CREATE\s+VIRTUAL\s+TABLE/i.test(e.sql ?? ''))) {
    throw new RestoreFailedError(
      'the backup holds a virtual table, which cannot be restored into the live database in one transaction; restore it --to a new path instead',
    );
  }
  const q = quoteIdentifier;
  const live = schema('main');
  for (const type of ['trigger', 'view', 'table'] as const) {
    for (const e of live.filter((x) => x.type === type))
      db.exec(`DROP ${type.toUpperCase()} IF EXISTS main.${q(e.name)}`);
  }
  const hasTable = (s: string, name: string) =>
    db.prepare(`SELECT 1 FROM ${s}.sqlite_schema WHERE type = 'table' AND name = ?`).get(name) !== undefined;
  for (const e of restored.filter((x) => x.type === 'table')) {
    db.exec(e.sql as string);
    const columns = (
      db.prepare(`SELECT name, hidden FROM pragma_table_xinfo(?, 'restored')`).all(e.name) as {
        name: string;
        hidden: number;
      }[]
    )
      .filter((c) => c.hidden === 0)
      .map((c) => q(c.name));
    const withoutRowid =
      (db.prepare("SELECT wr FROM pragma_table_list(?) WHERE schema = 'restored'").pluck().get(e.name) as
        | number
        | undefined) === 1;
    const list = withoutRowid ? columns.join(', ') : ['rowid', ...columns].join(', ');
    db.exec(`INSERT INTO main.${q(e.name)} (${list}) SELECT ${list} FROM restored.${q(e.name)}`);
  }
  // AUTOINCREMENT counters and ANALYZE statistics travel with the rows. The statistics tables can
  // be created (by ANALYZE) and dropped; sqlite_sequence exists whenever an AUTOINCREMENT table does.
  const stats = ['sqlite_stat1', 'sqlite_stat4'];
  if (stats.some((t) => hasTable('restored', t) && !hasTable('main', t))) db.exec('ANALYZE main.sqlite_schema');
  for (const internal of ['sqlite_sequence', ...stats]) {
    if (!hasTable('main', internal)) continue;
    if (hasTable('restored', internal)) {
      db.exec(`DELETE FROM main.${internal}`);
      db.exec(`INSERT INTO main.${internal} SELECT * FROM restored.${internal}`);
    } else if (internal === 'sqlite_sequence') {
      db.exec('DELETE FROM main.sqlite_sequence');
    } else {
      db.exec(`DROP TABLE main.${internal}`);
    }
  }
  for (const type of ['index', 'view', 'trigger'] as const) {
    for (const e of restored.filter((x) => x.type === type && x.sql)) db.exec(e.sql as string);
  }
  const version = db.prepare('PRAGMA restored.user_version').pluck().get() as number;
  db.pragma(`main.user_version = ${Number(version)}`);
}

/**
 * Checks that `db` now holds exactly the backup: quick_check (the copy passed the full
 * integrity_check before; this runs while writers wait), schema version, row counts.
 */
function matchesBackup(db: OraDatabase, manifest: Manifest, maxProblems: number): string | null {
  const integrity = checkIntegrity(db, { full: false, maxProblems });
  if (!integrity.ok) return `quick_check failed: ${integrity.problems[0] ?? ''}`;
  if (Number(db.pragma('user_version')) !== manifest.snapshot.userVersion)
    return 'schema version differs from the backup';
  const counts = tableRowCounts(db);
  if (JSON.stringify(counts) !== JSON.stringify(manifest.snapshot.tables)) return 'row counts differ from the backup';
  return null;
}

/**
 * Restores a verified backup (SPEC §4, invariant 4).
 *
 * Into the live database it never copies a file over it. It takes the write lock on the live
 * database (`BEGIN IMMEDIATE`, waiting up to the busy timeout), copies the current content to
 * `ora_before_restore_<ts>.db` through the online backup API under that same lock, replaces every
 * table, index, view and trigger with the verified copy's, checks the result against the manifest
 * (integrity_check, schema version, row counts), and only then commits. So no other process can
 * commit between the copy and the restore (the copy holds exactly what was replaced), readers see
 * the old or the new content and never a mix, the live `-wal`/`-shm` stay SQLite's to manage, and
 * a failure or a crash anywhere before COMMIT leaves the live database as it was. Writers wait
 * (up to their own busy timeout) while it runs.
 *
 * To a new path (`toNewPath`), the verified copy is renamed into place; a leftover `-wal` or
 * `-shm` beside that path is refused, since SQLite would replay it over the restored file.
 */
export async function restoreBackup(o: RestoreOptions): Promise<RestoreReport> {
  const started = performance.now();
  const target = resolve(o.target);
  const dir = dirname(target);
  // Temp names carry the pid: restores of other databases in this directory hold other job locks
  // and must not meet them.
  const temp = join(dir, `.ora-restore-${process.pid}-${o.manifest.id}.tmp.db`);
  const copyTemp = join(dir, `.ora-restore-${process.pid}-before.tmp.db`);
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
  // Only once the request is accepted: what killed runs left (this pid's earlier runs included).
  removeDeadTemps(dir, 'ora-restore');
  try {
    await prepareVerifiedCopy(o, temp);
    throwIfStopped(o.signal);
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
    let preRestoreCopy = '';
    const db = live.handle;
    let committed = false;
    try {
      // ATTACH would create an empty file if the verified copy were gone: make sure it is there.
      if (!existsSync(temp))
        throw new IoError(`the verified copy ${temp} disappeared; nothing was restored`, 'IO_ERROR');
      // The last safe point: from here on the restore is one write transaction on the live database.
      throwIfStopped(o.signal);
      o.progress?.phase?.('copy current content');
      live.run(() => db.prepare('ATTACH ? AS restored').run(temp));
      // Foreign keys are checked row by row otherwise; the verified copy is consistent as a whole.
      db.pragma('foreign_keys = OFF');
      // One write transaction from the copy of the old content to the verified new content: no
      // other process can commit in between, so the copy holds exactly what is replaced.
      try {
        live.run(() => db.exec('BEGIN IMMEDIATE'));
      } catch (error) {
        if (!(error instanceof DatabaseLockedError)) throw error;
        throw new DatabaseLockedError(
          `${error.message}; the restore was refused and the live database was not changed`,
          {
            cause: error,
          },
        );
      }
      try {
        // Written under a temp name and renamed once complete: a run killed half-way leaves no
        // file that could pass for the copy.
        closeSync(openSync(copyTemp, 'wx', 0o600));
        // Read through a second connection: a reader under our write lock sees the last committed
        // content and nobody can change it before the restore commits (the backup API will not
        // read through the connection that holds the write transaction).
        const reader = new Database(target, { readonly: true, fileMustExist: true });
        try {
          const copied = await reader.backup(copyTemp, { progress: () => 2_147_483_647 });
          if (copied.totalPages === 0) throw new IoError(`copying ${target} to ${copyTemp} did not start`, 'IO_ERROR');
        } finally {
          reader.close();
        }
        fsyncFile(copyTemp);
        // Named after the database, and published without replacing anything: two restores in
        // one directory (of two databases, or one after the other) each keep their own copy.
        preRestoreCopy = publishExclusively(
          copyTemp,
          dir,
          `ora_before_restore_${basename(target, '.db')}_${timestamp()}`,
        );
        fsyncDir(dir);
      } catch (error) {
        removeQuietly(copyTemp);
        throw (error as NodeJS.ErrnoException).code?.startsWith('E')
          ? ioError(error, `writing ${preRestoreCopy}`)
          : translateSqliteError(error, preRestoreCopy, o.busyTimeoutMs);
      }
      o.progress?.phase?.('replace content');
      live.run(() => replaceContent(db));
      o.progress?.phase?.('check');
      const problem = matchesBackup(live, o.manifest, o.maxProblems);
      if (problem) {
        throw new RestoreFailedError(
          `restore of ${o.manifest.id} into ${target} did not verify (${problem}); it was rolled back and the live database is unchanged (a copy is in ${preRestoreCopy})`,
        );
      }
      live.run(() => db.exec('COMMIT'));
      committed = true;
      return {
        backupId: o.manifest.id,
        target,
        mode: 'live',
        preRestoreCopy,
        tables: tableRowCounts(live),
        durationMs: Math.round(performance.now() - started),
      };
    } finally {
      if (!committed && db.inTransaction) db.exec('ROLLBACK');
      try {
        db.exec('DETACH restored');
      } catch {
        // never attached
      }
      live.close();
    }
  } finally {
    removeQuietly(temp);
    removeQuietly(`${temp}-journal`);
  }
}
