import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { BackupInvalidError, throwIfStopped } from '../errors/errors.js';
import { ensurePrivateDir, removeDeadTemps, removeQuietly } from '../fs/files.js';
import type { ProgressSink } from '../progress.js';
import type { PointStore } from './point-store.js';
import type { PointManifest, VerifyPointsReport } from './store.js';

export interface PointCheck {
  id: string;
  createdAt: string;
  ok: boolean;
  /** Rebuilt into a file and integrity_check'ed (the newest, the chosen one and a sample), or only its packs and map checked. */
  rebuilt: boolean;
  detail: string;
  durationMs: number;
}

export interface CheckPointsReport {
  location: string;
  ok: boolean;
  points: PointCheck[];
  damagedPacks: VerifyPointsReport['damagedPacks'];
  unreadable: { file: string; problem: string }[];
}

export interface CheckPointsOptions {
  /** Local directory for the rebuilt files (the backup directory, or the staging area with --dest). */
  stagingDir: string;
  /** Only this point (rebuilt), or every point with the newest and `sample` others rebuilt. */
  id?: string | undefined;
  /** How many points besides the newest to rebuild, chosen at random. */
  sample: number;
  random?: () => number;
  progress?: ProgressSink | undefined;
  signal?: AbortSignal | undefined;
}

/**
 * `backup verify` for restore points: every pack's checksum and every point's page map (a
 * damaged pack names every point it breaks), then the newest point and a random sample of older
 * ones (or the one asked for) rebuilt into a temp file and verified the way a restore verifies
 * them: each page's SHA-256, a full integrity_check, page count and `user_version`.
 */
export async function checkRestorePoints(store: PointStore, o: CheckPointsOptions): Promise<CheckPointsReport> {
  const { points, unreadable } = await store.list();
  const structure = await store.verify();
  const chosen = choose(points, o);
  // With key files, rebuilt (decrypted) points go to a private directory under $TMPDIR (else
  // /tmp), never into the backup directory (docs/BACKUP.md, "Encryption at rest").
  const privateTemp = store.keyring ? mkdtempSync(join(tmpdir(), 'ora-verify-')) : null;
  const staging = privateTemp ?? resolve(o.stagingDir);
  ensurePrivateDir(staging);
  removeDeadTemps(staging, 'ora-verify-point');
  try {
    return await checkChosen(store, o, points, unreadable, structure, chosen, staging);
  } finally {
    if (privateTemp) rmSync(privateTemp, { recursive: true, force: true });
  }
}

async function checkChosen(
  store: PointStore,
  o: CheckPointsOptions,
  points: PointManifest[],
  unreadable: CheckPointsReport['unreadable'],
  structure: VerifyPointsReport,
  chosen: Set<string>,
  staging: string,
): Promise<CheckPointsReport> {
  const byId = new Map(structure.points.map((p) => [p.id, p]));
  const checks: PointCheck[] = [];
  // Progress: pages rebuilt, over every point to rebuild (one bar for the phase, not one per point).
  const toRebuild = points.filter((p) => chosen.has(p.id) && byId.get(p.id)?.ok);
  const totalPages = toRebuild.reduce((n, p) => n + p.pageCount, 0);
  let pagesBefore = 0;
  const pages: ProgressSink | undefined = o.progress && {
    update: (done) => o.progress?.update(pagesBefore + done, totalPages, 'pages'),
  };
  for (const p of points) {
    const started = performance.now();
    const s = byId.get(p.id);
    let ok = s?.ok ?? false;
    let detail = s ? s.problems.join('; ') : 'not checked';
    const rebuild = chosen.has(p.id) && ok;
    if (rebuild) {
      throwIfStopped(o.signal);
      o.progress?.update(pagesBefore, totalPages, 'pages');
      const temp = join(staging, `.ora-verify-point-${process.pid}-${p.id}.db`);
      try {
        const r = await store.rebuild(p.id, temp, pages);
        detail = `rebuilt ${r.pageCount} pages from ${r.packsRead} pack(s), integrity_check ok`;
      } catch (error) {
        if (!(error instanceof BackupInvalidError)) throw error;
        ok = false;
        detail = error.message;
      } finally {
        removeQuietly(temp);
        pagesBefore += p.pageCount;
      }
    }
    if (ok && !rebuild) detail = 'packs and page map checked';
    if (o.id === undefined || p.id === o.id) {
      checks.push({
        id: p.id,
        createdAt: p.createdAt,
        ok,
        rebuilt: rebuild,
        detail,
        durationMs: Math.round(performance.now() - started),
      });
    }
  }
  if (totalPages > 0) o.progress?.update(totalPages, totalPages, 'pages');
  const ok = unreadable.length === 0 && checks.every((c) => c.ok) && structure.damagedPacks.length === 0;
  return { location: store.location, ok, points: checks, damagedPacks: structure.damagedPacks, unreadable };
}

function choose(points: readonly PointManifest[], o: CheckPointsOptions): Set<string> {
  if (o.id !== undefined) return new Set([o.id]);
  const newest = points[points.length - 1];
  const older = points.slice(0, -1).map((p) => p.id);
  const random = o.random ?? Math.random;
  // A partial Fisher-Yates shuffle: `sample` distinct older points.
  for (let i = 0; i < Math.min(o.sample, older.length); i++) {
    const j = i + Math.floor(random() * (older.length - i));
    [older[i], older[j]] = [older[j] as string, older[i] as string];
  }
  return new Set([...(newest ? [newest.id] : []), ...older.slice(0, o.sample)]);
}
