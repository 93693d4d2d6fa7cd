import { closeSync, openSync, readSync } from 'node:fs';
import { endianness } from 'node:os';
import { type OraDatabase, openDatabase, openRaw } from '../connection/connection.js';
import { BackupInvalidError } from '../errors/errors.js';

/**
 * Reads every page of one consistent snapshot of a live database, holding only a read
 * transaction (writers go on committing; in WAL mode nothing waits for us).
 *
 * How: a read transaction pins a snapshot — the WAL frames up to its `mxFrame` plus the database
 * file. Its `mxFrame` is read from the wal-index header (the -shm file) just before and just
 * after the transaction starts; equal headers (same salts, so the same WAL generation, whose
 * `mxFrame` only grows) mean the snapshot is exactly that header's. While the transaction stays
 * open SQLite guarantees (wal.c): the WAL is not restarted under a reader that uses it; a
 * checkpoint copies no frame past the oldest reader's `mxFrame`, so a page without a frame in
 * 1..mxFrame stays as it is in the database file; and a reader that ignores the WAL because it
 * was fully checkpointed (`nBackfill == mxFrame`, read mark 0) blocks any further checkpoint. So
 * each page is read from its newest frame ≤ mxFrame when it has one, else from the database file
 * — unless everything was checkpointed, when the file alone is the snapshot.
 *
 * A database in a rollback-journal mode is read under the transaction's shared lock (writers
 * wait for the read, as they would for any reader in that mode).
 *
 * POSIX locks: closing any descriptor of a file drops every lock the process holds on it,
 * SQLite's included. So the descriptors opened here are closed only after the connection is.
 * The caller must not hold another connection of this process to the same database in a
 * transaction meanwhile.
 *
 * Formats: https://www.sqlite.org/fileformat2.html#walformat (WAL, big-endian) and the
 * wal-index (native byte order: two 48-byte header copies, then nBackfill at byte 96).
 */

export interface SnapshotInfo {
  pageSize: number;
  pageCount: number;
  userVersion: number;
  journalMode: string;
  /** The snapshot's last WAL frame (0: the database file alone). */
  mxFrame: number;
  /** Pages read from the WAL rather than the database file. */
  walPages: number;
  /** Tries until the wal-index header stood still around the transaction's start. */
  attempts: number;
}

const LE = endianness() === 'LE';

interface ShmState {
  raw: Buffer;
  mxFrame: number;
  nPage: number;
  salt: Buffer;
  nBackfill: number;
}

function readShm(fd: number): ShmState | null {
  const buf = Buffer.alloc(100);
  if (readSync(fd, buf, 0, 100, 0) !== 100) return null;
  const a = buf.subarray(0, 48);
  if (!a.equals(buf.subarray(48, 96))) return null; // a write in progress
  const u32 = (b: Buffer, o: number) => (LE ? b.readUInt32LE(o) : b.readUInt32BE(o));
  if (u32(a, 0) !== 3007000 || a[12] !== 1) return null;
  return {
    raw: Buffer.from(a),
    mxFrame: u32(a, 16),
    nPage: u32(a, 20),
    salt: Buffer.from(a.subarray(32, 40)),
    nBackfill: u32(buf, 96),
  };
}

function readFully(fd: number, buf: Buffer, offset: number): number {
  let done = 0;
  while (done < buf.length) {
    const n = readSync(fd, buf, done, buf.length - done, offset + done);
    if (n === 0) break;
    done += n;
  }
  return done;
}

/** Pages read (and handed to `onBatch`) at a time. */
export const BATCH_PAGES = 256;

/** What a point reads its pages through: one connection (and the files' descriptors), opened once. */
export interface SnapshotSource {
  /**
   * Calls `onPage(pgno, page)` for pages 1..pageCount of one consistent snapshot, in order (the
   * buffer is reused: copy what you keep). `onBatch(firstPgno, pages, pageSize, pageCount)`, when
   * given, is called first with each batch of up to BATCH_PAGES consecutive pages as they are in
   * the snapshot (WAL frames applied), `pageCount` being the snapshot's. Returns what it read.
   * The read transaction ends when it returns; the connection stays open until `close()`.
   */
  read(
    onPage: (pgno: number, page: Buffer) => void,
    onBatch?: (firstPgno: number, pages: Buffer, pageSize: number, pageCount: number) => void,
  ): SnapshotInfo;
  /**
   * In WAL mode, copies what the WAL holds into the database file (a PASSIVE checkpoint: it takes
   * no write lock and waits for nobody) from a second connection, while this one is still open.
   * The frames written while the snapshot was read are then copied by us, not by the next writer
   * whose connection is the last to close (SQLite checkpoints on the last close). Best effort: a
   * database it cannot open read-write, or a checkpoint another connection is running, is left to
   * SQLite's own checkpoints. Returns the WAL's frames and how many of them the database file
   * now holds (all, unless a reader still needs older pages), or null when it did not run.
   */
  checkpoint(): { walFrames: number; copied: number } | null;
  close(): void;
}

/**
 * Opens `dbPath` for a snapshot (read-only). A point opens it as soon as it holds its locks and
 * closes it last: while a connection of ours is open, the guide's client — a connection per
 * transaction — no longer checkpoints (and fsyncs) at every commit, its close no longer being the
 * last one.
 */
export function openSnapshotSource(dbPath: string, options: { busyTimeoutMs?: number } = {}): SnapshotSource {
  const fds: number[] = [];
  const open = (path: string) => {
    const fd = openSync(path, 'r');
    fds.push(fd);
    return fd;
  };
  // The file's descriptor first: the connection then opens the same file or a newer one, never
  // an older one than the descriptor reads (the caller holds the job lock: no swap is expected).
  const dbFd = open(dbPath);
  let db: OraDatabase;
  try {
    db = openDatabase(dbPath, {
      readonly: true,
      ...(options.busyTimeoutMs !== undefined ? { busyTimeoutMs: options.busyTimeoutMs } : {}),
    });
  } catch (error) {
    closeSync(dbFd);
    throw error;
  }
  let wal = false;
  let shmFd: number | undefined;
  try {
    wal = String(db.pragma('journal_mode')).toLowerCase() === 'wal';
    if (wal) shmFd = open(`${dbPath}-shm`); // the connection's first read (in openDatabase) made it
  } catch (error) {
    db.close();
    for (const fd of fds) closeSync(fd);
    throw error;
  }
  let used = false;
  return {
    read: (onPage, onBatch) => {
      if (used) throw new Error('a snapshot source reads one snapshot');
      used = true;
      return readSnapshot(db, dbPath, dbFd, shmFd, open, onPage, onBatch);
    },
    checkpoint: () => {
      if (!wal || !db.isOpen) return null;
      let rw: OraDatabase;
      try {
        // openRaw: openDatabase's file check opens and closes a descriptor of the database,
        // which would drop this process's locks on it (POSIX), the open connection's included.
        rw = openRaw(dbPath, { busyTimeoutMs: 0 });
      } catch {
        return null;
      }
      try {
        const [row] = rw.pragmaRows<{ busy: number; log: number; checkpointed: number }>('wal_checkpoint(PASSIVE)');
        return row && row.busy === 0 && row.log >= 0
          ? { walFrames: Number(row.log), copied: Number(row.checkpointed) }
          : null;
      } catch {
        return null;
      } finally {
        rw.close();
      }
    },
    close: () => {
      // POSIX locks: the connection first, then the descriptors (see the top of this file).
      try {
        db.close();
      } finally {
        for (const fd of fds.splice(0)) closeSync(fd);
      }
    },
  };
}

/**
 * Calls `onPage(pgno, page)` for pages 1..pageCount of one consistent snapshot of `dbPath` (see
 * SnapshotSource.read), through a source opened and closed here.
 */
export function readSnapshotPages(
  dbPath: string,
  onPage: (pgno: number, page: Buffer) => void,
  options: {
    busyTimeoutMs?: number;
    onBatch?: (firstPgno: number, pages: Buffer, pageSize: number, pageCount: number) => void;
  } = {},
): SnapshotInfo {
  const source = openSnapshotSource(dbPath, options);
  try {
    return source.read(onPage, options.onBatch);
  } finally {
    source.close();
  }
}

function readSnapshot(
  db: OraDatabase,
  dbPath: string,
  dbFd: number,
  shmFd: number | undefined,
  open: (path: string) => number,
  onPage: (pgno: number, page: Buffer) => void,
  onBatch: ((firstPgno: number, pages: Buffer, pageSize: number, pageCount: number) => void) | undefined,
): SnapshotInfo {
  const journalMode = String(db.pragma('journal_mode')).toLowerCase();
  if ((journalMode === 'wal') !== (shmFd !== undefined)) {
    throw new BackupInvalidError(`snapshot of ${dbPath}: its journal mode changed to ${journalMode} while it was open`);
  }
  let shm: ShmState | null = null;
  let attempts = 0;
  try {
    if (shmFd !== undefined) {
      for (;;) {
        attempts++;
        const before = readShm(shmFd);
        db.exec('BEGIN');
        db.value('SELECT count(*) FROM sqlite_schema'); // starts the read transaction
        const after = readShm(shmFd);
        if (before && after && before.raw.equals(after.raw)) {
          shm = after;
          break;
        }
        db.exec('ROLLBACK');
        if (attempts >= 1000)
          throw new BackupInvalidError(`the wal-index of ${dbPath} never stood still for a snapshot`);
      }
    } else {
      db.exec('BEGIN');
      db.value('SELECT count(*) FROM sqlite_schema');
      attempts = 1;
    }
    const pageSize = Number(db.pragma('page_size'));
    const pageCount = Number(db.pragma('page_count'));
    const userVersion = Number(db.pragma('user_version'));
    // Newest frame ≤ mxFrame of each page in the WAL, unless the file alone is the snapshot.
    const frameOf = new Map<number, number>();
    let walFd: number | undefined;
    const mxFrame = shm && shm.nBackfill < shm.mxFrame ? shm.mxFrame : 0;
    if (shm && mxFrame > 0) {
      if (shm.nPage !== pageCount) {
        throw new BackupInvalidError(`snapshot of ${dbPath}: wal-index says ${shm.nPage} pages, SQLite ${pageCount}`);
      }
      walFd = open(`${dbPath}-wal`);
      const walHeader = Buffer.alloc(32);
      if (readFully(walFd, walHeader, 0) !== 32 || walHeader.readUInt32BE(8) !== pageSize) {
        throw new BackupInvalidError(`snapshot of ${dbPath}: the WAL header does not match the database`);
      }
      if (!walHeader.subarray(16, 24).equals(shm.salt)) {
        throw new BackupInvalidError(`snapshot of ${dbPath}: the WAL's salts are not the wal-index's`);
      }
      const frameBytes = 24 + pageSize;
      const head = Buffer.alloc(24);
      for (let i = 1; i <= mxFrame; i++) {
        if (readFully(walFd, head, 32 + (i - 1) * frameBytes) !== 24 || !head.subarray(8, 16).equals(shm.salt)) {
          throw new BackupInvalidError(`snapshot of ${dbPath}: WAL frame ${i} is not of this generation`);
        }
        frameOf.set(head.readUInt32BE(0), 32 + (i - 1) * frameBytes + 24);
      }
    }
    const batch = Buffer.alloc(BATCH_PAGES * pageSize);
    for (let first = 1; first <= pageCount; first += BATCH_PAGES) {
      const n = Math.min(BATCH_PAGES, pageCount - first + 1);
      const view = batch.subarray(0, n * pageSize);
      const got = readFully(dbFd, view, (first - 1) * pageSize);
      for (let k = 0; k < n; k++) {
        const pgno = first + k;
        const offset = frameOf.get(pgno);
        if (offset !== undefined && walFd !== undefined) {
          if (readFully(walFd, view.subarray(k * pageSize, (k + 1) * pageSize), offset) !== pageSize) {
            throw new BackupInvalidError(`snapshot of ${dbPath}: WAL frame of page ${pgno} is short`);
          }
        } else if (got < (k + 1) * pageSize) {
          throw new BackupInvalidError(`snapshot of ${dbPath}: page ${pgno} is neither in the file nor in the WAL`);
        }
      }
      onBatch?.(first, view, pageSize, pageCount);
      for (let k = 0; k < n; k++) onPage(first + k, view.subarray(k * pageSize, (k + 1) * pageSize));
    }
    db.exec('COMMIT');
    return { pageSize, pageCount, userVersion, journalMode, mxFrame, walPages: frameOf.size, attempts };
  } finally {
    if (db.inTransaction) {
      try {
        db.exec('ROLLBACK');
      } catch {
        // a read transaction that cannot be rolled back ends when the connection closes
      }
    }
  }
}
