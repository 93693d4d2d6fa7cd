import { closeSync, openSync, readSync } from 'node:fs';
import { endianness } from 'node:os';
import { type OraDatabase, openDatabase } from '../connection/connection.js';
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

/**
 * Calls `onPage(pgno, page)` for pages 1..pageCount of one consistent snapshot of `dbPath`, in
 * order (the buffer is reused: copy what you keep). `onBatch(firstPgno, pages, pageSize, pageCount)`,
 * when given, is called first with each batch of up to BATCH_PAGES consecutive pages as they are in
 * the snapshot (WAL frames applied), `pageCount` being the snapshot's. Returns what it read.
 */
export function readSnapshotPages(
  dbPath: string,
  onPage: (pgno: number, page: Buffer) => void,
  options: {
    busyTimeoutMs?: number;
    onBatch?: (firstPgno: number, pages: Buffer, pageSize: number, pageCount: number) => void;
  } = {},
): SnapshotInfo {
  const db: OraDatabase = openDatabase(dbPath, {
    readonly: true,
    ...(options.busyTimeoutMs !== undefined ? { busyTimeoutMs: options.busyTimeoutMs } : {}),
  });
  const fds: number[] = [];
  const open = (path: string) => {
    const fd = openSync(path, 'r');
    fds.push(fd);
    return fd;
  };
  try {
    const journalMode = String(db.pragma('journal_mode')).toLowerCase();
    const wal = journalMode === 'wal';
    const dbFd = open(dbPath);
    let shm: ShmState | null = null;
    let attempts = 0;
    if (wal) {
      const shmFd = open(`${dbPath}-shm`); // the connection's first read (in openDatabase) made it
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
      options.onBatch?.(first, view, pageSize, pageCount);
      for (let k = 0; k < n; k++) onPage(first + k, view.subarray(k * pageSize, (k + 1) * pageSize));
    }
    db.exec('COMMIT');
    return { pageSize, pageCount, userVersion, journalMode, mxFrame, walPages: frameOf.size, attempts };
  } finally {
    db.close();
    for (const fd of fds) closeSync(fd);
  }
}
