import { createHash } from 'node:crypto';
import { chmodSync, constants, copyFileSync, createReadStream, statSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { type OraDatabase, openRaw } from '../connection/connection.js';
import { fileSizeOrZero } from '../connection/file-checks.js';
import { ENCRYPTION_SCHEME, openStream, StreamSealer } from '../crypto/stream.js';
import { DatabaseCorruptError, throwIfStopped } from '../errors/errors.js';
import { ensurePrivateDir, fsyncFile, ioError, removeDeadTemps, removeQuietly } from '../fs/files.js';
import { integrityCheckInWorker } from '../integrity/integrity-worker.js';
import type { ProgressSink } from '../progress.js';
import { quoteIdentifier } from '../sql/identifiers.js';
import { userTables } from '../sql/schema.js';
import { VERSION } from '../version.js';
import { type Compression, type CompressResult, gzipFileParallel, hashArtifact, zstdFile } from './compress.js';
import { artifactFile, isVerified, type Manifest, newBackupId, removeStaleTemps } from './manifest.js';
import { planRetention, type RetentionPolicy } from './retention.js';
import { type SnapshotMethod, snapshotDatabase } from './snapshot.js';
import type { BackupStore } from './store.js';

export interface BackupOptions {
  store: BackupStore;
  /** More destinations: each gets a byte copy of the same verified artifact, checked, before `store`. */
  copies?: readonly BackupStore[];
  method: SnapshotMethod;
  compression: Compression;
  compressionLevel: number;
  threads?: number;
  maxProblems: number;
  progress?: ProgressSink;
  /** Aborted: the backup stops at its next safe point, removes its temps and publishes nothing. */
  signal?: AbortSignal;
  /** Published pinned, with this reason: retention never deletes it (`migrate`'s backup). */
  pin?: string;
}

export interface BackupReport {
  manifest: Manifest;
  artifactPath: string;
  snapshotMs: number;
  integrityMs: number;
  compressMs: number;
  verifyMs: number;
  removedTemps: string[];
  /** The other destinations (`copies`), in order. */
  copies: CopyOutcome[];
}

/** Opens a snapshot or restored copy read-only with the toolkit's error translation. */
export function openCopy(path: string): OraDatabase {
  return openRaw(path, { readonly: true });
}

/** Row counts per table, recorded in the manifest and compared after a restore. */
export function tableRowCounts(db: OraDatabase): Record<string, number> {
  const out: Record<string, number> = {};
  for (const t of userTables(db)) {
    out[t] = db.run(
      () =>
        db
          .prepare(`SELECT count(*) FROM ${quoteIdentifier(t)}`)
          .pluck()
          .get() as number,
    );
  }
  return out;
}

/**
 * Takes a backup the way pgBackRest or restic would for SQLite (SPEC §2, §4 invariant 2):
 * a consistent online snapshot (never a file copy), a full `integrity_check` of it, zstd (or parallel gzip)
 * with SHA-256 checksums, a round-trip check of the artifact, and only then publication: the
 * artifact and then its manifest are renamed into place and the directory fsynced. A backup is
 * listed only once its manifest exists, so a run killed at any instant publishes nothing partial.
 */
export async function createBackup(db: OraDatabase, options: BackupOptions): Promise<BackupReport> {
  const dir = options.store.stagingDir;
  ensurePrivateDir(dir);
  const removedTemps = removeStaleTemps(dir);
  const createdAt = new Date();
  const id = newBackupId(createdAt);
  // Encrypted: no plaintext may reach the backup directory, so the snapshot is made beside the
  // database (its own filesystem, as private as the database) under a pid-named temp name.
  const sealing = await options.store.keyring?.encryptionKey();
  const encrypted = sealing !== undefined;
  let snapshotPath = join(dir, `.tmp-${id}.db`);
  if (encrypted) {
    const dbDir = dirname(resolve(db.path));
    removeDeadTemps(dbDir, 'ora-backup');
    snapshotPath = join(dbDir, `.ora-backup-${process.pid}-${id}.tmp.db`);
  }
  const file = artifactFile(id, options.compression, encrypted);
  const artifactTemp = join(dir, `.tmp-${file}`);
  const seal = () => (sealing ? new StreamSealer(sealing.masterKey, sealing.info) : undefined);
  const open = sealing ? () => openStream(() => sealing.masterKey) : undefined;
  const progress = options.progress;
  const signal = options.signal;
  try {
    const t0 = performance.now();
    throwIfStopped(signal);
    progress?.phase?.('snapshot');
    try {
      await snapshotDatabase(db, snapshotPath, options.method);
    } catch (error) {
      throw ioErrorIfFs(error, `writing the snapshot ${snapshotPath}`);
    }
    const snapshotMs = Math.round(performance.now() - t0);

    // integrity_check (worker thread) and compression (main thread) read the snapshot at once.
    const t1 = performance.now();
    throwIfStopped(signal);
    const snapshotBytes = statSync(snapshotPath).size;
    progress?.phase?.('check+compress');
    progress?.update(0, snapshotBytes, 'bytes');
    const integrityRun = integrityCheckInWorker(snapshotPath, options.maxProblems, signal);
    integrityRun.catch(() => undefined); // awaited below; a stop must not leave it unhandled
    let compressed: CompressResult;
    try {
      compressed =
        options.compression === 'zstd'
          ? await zstdFile(snapshotPath, artifactTemp, {
              level: options.compressionLevel,
              onProgress: (done) => progress?.update(done, snapshotBytes, 'bytes'),
              signal,
              seal: seal(),
            })
          : await gzipFileParallel(snapshotPath, artifactTemp, {
              level: options.compressionLevel,
              ...(options.threads ? { threads: options.threads } : {}),
              onProgress: (done) => progress?.update(done, snapshotBytes, 'bytes'),
              signal,
              seal: seal(),
            });
    } catch (error) {
      if (!signal?.aborted) await integrityRun.catch(() => undefined);
      throwIfStopped(signal);
      throw ioErrorIfFs(error, `writing the artifact ${artifactTemp}`);
    }
    const compressMs = Math.round(performance.now() - t1);

    // Round trip while the integrity check may still run: the artifact must read back to the
    // same SHA-256 and decompress (each format checks its own content checksums) to the
    // snapshot's length.
    throwIfStopped(signal);
    const t3 = performance.now();
    progress?.phase?.('verify');
    const roundTripRun = hashArtifact(artifactTemp, options.compression, { open }).then(
      (value) => ({ value, ms: Math.round(performance.now() - t3) }),
      (error: unknown) => ({ error }),
    );
    const integrity = await integrityRun;
    const integrityMs = integrity.durationMs;
    const roundTrip = await roundTripRun;
    if (!integrity.ok) {
      throw new DatabaseCorruptError(
        `the snapshot of ${db.path} fails integrity_check (${integrity.problems[0] ?? 'unknown problem'}); the live database is damaged — nothing was published; run 'ora-db health-check --full' and see 'ora-db recover'`,
        'DATABASE_CORRUPT',
      );
    }
    if ('error' in roundTrip) throw ioErrorIfFs(roundTrip.error, `checking the artifact ${artifactTemp}`);
    if (roundTrip.value.outputBytes !== snapshotBytes || roundTrip.value.artifactSha256 !== compressed.outputSha256) {
      throw new DatabaseCorruptError(
        `the artifact ${artifactTemp} does not decompress to the snapshot; nothing was published — check the disk and retry`,
        'DATABASE_CORRUPT',
      );
    }
    const verifyMs = roundTrip.ms;
    const snap = openCopy(snapshotPath);
    let info: {
      pageSize: number;
      pageCount: number;
      userVersion: number;
      sqliteVersion: string;
      tables: Record<string, number>;
    };
    try {
      info = {
        pageSize: Number(snap.pragma('page_size')),
        pageCount: Number(snap.pragma('page_count')),
        userVersion: Number(snap.pragma('user_version')),
        sqliteVersion: String(snap.prepare('SELECT sqlite_version()').pluck().get()),
        tables: tableRowCounts(snap),
      };
    } finally {
      snap.close();
    }

    const manifest: Manifest = {
      formatVersion: 1,
      id,
      createdAt: createdAt.toISOString(),
      tool: { name: 'ora-db', version: VERSION },
      source: {
        path: resolve(db.path),
        fileBytes: fileSizeOrZero(db.path),
        walBytes: fileSizeOrZero(`${db.path}-wal`),
      },
      snapshot: { method: options.method, bytes: snapshotBytes, ...info },
      artifact: {
        file,
        bytes: compressed.outputBytes,
        compression: options.compression,
        sha256: compressed.outputSha256,
        ...(sealing ? { encryption: { scheme: ENCRYPTION_SCHEME, ...sealing.info } } : {}),
      },
      integrity: { ok: true, mode: 'full', durationMs: integrity.durationMs },
      lastVerification: null,
      pinned: options.pin ? { at: createdAt.toISOString(), reason: options.pin } : null,
      durationMs: Math.round(Date.now() - createdAt.getTime()),
    };
    // The last safe point: once publication starts it completes (artifact, then manifest).
    throwIfStopped(signal);
    const copies: CopyOutcome[] = [];
    for (const copy of options.copies ?? []) copies.push(await publishCopy(copy, artifactTemp, manifest));
    await options.store.publish(artifactTemp, manifest);
    const artifactPath = `${options.store.location.replace(/\/$/, '')}/${file}`;
    return { manifest, artifactPath, snapshotMs, integrityMs, compressMs, verifyMs, removedTemps, copies };
  } catch (error) {
    removeQuietly(artifactTemp);
    throwIfStopped(signal);
    throw error;
  } finally {
    removeQuietly(snapshotPath);
    removeQuietly(`${snapshotPath}-journal`);
  }
}

/** How publishing to one more destination went: a failure there does not stop the others. */
export interface CopyOutcome {
  location: string;
  ok: boolean;
  error?: string;
}

/**
 * Publishes a byte copy of the verified artifact to one more destination: copied into that
 * store's staging directory under a temp name, its SHA-256 checked against the manifest, then
 * published (artifact, then manifest) like the first.
 */
async function publishCopy(store: BackupStore, artifact: string, manifest: Manifest): Promise<CopyOutcome> {
  const temp = join(store.stagingDir, `.tmp-copy-${process.pid}-${manifest.artifact.file}`);
  try {
    ensurePrivateDir(store.stagingDir);
    removeStaleTemps(store.stagingDir);
    copyFileSync(artifact, temp, constants.COPYFILE_EXCL);
    chmodSync(temp, 0o600);
    fsyncFile(temp);
    const sha = createHash('sha256');
    for await (const chunk of createReadStream(temp)) sha.update(chunk as Buffer);
    if (sha.digest('hex') !== manifest.artifact.sha256) {
      return { location: store.location, ok: false, error: 'the copied artifact does not match its SHA-256' };
    }
    await store.publish(temp, manifest);
    return { location: store.location, ok: true };
  } catch (error) {
    return { location: store.location, ok: false, error: (error as Error).message };
  } finally {
    removeQuietly(temp);
  }
}

function ioErrorIfFs(error: unknown, what: string): unknown {
  const code = (error as NodeJS.ErrnoException).code;
  if (typeof code === 'string' && /^E[A-Z]+$/.test(code)) return ioError(error, what);
  if (code === 'SQLITE_FULL') return ioError(Object.assign(new Error('disk full'), { code: 'ENOSPC' }), what);
  return error;
}

export interface RetentionReport {
  kept: { id: string; reason: string }[];
  deleted: string[];
  dryRun: boolean;
}

/** Applies the retention policy to a store (after a successful backup only). */
export async function applyRetention(
  store: BackupStore,
  policy: RetentionPolicy,
  now: Date,
  dryRun: boolean,
): Promise<RetentionReport> {
  const { backups } = await store.list();
  const plan = planRetention(
    backups.map((m) => ({ id: m.id, createdAt: m.createdAt, verified: isVerified(m), pinned: Boolean(m.pinned) })),
    now,
    policy,
  );
  if (!dryRun) for (const b of plan.delete) await store.remove(b.id);
  return {
    kept: plan.keep.map((k) => ({ id: k.backup.id, reason: k.reason })),
    deleted: plan.delete.map((b) => b.id),
    dryRun,
  };
}
