/**
 * One restore point of DB into BACKUP_DIR's point store, in a process of its own as a scheduled
 * job takes it (so its peak RSS is a point's, not the bench's). Prints one JSON line.
 *
 *     node --import tsx bench/src/pitr-point.ts DB BACKUP_DIR
 *     node --import tsx bench/src/pitr-point.ts --baseline   (loads the same modules, takes nothing)
 */
import { join } from 'node:path';
import { localPointStore, POINTS_SUBDIR, pointPacks } from '@ora/core/pitr';

const [db, backupDir] = process.argv.slice(2);
if (db === '--baseline') {
  console.log(JSON.stringify({ status: 'baseline', maxRssKiB: process.resourceUsage().maxRSS }));
} else {
  if (!db || !backupDir) throw new Error('usage: pitr-point.ts DB BACKUP_DIR');
  const startedAt = Date.now();
  const t = performance.now();
  const r = await localPointStore(backupDir).take({ database: db });
  const ms = performance.now() - t;
  const endedAt = Date.now();
  console.log(
    JSON.stringify(
      r.status === 'taken'
        ? {
            status: r.status,
            startedAt,
            endedAt,
            ms: Math.round(ms),
            id: r.point.id,
            createdAt: r.point.createdAt,
            kind: r.point.map.kind,
            changedPages: r.point.changedPages,
            newPages: r.point.newPages,
            storedBytes: r.point.storedBytes,
            packBytes: r.point.pack?.bytes ?? 0,
            mapBytes: r.point.map.bytes,
            packsReferenced: pointPacks(join(backupDir, POINTS_SUBDIR), r.point).length,
            walPages: r.snapshot.walPages,
            pagesHashed: r.pagesHashed,
            phases: r.phases,
            notes: r.notes,
            maxRssKiB: process.resourceUsage().maxRSS,
          }
        : { status: r.status, reason: r.reason, startedAt, endedAt },
    ),
  );
}
