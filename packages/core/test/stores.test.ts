import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tempDir } from '@ora/testkit';
import { type LocalBucket, startLocalBucket } from '@ora/testkit/s3';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { manifestFile } from '../src/backup/manifest.js';
import { backupSource, restoreBackup } from '../src/backup/restore.js';
import { type BackupStore, localStore, parseS3Url, s3Store } from '../src/backup/store.js';
import { verifyBackup } from '../src/backup/verify.js';
import { BackupInvalidError, InvalidInputError, IoError } from '../src/errors/errors.js';
import { createOraDatabase } from '../src/testing/index.js';
import { backupOnce } from './helpers.js';

// Both backup stores through the one BackupStore interface: a local directory, and an S3 bucket
// served by s3rver on 127.0.0.1. The same backup goes through publish, list, fetch, verify,
// restore and remove on each.

let bucket: LocalBucket;
let endpoint: string;
const savedEnv = { ...process.env };

beforeAll(async () => {
  bucket = await startLocalBucket();
  endpoint = bucket.endpoint;
  process.env.AWS_ACCESS_KEY_ID = 'S3RVER';
  process.env.AWS_SECRET_ACCESS_KEY = 'S3RVER';
});
afterAll(async () => {
  process.env = savedEnv;
  await bucket.stop();
});

let t: ReturnType<typeof tempDir>;
let live: string;
beforeEach(() => {
  t = tempDir();
  live = t.path('ora.db');
  createOraDatabase(live, 100);
});
afterEach(() => t.cleanup());

const backupInto = (store: BackupStore) => backupOnce(live, store);

const stores: [string, () => BackupStore][] = [
  ['local directory', () => localStore(t.path('backups'))],
  [
    's3rver bucket',
    () =>
      s3Store({
        url: `s3://ora-backups/prod/${Date.now()}-${Math.random().toString(16).slice(2)}`,
        endpoint,
        region: 'us-east-1',
        forcePathStyle: true,
        stagingDir: t.path('staging'),
      }),
  ],
];

describe.each(stores)('BackupStore: %s', (_name, makeStore) => {
  it('publishes, lists, fetches, verifies, restores from and removes a backup', async () => {
    const store = makeStore();
    expect(await store.list()).toEqual({ backups: [], unreadable: [] });
    const manifest = await backupInto(store);
    expect((await store.list()).backups).toEqual([manifest]);
    const fetched = await store.fetchArtifact(manifest);
    expect(fetched).not.toBeNull();
    expect(readFileSync(fetched?.path as string).length).toBe(manifest.artifact.bytes);
    fetched?.release();
    const verified = await verifyBackup(store, manifest, 10);
    expect(verified.ok).toBe(true);
    // The verification is saved back into the store's manifest.
    expect((await store.list()).backups[0]?.lastVerification?.ok).toBe(true);
    const to = t.path('restored.db');
    const restored = await restoreBackup({
      source: backupSource(store, manifest),
      target: to,
      toNewPath: true,
      busyTimeoutMs: 2000,
      maxProblems: 10,
    });
    expect(restored.tables).toEqual(manifest.snapshot.tables);
    await store.remove(manifest.id);
    expect((await store.list()).backups).toEqual([]);
    expect(await store.fetchArtifact(manifest)).toBeNull();
    // Nothing downloaded or staged is left behind.
    expect(readdirSync(store.stagingDir).filter((f) => f.startsWith('.tmp-'))).toEqual([]);
  });
});

describe('localStore', () => {
  it('names a manifest it cannot read instead of skipping it silently', async () => {
    const store = localStore(t.path('backups'));
    const manifest = await backupInto(store);
    const broken = manifestFile(manifest.id.replace(/.$/, manifest.id.endsWith('0') ? '1' : '0'));
    writeFileSync(join(store.stagingDir, broken), '{"formatVersion": 1');
    const listed = await store.list();
    expect(listed.backups.map((b) => b.id)).toEqual([manifest.id]);
    expect(listed.unreadable.map((u) => u.file)).toEqual([broken]);
  });

  it('refuses to read an artifact through a symbolic link', async () => {
    const store = localStore(t.path('backups'));
    const manifest = await backupInto(store);
    const artifact = join(store.stagingDir, manifest.artifact.file);
    const elsewhere = t.path('elsewhere.zst');
    writeFileSync(elsewhere, readFileSync(artifact));
    rmSync(artifact);
    symlinkSync(elsewhere, artifact);
    await expect(store.fetchArtifact(manifest)).rejects.toBeInstanceOf(BackupInvalidError);
    expect((await verifyBackup(store, manifest, 10).catch((e: Error) => e)) instanceof BackupInvalidError).toBe(true);
  });

  it('resolves a symlinked backup directory once and names the real one', () => {
    const real = t.path('real-backups');
    mkdirSync(real);
    symlinkSync(real, t.path('link'));
    const store = localStore(t.path('link'));
    expect(store.location).toBe(real);
  });
});

describe('s3Store', () => {
  it('refuses a --dest that is not an s3://bucket/prefix URL, before any request', () => {
    for (const bad of ['https://bucket/x', 's3://', 's3://B/x', 's3://bucket/../x', 's3://bucket/a/./b']) {
      expect(parseS3Url(bad)).toBeNull();
      expect(() =>
        s3Store({ url: bad, endpoint, region: 'us-east-1', forcePathStyle: true, stagingDir: t.path('s') }),
      ).toThrow(InvalidInputError);
    }
    expect(parseS3Url('s3://ora-backups//prod/db/')).toEqual({ bucket: 'ora-backups', prefix: 'prod/db/' });
    expect(existsSync(t.path('s'))).toBe(false);
  });

  it('fails with IO_ERROR naming the bucket when it does not exist', async () => {
    const store = s3Store({
      url: 's3://no-such-bucket/prod',
      endpoint,
      region: 'us-east-1',
      forcePathStyle: true,
      stagingDir: t.path('staging'),
    });
    const error = (await store.list().catch((e: Error) => e)) as IoError;
    expect(error).toBeInstanceOf(IoError);
    expect(error.message).toMatch(/^S3 listing of s3:\/\/no-such-bucket\/prod\/ failed \(NoSuchBucket/);
  });
});
