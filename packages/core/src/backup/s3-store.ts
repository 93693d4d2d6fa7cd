import { createReadStream, createWriteStream, renameSync, rmSync, unlinkSync } from 'node:fs';
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
  artifactFile,
  BACKUP_ID_RE,
  type ListedBackups,
  type Manifest,
  manifestFile,
  manifestSchema,
} from './manifest.js';
import type { BackupStore, S3Location, S3StoreOptions } from './store.js';

// The AWS SDK is most of a backup bundle's code (~450 KiB). This module (`@ora/core/s3`) is the only
// one that imports it, and the rest of core reaches it only through `s3Store` in store.ts, which
// imports it on the store's first request: a run with a local backup directory, and every job
// that stores nothing, never loads the SDK.

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
 * backup always has its artifact. `loc` is `options.url` parsed (parseS3Url).
 */
export function s3ClientStore(options: S3StoreOptions, loc: S3Location): BackupStore {
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
