import Database from 'better-sqlite3';
import type { OraDatabase } from '../connection/connection.js';
import { translateSqliteError } from '../connection/sqlite-errors.js';

export type SnapshotMethod = 'vacuum-into' | 'backup-api';

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
    db.run(() => db.handle.prepare('VACUUM INTO ?').run(dest));
    return;
  }
  try {
    // progress() returns how many pages the next step copies: everything, so there is one step.
    const result = await db.handle.backup(dest, { progress: () => 2_147_483_647 });
    if (result.totalPages === 0) throw Object.assign(new Error('database is locked'), { code: 'SQLITE_BUSY' });
  } catch (error) {
    throw translateSqliteError(error, db.path, db.busyTimeoutMs);
  }
  // The copy carries the source's WAL flag; make it a self-contained single file.
  const copy = new Database(dest);
  try {
    copy.pragma('journal_mode = DELETE');
  } finally {
    copy.close();
  }
}
