import { existsSync, mkdtempSync, rmSync, unlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ensurePrivateDir } from '../fs/files.js';
import { checkIntegrity } from '../integrity/integrity.js';
import { openCopy, tableRowCounts } from './backup.js';
import { decompressFile } from './compress.js';
import { artifactOpener } from './encryption.js';
import type { Manifest } from './manifest.js';
import type { BackupStore } from './store.js';

export interface VerifyResult {
  id: string;
  ok: boolean;
  checksumOk: boolean;
  integrityOk: boolean;
  /** What failed, in one line, or `ok`. */
  detail: string;
  durationMs: number;
}

/**
 * The guide's "test restores monthly", without touching anything live: re-reads the artifact,
 * checks its SHA-256 against the manifest, decompresses it to a temp file in the backup directory,
 * runs `integrity_check`, and compares schema version and row counts with the manifest. The
 * outcome is recorded in the manifest (`lastVerification`), so `list` and restore know it.
 */
export async function verifyBackup(
  store: BackupStore,
  manifest: Manifest,
  maxProblems: number,
  /** Called with the bytes decompressed so far (of the manifest's snapshot bytes). */
  onProgress?: (doneBytes: number) => void,
): Promise<VerifyResult> {
  const started = performance.now();
  // Encrypted: the key first (a missing one is bad input, nothing read or recorded), and the
  // decrypted copy outside the backup directory — in a private directory under the system's temp
  // directory ($TMPDIR, else /tmp) — so no plaintext ever lands beside the backups.
  const open = await artifactOpener(store, manifest);
  let dir = store.stagingDir;
  let privateTemp: string | null = null;
  if (open) {
    privateTemp = mkdtempSync(join(tmpdir(), 'ora-verify-'));
    dir = privateTemp;
  } else {
    ensurePrivateDir(dir);
  }
  const temp = join(dir, `.tmp-verify-${manifest.id}.db`);
  let fetched: Awaited<ReturnType<BackupStore['fetchArtifact']>>;
  try {
    fetched = await store.fetchArtifact(manifest);
  } catch (error) {
    if (privateTemp) rmSync(privateTemp, { recursive: true, force: true });
    throw error;
  }
  const artifact = fetched?.path ?? '';
  let checksumOk = false;
  let integrityOk = false;
  let detail = 'ok';
  try {
    if (!fetched) {
      detail = `artifact ${manifest.artifact.file} is missing`;
    } else {
      let sums: Awaited<ReturnType<typeof decompressFile>> | null = null;
      try {
        sums = await decompressFile(artifact, temp, manifest.artifact.compression, {
          open,
          ...(onProgress ? { onProgress } : {}),
        });
      } catch (error) {
        detail = open
          ? `artifact does not decrypt and decompress (${(error as Error).message})`
          : `artifact does not decompress (${(error as Error).message}): truncated or damaged`;
      }
      if (sums) {
        checksumOk = sums.artifactSha256 === manifest.artifact.sha256 && sums.outputBytes === manifest.snapshot.bytes;
        if (!checksumOk) {
          detail = 'SHA-256 does not match the manifest: the artifact was changed or damaged';
        } else {
          const copy = openCopy(temp);
          try {
            const integrity = checkIntegrity(copy, { full: true, maxProblems });
            integrityOk = integrity.ok;
            if (!integrity.ok) detail = `integrity_check failed: ${integrity.problems[0] ?? ''}`;
            else {
              const counts = tableRowCounts(copy);
              if (JSON.stringify(counts) !== JSON.stringify(manifest.snapshot.tables)) {
                integrityOk = false;
                detail = 'row counts differ from the manifest';
              }
            }
          } finally {
            copy.close();
          }
        }
      }
    }
  } finally {
    if (existsSync(temp)) unlinkSync(temp);
    if (privateTemp) rmSync(privateTemp, { recursive: true, force: true });
    fetched?.release();
  }
  const ok = checksumOk && integrityOk;
  await store.saveManifest({ ...manifest, lastVerification: { at: new Date().toISOString(), ok, detail } });
  return { id: manifest.id, ok, checksumOk, integrityOk, detail, durationMs: Math.round(performance.now() - started) };
}
