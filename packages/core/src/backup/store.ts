import { existsSync, lstatSync, renameSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { Keyring } from '../crypto/keys.js';
import { BackupInvalidError, InvalidInputError } from '../errors/errors.js';
import { fsyncDir, ioError, realDir } from '../fs/files.js';
import { deleteBackup, type ListedBackups, listBackups, type Manifest, writeManifest } from './manifest.js';

/**
 * Where backups live: a local directory, or an S3-compatible bucket. Everything that reads or
 * writes stored backups (backup, list, verify, retention, restore) goes through this, so each
 * works the same on both. Snapshots and temp files are always made in a local staging directory.
 */
export interface BackupStore {
  /** For messages: the directory, or `s3://bucket/prefix`. */
  readonly location: string;
  /** Local directory (0700) for snapshots, temp and downloaded files. */
  readonly stagingDir: string;
  /** The key files given (`--encrypt-key-file`): new backups are encrypted, encrypted ones read. */
  keyring?: Keyring | undefined;
  list(): Promise<ListedBackups>;
  /** Publishes an artifact (a local temp file, consumed) and then its manifest: the manifest last. */
  publish(artifactTemp: string, manifest: Manifest): Promise<void>;
  /** A local path holding the artifact; `release()` removes it when it was downloaded. */
  fetchArtifact(manifest: Manifest): Promise<{ path: string; release: () => void } | null>;
  saveManifest(manifest: Manifest): Promise<void>;
  remove(id: string): Promise<void>;
}

export function localStore(dir: string): BackupStore {
  // A symlinked backup directory is resolved once, here: every file goes to (and the result names)
  // the real directory.
  const root = realDir(resolve(dir));
  return {
    location: root,
    stagingDir: root,
    list: async () => listBackups(root),
    async publish(artifactTemp, manifest) {
      const final = join(root, manifest.artifact.file);
      try {
        renameSync(artifactTemp, final);
        fsyncDir(root);
      } catch (error) {
        throw ioError(error, `publishing ${final}`);
      }
      writeManifest(root, manifest);
    },
    async fetchArtifact(manifest) {
      const path = join(root, manifest.artifact.file);
      if (existsSync(path) && lstatSync(path).isSymbolicLink()) {
        throw new BackupInvalidError(
          `backup ${manifest.id}: ${path} is a symbolic link; links in the backup directory are not followed, so a backup cannot be read from elsewhere — nothing was read`,
        );
      }
      return existsSync(path) ? { path, release: () => {} } : null;
    },
    saveManifest: async (manifest) => writeManifest(root, manifest),
    remove: async (id) => deleteBackup(root, id),
  };
}

export interface S3Location {
  bucket: string;
  prefix: string;
}

const S3_URL_RE = /^s3:\/\/([a-z0-9][a-z0-9.-]{1,61}[a-z0-9])(?:\/(.*))?$/;

/** Parses `s3://bucket/prefix`; null when the text is not such a URL. */
export function parseS3Url(url: string): S3Location | null {
  const m = S3_URL_RE.exec(url);
  if (!m?.[1]) return null;
  const prefix = (m[2] ?? '').replace(/^\/+|\/+$/g, '');
  if (prefix.split('/').some((part) => part === '..' || part === '.')) return null;
  return { bucket: m[1], prefix: prefix ? `${prefix}/` : '' };
}

export interface S3StoreOptions {
  url: string;
  /** S3-compatible endpoint (MinIO, s3rver, …); default AWS. */
  endpoint?: string;
  region: string;
  forcePathStyle: boolean;
  stagingDir: string;
}

/**
 * Backups in an S3-compatible bucket (s3-store.ts). The URL is checked here, at once; the AWS SDK
 * is loaded on the store's first request, not when the job starts.
 */
export function s3Store(options: S3StoreOptions): BackupStore {
  const loc = parseS3Url(options.url);
  if (!loc) throw new InvalidInputError(`--dest ${options.url} is not an s3://bucket/prefix URL`);
  let loaded: Promise<BackupStore> | undefined;
  const store = () => {
    loaded ??= import('./s3-store.js').then((m) => m.s3ClientStore(options, loc));
    return loaded;
  };
  return {
    location: `s3://${loc.bucket}/${loc.prefix}`,
    stagingDir: resolve(options.stagingDir),
    list: async () => (await store()).list(),
    publish: async (artifactTemp, manifest) => (await store()).publish(artifactTemp, manifest),
    fetchArtifact: async (manifest) => (await store()).fetchArtifact(manifest),
    saveManifest: async (manifest) => (await store()).saveManifest(manifest),
    remove: async (id) => (await store()).remove(id),
  };
}
