import { openCopy, tableRowCounts } from '../backup/backup.js';
import type { ExpectedContent, RestoreSource } from '../backup/restore.js';
import { withDatabase } from '../connection/connection.js';
import type { PointStore } from './point-store.js';
import type { PointManifest } from './store.js';

/**
 * A restore point as what a restore restores: rebuilt into the restore's temp file and verified
 * there (every pack's checksum against the manifest, every page's SHA-256 as it is decoded, a
 * full integrity_check, page count and `user_version`), then counted: the row counts of the
 * verified copy are what the live restore checks its result against.
 */
export function pointSource(store: PointStore, point: PointManifest): RestoreSource {
  return {
    kind: 'point',
    id: point.id,
    createdAt: point.createdAt,
    location: store.location,
    async prepare(temp, o): Promise<ExpectedContent> {
      // Phases rebuild (pages written, of the point's) and integrity_check; on S3 download first.
      await store.rebuild(point.id, temp, o.progress);
      return withDatabase(openCopy(temp), (db) => ({
        pageSize: point.pageSize,
        userVersion: Number(db.pragma('user_version')),
        tables: tableRowCounts(db),
      }));
    },
  };
}
