import { randomBytes } from 'node:crypto';
import { existsSync, lstatSync, readdirSync, readFileSync, statSync, unlinkSync } from 'node:fs';
import { join } from 'node:path';
import * as z from 'zod';
import { InvalidInputError } from '../errors/errors.js';
import { ioError, writeFileDurably } from '../fs/files.js';

export const BACKUP_ID_RE = /^ora-\d{8}T\d{9}Z-[0-9a-f]{6}$/;

/** A new backup id: sortable UTC time plus randomness, e.g. `ora-20261125T023500123Z-3fa9c1`. */
export function newBackupId(now = new Date()): string {
  const stamp = now.toISOString().replace(/[-:.]/g, '');
  return `ora-${stamp}-${randomBytes(3).toString('hex')}`;
}

/** An encrypted artifact's or pack's key: its id and how it was derived (salt and cost, never the key). */
export const encryptionSchema = z.object({
  scheme: z.literal('aes-256-gcm-stream-v1'),
  keyId: z.string().regex(/^[0-9a-f]{16}$/),
  kdf: z.discriminatedUnion('kind', [
    z.object({ kind: z.literal('raw') }),
    z.object({
      kind: z.literal('scrypt'),
      logN: z.number().int(),
      r: z.number().int(),
      p: z.number().int(),
      salt: z.string().regex(/^[0-9a-f]{32}$/),
    }),
  ]),
});

const verificationSchema = z.object({ at: z.string(), ok: z.boolean(), detail: z.string() });

export const manifestSchema = z.object({
  formatVersion: z.literal(1),
  id: z.string().regex(BACKUP_ID_RE),
  createdAt: z.string(),
  tool: z.object({ name: z.string(), version: z.string() }),
  source: z.object({ path: z.string(), fileBytes: z.number(), walBytes: z.number() }),
  snapshot: z.object({
    method: z.string(),
    bytes: z.number(),
    pageSize: z.number(),
    pageCount: z.number(),
    userVersion: z.number(),
    sqliteVersion: z.string(),
    tables: z.record(z.string(), z.number()),
  }),
  artifact: z.object({
    file: z.string().regex(/^ora-\d{8}T\d{9}Z-[0-9a-f]{6}\.db\.(gz|zst)(\.enc)?$/),
    bytes: z.number(),
    compression: z.enum(['gzip', 'zstd']),
    sha256: z.string(),
    /** Encrypted at rest (docs/BACKUP.md): how, and which key — its id, never the key. */
    encryption: encryptionSchema.optional(),
  }),
  integrity: z.object({ ok: z.boolean(), mode: z.literal('full'), durationMs: z.number() }),
  lastVerification: verificationSchema.nullable(),
  /** Kept by retention until unpinned (`backup pin`; `migrate` pins the backup it takes first). */
  pinned: z.object({ at: z.string(), reason: z.string() }).nullable().optional(),
  /** How long the backup took (absent in manifests written before it was recorded). */
  durationMs: z.number().optional(),
});
export type Manifest = z.infer<typeof manifestSchema>;

export const manifestFile = (id: string) => `${id}.json`;
/** The artifact's file name: `<id>.db.zst` (zstd) or `<id>.db.gz` (gzip), `.enc` appended when encrypted. */
export const artifactFile = (id: string, compression: 'gzip' | 'zstd' = 'zstd', encrypted = false) =>
  `${id}.db.${compression === 'zstd' ? 'zst' : 'gz'}${encrypted ? '.enc' : ''}`;

/** Every name an artifact of backup `id` may have (for deleting it). */
export const artifactFiles = (id: string) =>
  (['zstd', 'gzip'] as const).flatMap((c) => [artifactFile(id, c), artifactFile(id, c, true)]);

/** Whether the backup counts as verified: its integrity check passed and no later verify failed. */
export function isVerified(m: Manifest): boolean {
  return m.integrity.ok && (m.lastVerification === null || m.lastVerification.ok);
}

export interface ListedBackups {
  backups: Manifest[];
  /** Manifests that could not be read (named, never silently ignored). */
  unreadable: { file: string; problem: string }[];
}

/**
 * The published backups in `dir`, oldest first. A backup is published when its manifest exists;
 * an artifact without a manifest is an unfinished run and is not listed.
 */
export function listBackups(dir: string): ListedBackups {
  if (!existsSync(dir)) return { backups: [], unreadable: [] };
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch (error) {
    throw ioError(error, `listing the backup directory ${dir}`);
  }
  const backups: Manifest[] = [];
  const unreadable: ListedBackups['unreadable'] = [];
  for (const name of names.sort()) {
    if (!name.endsWith('.json') || !BACKUP_ID_RE.test(name.slice(0, -5))) continue;
    try {
      if (lstatSync(join(dir, name)).isSymbolicLink()) {
        unreadable.push({ file: name, problem: 'is a symbolic link; links in the backup directory are not followed' });
        continue;
      }
      const parsed = manifestSchema.safeParse(JSON.parse(readFileSync(join(dir, name), 'utf8')));
      if (parsed.success && parsed.data.id === name.slice(0, -5)) backups.push(parsed.data);
      else unreadable.push({ file: name, problem: 'manifest does not match its schema' });
    } catch (error) {
      unreadable.push({ file: name, problem: (error as Error).message });
    }
  }
  backups.sort((a, b) => a.createdAt.localeCompare(b.createdAt));
  return { backups, unreadable };
}

/**
 * Resolves `id`, `latest`, or `--at` (the newest verified backup created at or before a time)
 * among `backups` (oldest first) stored at `location`. An id is checked against the id format
 * first, so it can never name a path outside the store.
 */
export function pickBackup(backups: Manifest[], location: string, selector: { id?: string; at?: Date }): Manifest {
  if (selector.at) {
    const at = selector.at.getTime();
    const pick = [...backups].reverse().find((b) => isVerified(b) && Date.parse(b.createdAt) <= at);
    if (!pick) {
      throw new InvalidInputError(
        `no verified backup at or before ${selector.at.toISOString()} in ${location}; list them with 'ora-db backup list'`,
      );
    }
    return pick;
  }
  const id = selector.id ?? 'latest';
  if (id === 'latest') {
    const pick = [...backups].reverse().find(isVerified);
    if (!pick) throw new InvalidInputError(`no verified backup in ${location}; take one with 'ora-db backup'`);
    return pick;
  }
  if (!BACKUP_ID_RE.test(id)) {
    throw new InvalidInputError(`'${id}' is not a backup id (like ora-20261125T023500123Z-3fa9c1) or 'latest'`);
  }
  const found = backups.find((b) => b.id === id);
  if (!found) throw new InvalidInputError(`backup ${id} not found in ${location}; list them with 'ora-db backup list'`);
  return found;
}

export function writeManifest(dir: string, manifest: Manifest): void {
  writeFileDurably(
    join(dir, manifestFile(manifest.id)),
    `${JSON.stringify(manifest, null, 2)}\n`,
    dir,
    `.tmp-${manifest.id}.json`,
  );
}

/** Deletes a backup: manifest first (so it is never listed without its artifact), then the artifact. */
export function deleteBackup(dir: string, id: string): void {
  for (const file of [manifestFile(id), ...artifactFiles(id)]) {
    try {
      unlinkSync(join(dir, file));
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw ioError(error, `deleting ${file}`);
    }
  }
}

/**
 * Removes temp files of runs that died. Only files untouched for `minAgeMs` go: a backup of
 * another database sharing this directory may be writing its own temp files right now.
 */
export function removeStaleTemps(dir: string, minAgeMs = 10 * 60 * 1000): string[] {
  if (!existsSync(dir)) return [];
  const removed: string[] = [];
  const names = readdirSync(dir);
  for (const name of names) {
    // Temp files, and artifacts whose manifest never got published (the run died in between).
    const artifactOf = /^(.*)\.db\.(gz|zst)(\.enc)?$/.exec(name)?.[1];
    const orphan = artifactOf !== undefined && BACKUP_ID_RE.test(artifactOf) && !names.includes(`${artifactOf}.json`);
    if (!name.startsWith('.tmp-') && !orphan) continue;
    const path = join(dir, name);
    try {
      const s = statSync(path);
      if (s.isFile() && Date.now() - s.mtimeMs >= minAgeMs) {
        unlinkSync(path);
        removed.push(name);
      }
    } catch {
      // already gone
    }
  }
  return removed;
}
