import { chmodSync, closeSync, existsSync, openSync, readdirSync, renameSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { type OraDatabase, openDatabase, openRaw, withDatabase } from '../connection/connection.js';
import { checkDatabaseFile } from '../connection/file-checks.js';
import { translateSqliteError } from '../connection/sqlite-errors.js';
import {
  BackupInvalidError,
  DatabaseLockedError,
  IoError,
  RestoreFailedError,
  throwIfStopped,
} from '../errors/errors.js';
import {
  fileStamp,
  fsyncDir,
  fsyncFile,
  ioError,
  publishExclusively,
  removeDeadTemps,
  removeQuietly,
} from '../fs/files.js';
import { checkIntegrity } from '../integrity/integrity.js';
import type { ProgressSink } from '../progress.js';
import { quoteIdentifier } from '../sql/identifiers.js';
import { hasTable, schemaObjects } from '../sql/schema.js';
import { openCopy, tableRowCounts } from './backup.js';
import { decompressFile } from './compress.js';
import { artifactOpener } from './encryption.js';
import type { Manifest } from './manifest.js';
import type { BackupStore } from './store.js';
import { applyWalDelta, readWalIndexHeader, type WalIndexHeader } from './wal-delta.js';

/** What the restored database must hold: checked before and after the live database is touched. */
export interface ExpectedContent {
  pageSize: number;
  userVersion: number;
  /** Row count of every table. */
  tables: Record<string, number>;
}

/**
 * What a restore restores: a full backup (`backupSource`) or a restore point (`pointSource` in
 * pitr/restore-source.ts). `prepare` writes a verified copy into `temp` (a new file beside the
 * target) and says what it holds; any doubt throws BACKUP_INVALID with nothing live touched.
 */
export interface RestoreSource {
  kind: 'backup' | 'point';
  id: string;
  createdAt: string;
  /** Where it is stored, for messages. */
  location: string;
  prepare(temp: string, o: PrepareContext): Promise<ExpectedContent>;
}

export interface PrepareContext {
  maxProblems: number;
  progress?: ProgressSink | undefined;
  signal?: AbortSignal | undefined;
}

export interface RestoreOptions {
  source: RestoreSource;
  /** The database to restore into: the live one, or (`toNewPath`) a path that must not exist yet. */
  target: string;
  toNewPath: boolean;
  busyTimeoutMs: number;
  maxProblems: number;
  progress?: ProgressSink;
  /** Aborted: the restore stops before it touches the live database (or, later, rolls back). */
  signal?: AbortSignal;
  /** Where the yearly archives (`ora_archive_<year>.db`) live; default beside the database. */
  archiveDir?: string;
}

/** The options once the source's verified copy is made: what it holds. */
type Prepared = RestoreOptions & { expected: ExpectedContent };

/** Restored orders that also sit in a yearly archive (a backup taken before an archive run). */
export interface ArchivedOrders {
  /** Restored shipped_orders rows whose id is also in one of the archives. */
  count: number;
  /** The archives that hold them. */
  archives: string[];
  /** The day after the latest ship_date among them: `archive --before` this moves them again. */
  before: string | null;
  /** What to run to archive them again (idempotent), or null when there are none. */
  command: string | null;
}

export interface RestoreReport {
  /** The backup's or restore point's id. */
  backupId: string;
  kind: 'backup' | 'point';
  target: string;
  mode: 'live' | 'new-path';
  /** The copy of what was replaced (live restores only). */
  preRestoreCopy: string | null;
  /** Live restores only: how the content was written, how the copy was made, the lock's hold. */
  method?: 'pages' | 'rows';
  preRestoreCopyMethod?: 'snapshot+wal' | 'under-lock';
  lockHeldMs?: number;
  copyUnderLockMs?: number;
  tables: Record<string, number>;
  /** Live restores of an ORA database only. */
  archivedOrders?: ArchivedOrders;
  durationMs: number;
}

/**
 * Decompresses and checks a backup into `temp` (beside the target, so on its filesystem): SHA-256
 * of artifact and content against the manifest, full integrity_check, schema version and row
 * counts. Throws BACKUP_INVALID (exit 1) with the live database untouched.
 */
export function backupSource(store: BackupStore, manifest: Manifest): RestoreSource {
  return {
    kind: 'backup',
    id: manifest.id,
    createdAt: manifest.createdAt,
    location: store.location,
    prepare: (temp, o) => prepareVerifiedCopy({ ...o, store, manifest }, temp),
  };
}

async function prepareVerifiedCopy(
  o: PrepareContext & { store: BackupStore; manifest: Manifest },
  temp: string,
): Promise<ExpectedContent> {
  // The key before anything is fetched or written: a missing one is bad input (exit 2).
  const open = await artifactOpener(o.store, o.manifest);
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
      open,
    });
  } catch (error) {
    throwIfStopped(o.signal);
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOSPC' || code === 'EACCES' || code === 'EROFS') throw ioError(error, `writing ${temp}`);
    throw new BackupInvalidError(
      `backup ${o.manifest.id} does not ${open ? 'decrypt' : 'decompress'} (${(error as Error).message})${open ? '' : ': truncated or damaged'}; nothing was restored — try an older backup`,
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
    // Checked here, before the live database is touched: the page copy commits as one step.
    const problem = copyMatchesManifest(copy, o.manifest);
    if (problem) {
      throw new BackupInvalidError(
        `backup ${o.manifest.id} does not match its manifest (${problem}); nothing was restored — try an older backup`,
      );
    }
  } finally {
    copy.close();
  }
  const { pageSize, userVersion, tables } = o.manifest.snapshot;
  return { pageSize, userVersion, tables };
}

function copyMatchesManifest(db: OraDatabase, manifest: Manifest): string | null {
  if (Number(db.pragma('user_version')) !== manifest.snapshot.userVersion)
    return 'schema version differs from the backup';
  if (Number(db.pragma('page_size')) !== manifest.snapshot.pageSize) return 'page size differs from the backup';
  const counts = tableRowCounts(db);
  if (JSON.stringify(counts) !== JSON.stringify(manifest.snapshot.tables)) return 'row counts differ from the backup';
  return null;
}

/**
 * Counts the restored orders that also sit in a yearly archive beside the database (or in
 * `archiveDir`): a backup taken before an archive run brings them back. Null for a database
 * without the ORA `shipped_orders` table, or when there is no archive.
 */
function archivedOrdersIn(live: OraDatabase, target: string, archiveDir?: string): ArchivedOrders | undefined {
  const hasOrders =
    live.prepare("SELECT 1 FROM sqlite_schema WHERE type = 'table' AND name = 'shipped_orders'").get() !== undefined;
  if (!hasOrders) return undefined;
  const dir = archiveDir ? resolve(archiveDir) : dirname(target);
  let files: string[];
  try {
    files = readdirSync(dir)
      .filter((f) => /^ora_archive_\d{4}\.db$/.test(f))
      .sort();
  } catch {
    return undefined;
  }
  const result: ArchivedOrders = { count: 0, archives: [], before: null, command: null };
  let latest: string | null = null;
  for (const f of files) {
    const path = join(dir, f);
    // Opened read-only on its own connection (ATTACH takes no read-only URI here); the live
    // database is attached to it, read-only as well.
    let archive: OraDatabase;
    try {
      archive = openRaw(path, { readonly: true, busyTimeoutMs: live.busyTimeoutMs });
    } catch {
      continue; // an archive that cannot be opened is not counted
    }
    try {
      if (!hasTable(archive, 'shipped_orders')) continue;
      archive.prepare('ATTACH ? AS live').run(target);
      const row = archive
        .prepare(
          'SELECT count(*) AS n, max(o.ship_date) AS latest FROM main.shipped_orders a JOIN live.shipped_orders o ON o.id = a.id',
        )
        .get() as { n: number; latest: string | null };
      if (row.n > 0) {
        result.count += row.n;
        result.archives.push(path);
        if (row.latest && (!latest || row.latest > latest)) latest = row.latest;
      }
    } catch {
      // a damaged archive is not counted; health-check and archive report it
    } finally {
      archive.close();
    }
  }
  if (latest) {
    const next = new Date(`${latest.slice(0, 10)}T00:00:00Z`);
    if (!Number.isNaN(next.getTime())) {
      next.setUTCDate(next.getUTCDate() + 1);
      result.before = next.toISOString().slice(0, 10);
      result.command = `ora-db archive --db ${target} --before ${result.before}${archiveDir ? ` --archive-dir ${dir}` : ''}`;
    }
  }
  return result;
}

/**
 * Replaces every schema object and row of the live database (`main`) with those of the attached,
 * verified copy (`restored`), inside the caller's write transaction: other connections see the old
 * content until COMMIT, and a ROLLBACK (or a crash) leaves the old content whole.
 */
function replaceContent(db: OraDatabase): void {
  const q = quoteIdentifier;
  const isVirtual = (e: { type: string; sql: string | null }) =>
    e.type === 'table' && /^\s*CREATE\s+VIRTUAL\s+TABLE/i.test(e.sql ?? '');
  const live = schemaObjects(db);
  // Virtual tables before the others: dropping one drops its shadow tables (R*Tree's would fail
  // on shadow tables dropped first).
  for (const e of live.filter((x) => x.type === 'trigger')) db.exec(`DROP TRIGGER IF EXISTS main.${q(e.name)}`);
  for (const e of live.filter((x) => x.type === 'view')) db.exec(`DROP VIEW IF EXISTS main.${q(e.name)}`);
  for (const e of live.filter(isVirtual)) db.exec(`DROP TABLE IF EXISTS main.${q(e.name)}`);
  for (const e of live.filter((x) => x.type === 'table' && !isVirtual(x)))
    db.exec(`DROP TABLE IF EXISTS main.${q(e.name)}`);
  const has = (schema: string, name: string) => hasTable(db, name, schema);
  const restored = schemaObjects(db, 'restored');
  // A virtual table is created from its statement, which creates its shadow tables (FTS5's
  // _data, _idx, _content, …, R*Tree's _node, …); those are then filled from the copy like any
  // other table, so the index is the backup's, byte for byte, and needs no rebuild.
  for (const e of restored.filter(isVirtual)) db.exec(e.sql as string);
  for (const e of restored.filter((x) => x.type === 'table' && !isVirtual(x))) {
    // A shadow table made just above is emptied (FTS5 writes its config rows), any other created.
    if (has('main', e.name)) db.exec(`DELETE FROM main.${q(e.name)}`);
    else db.exec(e.sql as string);
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
  if (stats.some((t) => has('restored', t) && !has('main', t))) db.exec('ANALYZE main.sqlite_schema');
  for (const internal of ['sqlite_sequence', ...stats]) {
    if (!has('main', internal)) continue;
    if (has('restored', internal)) {
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
function matchesBackup(db: OraDatabase, expected: ExpectedContent, maxProblems: number): string | null {
  const integrity = checkIntegrity(db, { full: false, maxProblems });
  if (!integrity.ok) return `quick_check failed: ${integrity.problems[0] ?? ''}`;
  if (Number(db.pragma('user_version')) !== expected.userVersion) return 'schema version differs from the backup';
  const counts = tableRowCounts(db);
  if (JSON.stringify(counts) !== JSON.stringify(expected.tables)) return 'row counts differ from the backup';
  return null;
}

interface LiveResult {
  preRestoreCopy: string;
  /** `pages`: the verified copy's pages through SQLite's backup API; `rows`: table by table. */
  method: 'pages' | 'rows';
  /** How the copy of the replaced database was made current: a snapshot taken before the write
   * lock plus the WAL frames committed since, or a whole copy under the lock. */
  preRestoreCopyMethod: 'snapshot+wal' | 'under-lock';
  /** Time the live database's write lock was held, and the part of it spent on the copy. */
  lockHeldMs: number;
  copyUnderLockMs: number;
}

/**
 * Copies what `reader` (a connection to `target` other than the one holding any write
 * transaction: the backup API will not read through that one) sees to the new file `dest`, in
 * one step of the online backup API, fsynced.
 */
async function copyThrough(reader: OraDatabase, target: string, dest: string): Promise<void> {
  closeSync(openSync(dest, 'wx', 0o600));
  const copied = await reader.backupTo(dest);
  if (copied.totalPages === 0) throw new IoError(`copying ${target} to ${dest} did not start`, 'IO_ERROR');
  fsyncFile(dest);
}

/** Publishes the fsynced copy under its final name, never replacing another restore's copy. */
function publishCopy(copyTemp: string, target: string): string {
  const dir = dirname(target);
  const name = publishExclusively(copyTemp, dir, `ora_before_restore_${basename(target, '.db')}_${fileStamp()}`);
  fsyncDir(dir);
  return name;
}

function lockedError(error: DatabaseLockedError): DatabaseLockedError {
  return new DatabaseLockedError(`${error.message}; the restore was refused and the live database was not changed`, {
    cause: error,
  });
}

/**
 * The live restore, page by page: SQLite's online backup API with the verified copy as source
 * and the live database as destination. The destination connection takes the write lock, writes
 * every page as WAL frames and commits once; until that commit other connections see the old
 * content, and a failure or a crash before it leaves only uncommitted frames, which SQLite
 * ignores. Everything a database can hold (virtual tables and their shadow tables, STRICT,
 * WITHOUT ROWID, ...) comes along, since pages are copied, not rows.
 *
 * The copy of what is replaced is taken mostly before the lock: a snapshot through a read
 * transaction that stays open (so the WAL cannot be reset past it), then, once the backup's
 * first step holds the write lock, the WAL frames committed since the snapshot are added
 * (`applyWalDelta`). No commit can fall between the copy and the restore: both happen under the
 * one write lock. If the frames do not check out, the whole database is copied under the lock.
 */
async function restoreByPages(o: Prepared, target: string, temp: string, copyTemp: string): Promise<LiveResult> {
  const pageSize = o.expected.pageSize;
  // T0: a read transaction on the live database, and the wal-index header it started from.
  const snapshotReader = openRaw(target, { readonly: true });
  let readerOpen = true;
  const closeReader = () => {
    if (!readerOpen) return;
    readerOpen = false;
    if (snapshotReader.inTransaction) snapshotReader.exec('COMMIT');
    snapshotReader.close();
  };
  const copyTemps: string[] = [];
  try {
    let before: WalIndexHeader | null = null;
    // A read transaction held while the snapshot is chosen. Without it a process closing its
    // last connection (the guide's client opens one per transaction) checkpoints and deletes the
    // -wal and -shm between our reads: the header was then unreadable for 9 reads in 10 under the
    // guide's writer at 50/s, and the copy fell back to a whole copy under the lock (300 MiB:
    // a 2.0 s hold instead of about 1 s).
    const keeper = openRaw(target, { readonly: true });
    try {
      keeper.exec('BEGIN');
      keeper.value('SELECT count(*) FROM sqlite_schema');
      let unreadable = 0;
      for (let attempt = 0; attempt < 50 && !before; attempt++) {
        if (snapshotReader.inTransaction) snapshotReader.exec('COMMIT');
        const a = readWalIndexHeader(target);
        // Not readable: a header being written (its two copies differ), or no head(1) or wal-index
        // at all, after which the copy is taken whole, under the lock.
        if (!a) {
          if (++unreadable >= 5) break;
          continue;
        }
        snapshotReader.exec('BEGIN');
        snapshotReader.value('SELECT count(*) FROM sqlite_schema');
        const b = readWalIndexHeader(target);
        // Unchanged across the start of the read transaction: that is the snapshot it reads.
        if (b && a.raw.equals(b.raw)) before = a;
      }
    } finally {
      if (keeper.inTransaction) keeper.exec('COMMIT');
      keeper.close();
    }
    let snapshotCopied = false;
    if (before) {
      copyTemps.push(copyTemp);
      await copyThrough(snapshotReader, target, copyTemp);
      snapshotCopied = true;
    }

    const source = openRaw(temp, { readonly: true });
    try {
      const deadline = performance.now() + o.busyTimeoutMs;
      let lockedAt = 0;
      let copyUnderLockMs = 0;
      let preRestoreCopy = '';
      let method: LiveResult['preRestoreCopyMethod'] = 'under-lock';
      let underLockError: unknown = null;
      const underLock = (): number => {
        // The first step holds the live database's write lock and has written nothing yet.
        lockedAt = performance.now();
        try {
          const after = snapshotCopied && before ? readWalIndexHeader(target) : null;
          const delta = after && before ? applyWalDelta(target, copyTemp, pageSize, before, after) : null;
          closeReader();
          let published = copyTemp;
          if (delta) {
            method = 'snapshot+wal';
          } else {
            // The whole database, as it is under our lock (VACUUM INTO: one synchronous call).
            published = `${copyTemp}.whole`;
            copyTemps.push(published);
            withDatabase(openRaw(target, { readonly: true }), (reader) =>
              reader.prepare('VACUUM INTO ?').run(published),
            );
            chmodSync(published, 0o600);
            fsyncFile(published);
          }
          preRestoreCopy = publishCopy(published, target);
          o.progress?.phase?.('replace content');
          copyUnderLockMs = Math.round(performance.now() - lockedAt);
        } catch (error) {
          underLockError = error;
          throw error;
        }
        return 2_147_483_647; // then every page in one step, and the commit
      };
      for (;;) {
        try {
          const r = await source.backupTo(target, lockedAt ? () => 2_147_483_647 : underLock);
          if (r.totalPages > 0 && r.remainingPages === 0 && lockedAt) {
            const lockHeldMs = Math.round(performance.now() - lockedAt);
            return { preRestoreCopy, method: 'pages', preRestoreCopyMethod: method, lockHeldMs, copyUnderLockMs };
          }
        } catch (error) {
          if (underLockError) {
            const e = underLockError;
            throw (e as NodeJS.ErrnoException).code?.startsWith('E')
              ? ioError(e, `writing the copy of ${target}`)
              : translateSqliteError(e, target, o.busyTimeoutMs);
          }
          const translated = translateSqliteError(error, target, o.busyTimeoutMs);
          if (translated instanceof DatabaseLockedError) throw lockedError(translated);
          throw translated;
        }
        if (lockedAt) throw new RestoreFailedError(`the page copy into ${target} ended early; nothing was restored`);
        // SQLITE_BUSY on the first step (another process holds the write lock): nothing was
        // written; wait a little, as a busy timeout would.
        if (performance.now() > deadline) {
          throw lockedError(
            new DatabaseLockedError(
              `database is locked by another process: ${target} (waited ${o.busyTimeoutMs} ms); retry later, raise ORA_BUSY_TIMEOUT_MS, or see who holds it with 'fuser -v ${target}*'`,
            ),
          );
        }
        await new Promise((r) => setTimeout(r, 5));
      }
    } finally {
      source.close();
    }
  } finally {
    closeReader();
    for (const t of copyTemps) removeQuietly(t);
  }
}

/**
 * The live restore, row by row: one `BEGIN IMMEDIATE` on the live database, a copy of the current
 * content under that lock, every table, index, view and trigger replaced from the attached
 * verified copy, checked, then COMMIT. Used when the live database is in a rollback-journal mode
 * (DELETE, TRUNCATE, PERSIST: the page copy builds its copy of what it replaces from WAL frames)
 * or its page size differs from the backup's. Virtual tables come back with their shadow
 * tables' rows, written directly (`allowShadowTableWrites`).
 */
async function restoreByRows(
  o: Prepared,
  live: OraDatabase,
  target: string,
  temp: string,
  copyTemp: string,
): Promise<LiveResult> {
  let preRestoreCopy = '';
  const db = live;
  let committed = false;
  try {
    live.run(() => db.prepare('ATTACH ? AS restored').run(temp));
    // Foreign keys are checked row by row otherwise; the verified copy is consistent as a whole.
    db.pragma('foreign_keys = OFF');
    // One write transaction from the copy of the old content to the verified new content: no
    // other process can commit in between, so the copy holds exactly what is replaced.
    try {
      live.run(() => db.exec('BEGIN IMMEDIATE'));
    } catch (error) {
      if (!(error instanceof DatabaseLockedError)) throw error;
      throw lockedError(error);
    }
    const lockedAt = performance.now();
    let copyUnderLockMs = 0;
    try {
      // Written under a temp name and renamed once complete: a run killed half-way leaves no
      // file that could pass for the copy.
      // Read through a second connection: under our write lock it sees the last commit.
      const reader = openRaw(target, { readonly: true });
      try {
        await copyThrough(reader, target, copyTemp);
      } finally {
        reader.close();
      }
      preRestoreCopy = publishCopy(copyTemp, target);
      copyUnderLockMs = Math.round(performance.now() - lockedAt);
    } catch (error) {
      removeQuietly(copyTemp);
      throw (error as NodeJS.ErrnoException).code?.startsWith('E')
        ? ioError(error, `writing the copy of ${target}`)
        : translateSqliteError(error, target, o.busyTimeoutMs);
    }
    o.progress?.phase?.('replace content');
    db.allowShadowTableWrites(true);
    try {
      live.run(() => replaceContent(db));
    } finally {
      db.allowShadowTableWrites(false);
    }
    o.progress?.phase?.('check');
    const problem = matchesBackup(live, o.expected, o.maxProblems);
    if (problem) {
      throw new RestoreFailedError(
        `restore of ${o.source.id} into ${target} did not verify (${problem}); it was rolled back and the live database is unchanged (a copy is in ${preRestoreCopy})`,
      );
    }
    live.run(() => db.exec('COMMIT'));
    committed = true;
    db.pragma('foreign_keys = ON');
    return {
      preRestoreCopy,
      method: 'rows',
      preRestoreCopyMethod: 'under-lock',
      lockHeldMs: Math.round(performance.now() - lockedAt),
      copyUnderLockMs,
    };
  } finally {
    if (!committed && db.inTransaction) db.exec('ROLLBACK');
    try {
      db.exec('DETACH restored');
    } catch {
      // never attached
    }
  }
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
  const temp = join(dir, `.ora-restore-${process.pid}-${o.source.id}.tmp.db`);
  const copyTemp = join(dir, `.ora-restore-${process.pid}-before.tmp.db`);
  checkTarget(o, target);
  // Only once the request is accepted: what killed runs left (this pid's earlier runs included).
  removeDeadTemps(dir, 'ora-restore');
  try {
    o.progress?.phase?.('fetch');
    const expected = await o.source.prepare(temp, o);
    // Written back to disk now, outside any lock: otherwise its pages are still dirty when the
    // live restore writes the WAL under the write lock, and the kernel throttles those writes.
    try {
      fsyncFile(temp);
    } catch (error) {
      throw ioError(error, `writing ${temp}`);
    }
    throwIfStopped(o.signal);
    const p: Prepared = { ...o, expected };
    const base = { backupId: o.source.id, kind: o.source.kind, target };
    if (o.toNewPath) {
      const { tables } = moveToNewPath(p, temp, target);
      return {
        ...base,
        mode: 'new-path',
        preRestoreCopy: null,
        tables,
        durationMs: Math.round(performance.now() - started),
      };
    }
    const r = await restoreIntoLive(p, temp, target, copyTemp);
    return { ...base, mode: 'live', ...r, durationMs: Math.round(performance.now() - started) };
  } finally {
    removeQuietly(temp);
    removeQuietly(`${temp}-journal`);
  }
}

/**
 * Refuses (before anything is written) a live target that is not a database, and a new path that
 * exists, has a stale `-wal`/`-shm`/`-journal` beside it (SQLite would replay it over the
 * restored file) or lies in a missing directory.
 */
function checkTarget(o: RestoreOptions, target: string): void {
  if (!o.toNewPath) {
    checkDatabaseFile(target);
    return;
  }
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
  const dir = dirname(target);
  if (!existsSync(dir)) throw new IoError(`directory ${dir} does not exist; create it first`, 'IO_ERROR');
}

/** To a new path: the verified copy is renamed into place, then checked against the manifest. */
function moveToNewPath(o: Prepared, temp: string, target: string): { tables: Record<string, number> } {
  try {
    renameSync(temp, target);
    fsyncDir(dirname(target));
  } catch (error) {
    throw ioError(error, `moving the restored database to ${target}`);
  }
  const db = openDatabase(target, { busyTimeoutMs: o.busyTimeoutMs });
  try {
    const problem = matchesBackup(db, o.expected, o.maxProblems);
    if (problem) throw new RestoreFailedError(`restored ${target} does not match backup ${o.source.id}: ${problem}`);
    return { tables: tableRowCounts(db) };
  } finally {
    db.close();
  }
}

/**
 * Into the live database: page by page when the page size matches and the database is in WAL
 * mode, row by row otherwise; then, after a page copy, made durable and checked.
 */
async function restoreIntoLive(
  o: Prepared,
  temp: string,
  target: string,
  copyTemp: string,
): Promise<LiveResult & { tables: Record<string, number>; archivedOrders: ArchivedOrders | undefined }> {
  // ATTACH and the backup API would create an empty file if the verified copy were gone.
  if (!existsSync(temp)) throw new IoError(`the verified copy ${temp} disappeared; nothing was restored`, 'IO_ERROR');
  const live = openDatabase(target, { busyTimeoutMs: o.busyTimeoutMs });
  try {
    // The last safe point: from here on the restore is one write transaction on the live database.
    throwIfStopped(o.signal);
    o.progress?.phase?.('copy current content');
    const samePageSize = Number(live.pragma('page_size')) === o.expected.pageSize;
    const walMode = String(live.pragma('journal_mode')).toLowerCase() === 'wal';
    const r =
      samePageSize && walMode
        ? await restoreByPages(o, target, temp, copyTemp)
        : await restoreByRows(o, live, target, temp, copyTemp);
    if (r.method === 'pages') confirmPageRestore(o, live, target, r.preRestoreCopy);
    return { ...r, tables: tableRowCounts(live), archivedOrders: archivedOrdersIn(live, target, o.archiveDir) };
  } finally {
    live.close();
  }
}

/**
 * After a page copy: the commit went to the WAL without an fsync (synchronous=NORMAL), so it is
 * made durable before the restore says so. A passive checkpoint copies it into the database file
 * (fsyncing the WAL first) without holding writers off, and the WAL is fsynced in any case. Then
 * quick_check: the verified copy was checked (integrity, counts, schema version) before; this
 * checks the structure SQLite wrote. Counts cannot be compared now: writers commit right after.
 */
function confirmPageRestore(o: Prepared, live: OraDatabase, target: string, preRestoreCopy: string): void {
  live.pragma('wal_checkpoint(PASSIVE)');
  fsyncFile(`${target}-wal`);
  o.progress?.phase?.('check');
  const integrity = checkIntegrity(live, { full: false, maxProblems: o.maxProblems });
  if (!integrity.ok) {
    throw new RestoreFailedError(
      `restore of ${o.source.id} into ${target} was committed but does not verify (quick_check failed: ${integrity.problems[0] ?? ''}); the replaced database is kept as ${preRestoreCopy}; stop the writers and run 'ora-db health-check --full'`,
    );
  }
}
