import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createOraDatabase } from '@ora/core/testing';
import { bundleRunnerAsync, contentHash, tableContents, tempDir } from '@ora/testkit';
import { type LocalBucket, startLocalBucket } from '@ora/testkit/s3';
import Database from 'better-sqlite3';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const backup = bundleRunnerAsync(root);
const restore = bundleRunnerAsync(join(root, '../restore'));
const verify = bundleRunnerAsync(join(root, '../backup-verify'));

const SECRET = 'planted-SECRET-key-9f8e7d';
let bucket: LocalBucket;
let env: Record<string, string>;

beforeAll(async () => {
  bucket = await startLocalBucket();
  env = {
    ORA_S3_ENDPOINT: bucket.endpoint,
    ORA_S3_FORCE_PATH_STYLE: 'true',
    AWS_ACCESS_KEY_ID: 'S3RVER',
    AWS_SECRET_ACCESS_KEY: 'S3RVER',
    AWS_SESSION_TOKEN: SECRET,
  };
});
afterAll(async () => {
  await bucket.stop();
});

let t: ReturnType<typeof tempDir>;
beforeEach(() => {
  t = tempDir();
});
afterEach(() => t.cleanup());

describe('backups in S3 (s3rver on 127.0.0.1)', () => {
  it('backs up, lists, verifies, applies retention and restores through --dest, never printing credentials', async () => {
    const db = t.path('ora.db');
    createOraDatabase(db, 200);
    const dest = `s3://ora-backups/prod/${Date.now()}`;
    const staging = t.path('staging');
    const args = ['--db', db, '--dest', dest, '--backup-dir', staging];
    const metrics = t.path('backup.prom');
    const first = await backup([...args, '--json', '--verbose', '--metrics-file', metrics], env);
    expect(first.code).toBe(0);
    const id = first.json().backupId;
    expect(first.json().artifact).toBe(`${dest}/${id}.db.zst`);
    const second = await backup([...args, '--json', '--verbose'], env);
    expect(second.code).toBe(0);
    expect(second.json().retention.kept.map((k: { id: string }) => k.id)).toContain(id);
    const checked = await verify(['all', '--dest', dest, '--backup-dir', staging, '--json'], env);
    expect(checked.code).toBe(0);
    expect(checked.json()).toMatchObject({ status: 'ok', verified: 2, failed: 0 });
    const to = t.path('restored.db');
    const back = await restore([id, '--db', db, '--dest', dest, '--backup-dir', staging, '--to', to, '--json'], env);
    expect(back.code).toBe(0);
    expect(contentHash(to)).toBe(contentHash(db));
    expect(readFileSync(metrics, 'utf8')).toMatch(/^ora_/m);
    expect(readFileSync(metrics, 'utf8')).not.toContain(SECRET);
    expect(readFileSync(metrics, 'utf8')).not.toContain('S3RVER');
    for (const r of [first, second, checked, back]) {
      expect(r.stdout + r.stderr).not.toContain(SECRET);
      expect(r.stdout + r.stderr).not.toContain('S3RVER');
    }
  });

  it('exits 3 with one clear line when the bucket does not exist', async () => {
    const db = t.path('ora.db');
    createOraDatabase(db, 5);
    const r = await backup(['--db', db, '--dest', 's3://no-such-bucket/x', '--backup-dir', t.path('staging')], env);
    expect(r.code).toBe(3);
    expect(r.logs.at(-1)?.msg).toMatch(/^S3 upload of ora-.*\.db\.zst failed \(NoSuchBucket/);
  });

  it('refuses a malformed --dest with exit 2', async () => {
    const r = await backup(['--db', t.path('x.db'), '--dest', 's3://UPPER/../x'], env);
    expect(r.code).toBe(2);
    expect(r.logs[0]?.msg).toMatch(
      /^invalid input: --dest="s3:\/\/UPPER\/\.\.\/x": expected an s3:\/\/bucket\/prefix URL/,
    );
  });

  it('takes restore points on S3 (a few KB a point), verifies them and restores each --at its time', async () => {
    const db = t.path('ora.db');
    createOraDatabase(db, 200);
    const dest = `s3://ora-backups/points/${Date.now()}`;
    const staging = t.path('staging');
    const args = ['--dest', dest, '--backup-dir', staging];
    const states: { id: string; at: string; contents: Record<string, string> }[] = [];
    for (let i = 0; i < 3; i++) {
      const raw = new Database(db);
      raw.pragma('journal_mode = WAL');
      raw.prepare("INSERT INTO workflows (name, status, details) VALUES (?, 'ok', 's3')").run(`s3-${i}`);
      raw.close();
      const r = await backup(['--incremental', '--db', db, ...args, '--json'], env);
      expect(r.code, r.stderr).toBe(0);
      const p = r.json().point;
      states.push({ id: p.id, at: p.createdAt, contents: tableContents(db) });
      if (i > 0) expect(p.storedBytes).toBeLessThan(20_000);
    }
    const list = await verify(['all', ...args, '--json', '--point-sample', '2'], env);
    expect(list.code, list.stderr).toBe(0);
    expect(list.json().points.points.filter((p: { rebuilt: boolean }) => p.rebuilt)).toHaveLength(3);
    for (const [i, s] of states.entries()) {
      const to = t.path(`s3-at-${i}.db`);
      const r = await restore(['--at', s.at, '--to', to, ...args, '--json'], env);
      expect(r.code, r.stderr).toBe(0);
      expect(r.json()).toMatchObject({ backupId: s.id, kind: 'point' });
      expect(tableContents(to)).toEqual(s.contents);
    }
    for (const r of [list]) expect(`${r.stdout}${r.stderr}`).not.toContain(SECRET);
  });

  it('publishes the same verified artifact to a local directory and a bucket; lists and verifies each', async () => {
    const db = t.path('ora.db');
    createOraDatabase(db, 100);
    const local = t.path('copy');
    const dest = `s3://ora-backups/two/${Date.now()}`;
    const args = ['--dest', local, '--dest', dest, '--backup-dir', t.path('staging')];
    const r = await backup(['--db', db, ...args, '--json'], env);
    expect(r.code, r.stderr).toBe(0);
    const result = r.json();
    expect(result.destinations.map((d: { location: string; published: boolean }) => [d.location, d.published])).toEqual(
      [
        [local, true],
        [`${dest}/`, true],
      ],
    );
    expect(readFileSync(join(local, `${result.backupId}.json`), 'utf8')).toContain(result.manifest.artifact.sha256);
    const checked = await verify(['all', ...args, '--json'], env);
    expect(checked.code, checked.stderr).toBe(0);
    expect(checked.json()).toMatchObject({ verified: 1, failed: 0, otherDestinations: [{ verified: 1, failed: 0 }] });
    // One destination failing (a file where a directory should be): the other still gets it, exit 1, named.
    const blocked = t.path('not-a-dir');
    writeFileSync(blocked, 'x');
    const half = await backup(
      ['--db', db, '--dest', dest, '--dest', blocked, '--backup-dir', t.path('staging'), '--json'],
      env,
    );
    expect(half.code).toBe(1);
    const h = half.json();
    expect(h.status).toBe('failed');
    expect(h.destinations[0]).toMatchObject({ published: true });
    expect(h.destinations[1]).toMatchObject({ location: blocked, published: false });
    expect(h.destinations[1].error).toMatch(/not-a-dir/);
    const human = await backup(['--db', db, '--dest', dest, '--dest', blocked, '--backup-dir', t.path('staging')], env);
    expect(human.stdout).toMatch(
      /^backup: failed — .*; 1 of 2 destinations\n {2}ok {5}s3:\/\/.*\n {2}FAILED .*not-a-dir: /,
    );
    const listed = await verify(['all', '--dest', dest, '--backup-dir', t.path('staging'), '--json'], env);
    expect(listed.json().verified).toBe(3);
  });

  it('refuses bad destinations with exit 2, creating nothing', async () => {
    const db = t.path('ora.db');
    createOraDatabase(db, 5);
    const d = t.path('d');
    for (const [args, message] of [
      [['--dest', d, '--dest', d], /a destination is given twice/],
      [['--dest', 'https://bucket/x'], /expected an s3:\/\/bucket\/prefix URL .* or a directory path/],
      [Array.from({ length: 9 }, (_, i) => ['--dest', `${d}${i}`]).flat(), /expected at most 8 destinations/],
      [['--dest', d, '--dest', t.path('e'), '--incremental'], /uses one destination, got 2/],
    ] as const) {
      const r = await backup(['--db', db, '--backup-dir', t.path('staging'), ...args], env);
      expect(r.code, args.join(' ')).toBe(2);
      expect(r.logs.at(-1)?.msg).toMatch(message);
    }
    const fromEnv = await backup(['--db', db, '--backup-dir', t.path('staging')], {
      ...env,
      ORA_BACKUP_DEST: `${d},${d}`,
    });
    expect(fromEnv.code).toBe(2);
    expect(fromEnv.logs.at(-1)?.msg).toMatch(/^invalid configuration .*ORA_BACKUP_DEST=/);
    expect(existsSync(d)).toBe(false);
    expect(existsSync(t.path('staging'))).toBe(false);
  });
});
