import {
  closeSync,
  createReadStream,
  createWriteStream,
  fsyncSync,
  openSync,
  renameSync,
  rmSync,
  unlinkSync,
} from 'node:fs';
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
import { IoError } from '../errors/errors.js';
import { ensurePrivateDir } from '../fs/files.js';
import {
  artifactFiles,
  BACKUP_ID_RE,
  type ListedBackups,
  type Manifest,
  manifestFile,
  manifestSchema,
} from './manifest.js';
import type { BackupStore, S3Location, S3StoreOptions } from './store.js';

// The AWS SDK is most of a backup bundle's code (~450 KiB). This module (`@ora/core/s3`) is the only
// one that imports it, and the rest of core reaches it only through `s3Store` in store.ts (full
// backups) and `openPointStore` in pitr/point-store.ts (restore points), which import it on the
// store's first request: a run with a local backup directory, and every job that stores nothing,
// never loads the SDK.

function s3Error(error: unknown, what: string): IoError {
  const name = (error as Error).name ?? 'Error';
  return new IoError(
    `S3 ${what} failed (${name}: ${(error as Error).message}); check the bucket, the endpoint and the AWS credentials in the environment`,
    'IO_ERROR',
    { cause: error },
  );
}

/** How to reach the bucket: the same for full backups and restore points. */
export interface S3ClientOptions {
  region: string;
  forcePathStyle: boolean;
  /** S3-compatible endpoint (MinIO, s3rver, …); default AWS. */
  endpoint?: string | undefined;
}

export interface S3Object {
  key: string;
  size: number;
  /** The ETag without quotes: a single-part upload's MD5 on AWS and s3rver (others differ: then it has a '-'). */
  etag: string;
}

/**
 * The object operations both S3 stores use, on one bucket. Every failure is an IoError worded by
 * s3Error, naming `label` (default `s3://bucket/key`); a missing object is `null`/`false`, not an
 * error. Bodies are streamed from and to files, never held whole in memory.
 */
export interface S3Objects {
  readonly bucket: string;
  /** Every object under `prefix` (all pages of the listing). */
  list(prefix: string, label?: string): Promise<S3Object[]>;
  putText(key: string, text: string, contentType: string, label?: string): Promise<void>;
  /** Uploads a local file of `bytes` bytes. */
  putFile(key: string, path: string, bytes: number, contentType: string, label?: string): Promise<void>;
  getText(key: string, label?: string): Promise<string | null>;
  /**
   * Downloads into `path` (a new file, 0600) through `path.part`, fsynced, then renamed; false
   * (and nothing at `path`) when there is no such object.
   */
  getFile(key: string, path: string, label?: string): Promise<boolean>;
  remove(key: string, label?: string): Promise<void>;
}

const SILENT = { debug() {}, info() {}, warn() {}, error() {} };
/** Attempts at uploading a file (streamed, so not retried by the SDK). */
const FILE_UPLOAD_ATTEMPTS = 3;

/** A server error, throttling or a dropped connection: worth another attempt (not a missing bucket or a denial). */
function retryable(error: unknown): boolean {
  const status = (error as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode;
  if (status !== undefined) return status >= 500 || status === 429;
  return true;
}

export function s3Objects(options: S3ClientOptions, bucket: string): S3Objects {
  const client = new S3Client({
    region: options.region,
    forcePathStyle: options.forcePathStyle,
    // Integrity is ours (SHA-256 in the manifests, checked on every read). The SDK's default
    // aws-chunked trailing checksums are not understood by many S3-compatible servers.
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
    ...(options.endpoint ? { endpoint: options.endpoint } : {}),
    // The SDK's default logger is silent, except that a failed streamed upload prints a line to
    // the console ("non-retryable streaming request"): ours says what failed, once (below).
    logger: SILENT,
  });
  const url = (key: string) => `s3://${bucket}/${key}`;
  const missing = (error: unknown) => (error as Error).name === 'NoSuchKey';
  return {
    bucket,
    async list(prefix, label) {
      const out: S3Object[] = [];
      let token: string | undefined;
      try {
        do {
          const page = await client.send(
            new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix, ContinuationToken: token }),
          );
          for (const obj of page.Contents ?? []) {
            out.push({ key: obj.Key ?? '', size: obj.Size ?? 0, etag: (obj.ETag ?? '').replaceAll('"', '') });
          }
          token = page.IsTruncated ? page.NextContinuationToken : undefined;
        } while (token);
      } catch (error) {
        throw s3Error(error, `listing of ${label ?? url(prefix)}`);
      }
      return out;
    },
    async putText(key, text, contentType, label) {
      try {
        await client.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: text, ContentType: contentType }));
      } catch (error) {
        throw s3Error(error, `upload of ${label ?? url(key)}`);
      }
    },
    async putFile(key, path, bytes, contentType, label) {
      // The SDK retries a request whose body it can replay, not a streamed file: so here, each
      // attempt with a new stream.
      for (let attempt = 1; ; attempt++) {
        try {
          await client.send(
            new PutObjectCommand({
              Bucket: bucket,
              Key: key,
              Body: createReadStream(path),
              ContentLength: bytes,
              ContentType: contentType,
            }),
          );
          return;
        } catch (error) {
          if (attempt >= FILE_UPLOAD_ATTEMPTS || !retryable(error)) {
            throw s3Error(error, `upload of ${label ?? url(key)}`);
          }
          await new Promise((r) => setTimeout(r, 250 * 4 ** (attempt - 1)));
        }
      }
    },
    async getText(key, label) {
      try {
        const out = await client.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
        return (await out.Body?.transformToString()) ?? '';
      } catch (error) {
        if (missing(error)) return null;
        throw s3Error(error, `download of ${label ?? url(key)}`);
      }
    },
    async getFile(key, path, label) {
      const partial = `${path}.part`;
      rmSync(partial, { force: true }); // a killed run's leftover, in our private directory
      try {
        const out = await client.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
        await pipeline(out.Body as Readable, createWriteStream(partial, { mode: 0o600, flags: 'wx' }));
        const fd = openSync(partial, 'r');
        try {
          fsyncSync(fd);
        } finally {
          closeSync(fd);
        }
        renameSync(partial, path);
        return true;
      } catch (error) {
        rmSync(partial, { force: true });
        if (missing(error)) return false;
        throw s3Error(error, `download of ${label ?? url(key)}`);
      }
    },
    async remove(key, label) {
      try {
        await client.send(new DeleteObjectCommand({ Bucket: bucket, Key: key }));
      } catch (error) {
        throw s3Error(error, `delete of ${label ?? url(key)}`);
      }
    },
  };
}

/**
 * Backups in an S3-compatible bucket. Credentials come only from the AWS SDK's standard chain
 * (AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, AWS_PROFILE, ~/.aws, instance roles): this toolkit
 * never reads, logs or stores them. The manifest is uploaded after the artifact, so a listed
 * backup always has its artifact. `loc` is `options.url` parsed (parseS3Url).
 */
export function s3ClientStore(options: S3StoreOptions, loc: S3Location): BackupStore {
  const s3 = s3Objects(options, loc.bucket);
  const staging = resolve(options.stagingDir);
  const key = (file: string) => `${loc.prefix}${file}`;
  const location = `s3://${loc.bucket}/${loc.prefix}`;
  const putManifest = async (manifest: Manifest) =>
    s3.putText(
      key(manifestFile(manifest.id)),
      `${JSON.stringify(manifest, null, 2)}\n`,
      'application/json',
      manifestFile(manifest.id),
    );
  return {
    location,
    stagingDir: staging,
    async list() {
      const backups: Manifest[] = [];
      const unreadable: ListedBackups['unreadable'] = [];
      for (const obj of await s3.list(loc.prefix, location)) {
        const name = obj.key.slice(loc.prefix.length);
        if (!name.endsWith('.json') || !BACKUP_ID_RE.test(name.slice(0, -5))) continue;
        try {
          const parsed = manifestSchema.safeParse(JSON.parse((await s3.getText(obj.key, location)) ?? ''));
          if (parsed.success && parsed.data.id === name.slice(0, -5)) backups.push(parsed.data);
          else unreadable.push({ file: name, problem: 'manifest does not match its schema' });
        } catch (error) {
          unreadable.push({ file: name, problem: (error as Error).message });
        }
      }
      backups.sort((a, b) => a.createdAt.localeCompare(b.createdAt));
      return { backups, unreadable };
    },
    async publish(artifactTemp, manifest) {
      try {
        await s3.putFile(
          key(manifest.artifact.file),
          artifactTemp,
          manifest.artifact.bytes,
          manifest.artifact.encryption
            ? 'application/octet-stream'
            : manifest.artifact.compression === 'zstd'
              ? 'application/zstd'
              : 'application/gzip',
          manifest.artifact.file,
        );
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
      if (!(await s3.getFile(key(manifest.artifact.file), path, manifest.artifact.file))) return null;
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
      for (const file of [manifestFile(id), ...artifactFiles(id)]) {
        await s3.remove(key(file), file);
      }
    },
  };
}
