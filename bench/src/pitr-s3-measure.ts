/**
 * Restore points on S3 at real size, measured (not a `pnpm bench` section): one step per run, so
 * `/usr/bin/time -v` gives each its own peak RSS.
 *
 *     npx tsx bench/src/pitr-s3-measure.ts serve                              s3rver on 127.0.0.1 (prints its endpoint), until killed
 *     npx tsx bench/src/pitr-s3-measure.ts take <db> <endpoint> <staging>     one point through openPointStore
 *     npx tsx bench/src/pitr-s3-measure.ts change <db> <rows>                 updates `rows` random inventory rows (one transaction)
 *     npx tsx bench/src/pitr-s3-measure.ts rebuild <endpoint> <staging> <out> the newest point, rebuilt and verified
 *     npx tsx bench/src/pitr-s3-measure.ts verify <endpoint> <staging>        every pack and map chain, as stored in the bucket
 *
 * Each prints one JSON object. Credentials: s3rver's (S3RVER/S3RVER), set here.
 */
import { startLocalBucket } from '@ora/testkit/s3';
import { openDatabase, withDatabase } from '../../packages/core/src/connection/connection.js';
import { openPointStore } from '../../packages/core/src/pitr/point-store.js';

process.env.AWS_ACCESS_KEY_ID = 'S3RVER';
process.env.AWS_SECRET_ACCESS_KEY = 'S3RVER';
const DEST = 's3://ora-bench/prod/db';
const [step, a, b, c] = process.argv.slice(2);
const store = (endpoint: string, staging: string) =>
  openPointStore({
    backupDir: staging,
    dest: [DEST],
    s3Endpoint: endpoint,
    s3Region: 'us-east-1',
    s3ForcePathStyle: true,
  });

if (step === 'serve') {
  const bucket = await startLocalBucket('ora-bench');
  console.log(JSON.stringify({ endpoint: bucket.endpoint }));
  process.on('SIGTERM', () => void bucket.stop().then(() => process.exit(0)));
} else if (step === 'take' && a && b && c) {
  const t = performance.now();
  const r = await store(b, c).take({ database: a });
  const ms = Math.round(performance.now() - t);
  if (r.status !== 'taken') throw new Error(r.reason);
  const p = r.point;
  console.log(
    JSON.stringify({
      ms,
      id: p.id,
      kind: p.map.kind,
      pages: p.pageCount,
      changedPages: p.changedPages,
      newPages: p.newPages,
      storedBytes: p.storedBytes,
      phases: r.phases,
      transfer: r.transfer,
      notes: r.notes,
    }),
  );
} else if (step === 'change' && a && b) {
  withDatabase(openDatabase(a), (db) => {
    const ids = db.values<number>(`SELECT rowid FROM inventory_current ORDER BY random() LIMIT ${Number(b)}`);
    const up = db.prepare(
      "UPDATE inventory_current SET last_updated = strftime('%Y-%m-%d %H:%M:%f', 'now') WHERE rowid = ?",
    );
    db.transaction(() => {
      for (const id of ids) up.run(id);
    });
  });
  console.log(JSON.stringify({ changed: Number(b) }));
} else if (step === 'rebuild' && a && b && c) {
  const s = store(a, b);
  const t = performance.now();
  const { points } = await s.list();
  const newest = points[points.length - 1];
  if (!newest) throw new Error('no points');
  const r = await s.rebuild(newest.id, c);
  console.log(JSON.stringify({ ms: Math.round(performance.now() - t), id: r.id, integrityMs: r.integrity.durationMs }));
} else if (step === 'verify' && a && b) {
  const t = performance.now();
  const r = await store(a, b).verify();
  console.log(JSON.stringify({ ms: Math.round(performance.now() - t), ok: r.ok, points: r.points.length }));
} else {
  throw new Error('usage: see the comment at the top of bench/src/pitr-s3-measure.ts');
}
