import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import S3rver from 's3rver';

/** An S3-compatible server (s3rver) on 127.0.0.1 with one empty bucket, for backup store tests. */
export interface LocalBucket {
  /** `http://127.0.0.1:<port>`: the endpoint to give the S3 client (path-style addressing). */
  endpoint: string;
  /** Stops the server and removes its files. */
  stop(): Promise<void>;
}

/**
 * Starts s3rver on a free port of 127.0.0.1 with the bucket `bucket`, stored in a temp folder.
 * Its credentials are `S3RVER` / `S3RVER`. Own subpath (`@ora/testkit/s3`): loading s3rver is slow,
 * and only the S3 tests need it.
 */
export async function startLocalBucket(bucket = 'ora-backups'): Promise<LocalBucket> {
  const dir = mkdtempSync(join(tmpdir(), 'ora-s3rver-'));
  const server = new S3rver({
    port: 0,
    address: '127.0.0.1',
    silent: true,
    directory: dir,
    configureBuckets: [{ name: bucket, configs: [] }],
  });
  const { port } = (await server.run()) as { port: number };
  return {
    endpoint: `http://127.0.0.1:${port}`,
    async stop() {
      await server.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
