import { createReadStream, createWriteStream, existsSync, lstatSync, renameSync, rmSync, unlinkSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import {
  DeleteObjectCommand,
  GetObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3Client,
} from '@aws-sdk/client-s3';
import { BackupInvalidError, InvalidInputError, IoError } from '../errors/errors.js';
import { ensurePrivateDir, fsyncDir, ioError, realDir } from '../fs/files.js';
import {
  artifactFile,
  BACKUP_ID_RE,
  deleteBackup,
  type ListedBackups,
  listBackups,
  type Manifest,
  manifestFile,
  manifestSchema,
  writeManifest,
} from './manifest.js';

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

function s3Error(error: unknown, what: string): IoError {
  const name = (error as Error).name ?? 'Error';
  return new IoError(
    `S3 ${what} failed (${name}: ${(error as Error).message}); check the bucket, the endpoint and the AWS credentials in the environment`,
    'IO_ERROR',
    { cause: error },
  );
}

/**
 * Backups in an S3-compatible bucket. Credentials come only from the AWS SDK's standard chain
 * (AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, AWS_PROFILE, ~/.aws, instance roles): this toolkit
 * never reads, logs or stores them. The manifest is uploaded after the artifact, so a listed
 * backup always has its artifact.
 */
export function s3Store(options: S3StoreOptions): BackupStore {
  const loc = parseS3Url(options.url);
  if (!loc) throw new InvalidInputError(`--dest ${options.url} is not an s3://bucket/prefix URL`);
  const client = new S3Client({
    region: options.region,
    forcePathStyle: options.forcePathStyle,
    // Integrity is ours (SHA-256 in the manifest, checked on every read). The SDK's default
    // aws-chunked trailing checksums are not understood by many S3-compatible servers.
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
    ...(options.endpoint ? { endpoint: options.endpoint } : {}),
  });
  const staging = resolve(options.stagingDir);
  const key = (file: string) => `${loc.prefix}${file}`;
  const location = `s3://${loc.bucket}/${loc.prefix}`;
  const getText = async (k: string): Promise<string> => {
    const out = await client.send(new GetObjectCommand({ Bucket: loc.bucket, Key: k }));
    return (await out.Body?.transformToString()) ?? '';
  };
  const putManifest = async (manifest: Manifest) => {
    try {
      await client.send(
        new PutObjectCommand({
          Bucket: loc.bucket,
          Key: key(manifestFile(manifest.id)),
          Body: `${JSON.stringify(manifest, null, 2)}\n`,
          ContentType: 'application/json',
        }),
      );
    } catch (error) {
      throw s3Error(error, `upload of ${manifestFile(manifest.id)}`);
    }
  };
  return {
    location,
    stagingDir: staging,
    async list() {
      const backups: Manifest[] = [];
      const unreadable: ListedBackups['unreadable'] = [];
      let token: string | undefined;
      try {
        do {
          const page = await client.send(
            new ListObjectsV2Command({ Bucket: loc.bucket, Prefix: loc.prefix, ContinuationToken: token }),
          );
          for (const obj of page.Contents ?? []) {
            const name = (obj.Key ?? '').slice(loc.prefix.length);
            if (!name.endsWith('.json') || !BACKUP_ID_RE.test(name.slice(0, -5))) continue;
            try {
              const parsed = manifestSchema.safeParse(JSON.parse(await getText(obj.Key as string)));
              if (parsed.success && parsed.data.id === name.slice(0, -5)) backups.push(parsed.data);
              else unreadable.push({ file: name, problem: 'manifest does not match its schema' });
            } catch (error) {
              unreadable.push({ file: name, problem: (error as Error).message });
            }
          }
          token = page.IsTruncated ? page.NextContinuationToken : undefined;
        } while (token);
      } catch (error) {
        throw s3Error(error, `listing of ${location}`);
      }
      backups.sort((a, b) => a.createdAt.localeCompare(b.createdAt));
      return { backups, unreadable };
    },
    async publish(artifactTemp, manifest) {
      try {
        await client.send(
          new PutObjectCommand({
            Bucket: loc.bucket,
            Key: key(manifest.artifact.file),
            Body: createReadStream(artifactTemp),
            ContentLength: manifest.artifact.bytes,
            ContentType: manifest.artifact.compression === 'zstd' ? 'application/zstd' : 'application/gzip',
          }),
        );
      } catch (error) {
        throw s3Error(error, `upload of ${manifest.artifact.file}`);
      } finally {
        try {
          unlinkSync(artifactTemp);
        } catch {
          // already gone
        }
      }
      await putManifest(manifest);
    },
    async fetchArtifact(manifest) {
      ensurePrivateDir(staging);
      const path = join(staging, `.tmp-download-${manifest.artifact.file}`);
      const partial = `${path}.part`;
      rmSync(partial, { force: true }); // a killed run's leftover, in our private staging directory
      try {
        const out = await client.send(new GetObjectCommand({ Bucket: loc.bucket, Key: key(manifest.artifact.file) }));
        await pipeline(out.Body as Readable, createWriteStream(partial, { mode: 0o600, flags: 'wx' }));
        renameSync(partial, path);
      } catch (error) {
        try {
          unlinkSync(partial);
        } catch {
          // nothing written
        }
        if ((error as Error).name === 'NoSuchKey') return null;
        throw s3Error(error, `download of ${manifest.artifact.file}`);
      }
      return {
        path,
        release: () => {
          try {
            unlinkSync(path);
          } catch {
            // already gone
          }
        },
      };
    },
    saveManifest: putManifest,
    async remove(id) {
      for (const file of [manifestFile(id), artifactFile(id, 'zstd'), artifactFile(id, 'gzip')]) {
        try {
          await client.send(new DeleteObjectCommand({ Bucket: loc.bucket, Key: key(file) }));
        } catch (error) {
          throw s3Error(error, `delete of ${file}`);
        }
      }
    },
  };
}
