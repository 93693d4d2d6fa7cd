import { dirname } from 'node:path';
import { type OraDatabase, openRaw, withDatabase } from '../connection/connection.js';
import { translateSqliteError } from '../connection/sqlite-errors.js';
import { IoError } from '../errors/errors.js';

export type SnapshotMethod = 'vacuum-into' | 'backup-api';

/**
 * The errors that are about the file being written, not the database being read: a full
 * filesystem, a directory that cannot be written. They name the snapshot and its directory; the
 * live database is fine (reading it needs neither space nor write permission).
 */
function destinationError(error: unknown, dest: string): IoError | null {
  const code = String((error as { code?: unknown }).code ?? '');
  const dir = dirname(dest);
  if (code === 'SQLITE_FULL') {
    return new IoError(
      `disk full while writing the snapshot ${dest}: the filesystem holding ${dir} has no room for it; free space there or point --backup-dir / BACKUP_DIR at a larger filesystem (nothing was published; the live database is untouched)`,
      'DISK_FULL',
      { cause: error },
    );
  }
  if (code.startsWith('SQLITE_CANTOPEN') || code.startsWith('SQLITE_READONLY') || code.startsWith('SQLITE_PERM')) {
    return new IoError(
      `cannot write the snapshot ${dest} (${code}): the backup directory ${dir} is not writable; check its owner, mode and mount options (read-only filesystem?) (the live database is untouched)`,
      'PERMISSION_DENIED',
      { cause: error },
    );
  }
  return null;
}

/**
 * Takes a consistent copy of a live database into `dest` (which must not exist) while other
 * processes keep writing. Both methods read inside one read transaction, which in WAL mode never
 * blocks writers, and so can never restart:
 *
 * - `vacuum-into`: `VACUUM INTO`, a compact copy without free pages (rebuilds every b-tree);
 * - `backup-api`: the online backup API in one step (all pages at once). Stepped backups restart
 *   from page 1 whenever another connection writes between steps, so it is never stepped here.
 *
 * See docs/BACKUP.md for the measurement behind the default.
 */
export async function snapshotDatabase(db: OraDatabase, dest: string, method: SnapshotMethod): Promise<void> {
  if (method === 'vacuum-into') {
    try {
      db.prepare('VACUUM INTO ?').run(dest);
    } catch (error) {
      throw destinationError(error, dest) ?? translateSqliteError(error, db.path, db.busyTimeoutMs);
    }
    return;
  }
  try {
    // progress() returns how many pages the next step copies: everything, so there is one step.
    const result = await db.backupTo(dest);
    if (result.totalPages === 0) throw Object.assign(new Error('database is locked'), { code: 'SQLITE_BUSY' });
  } catch (error) {
    throw destinationError(error, dest) ?? translateSqliteError(error, db.path, db.busyTimeoutMs);
  }
  // The copy carries the source's WAL flag; make it a self-contained single file.
  withDatabase(openRaw(dest), (copy) => copy.pragma('journal_mode = DELETE'));
}
