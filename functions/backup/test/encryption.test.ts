import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, watch, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gunzipSync } from 'node:zlib';
import { POINTS_SUBDIR, pointPacks } from '@ora/core/pitr';
import { createOraDatabase } from '@ora/core/testing';
import { bundleRunner, bundleRunnerAsync, contentHash, tempDir } from '@ora/testkit';
import { type LocalBucket, startLocalBucket } from '@ora/testkit/s3';
import Database from 'better-sqlite3';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { decompress } from 'zstd-napi';

// Encryption at rest (docs/BACKUP.md): encrypted artifacts round-trip, never start with a
// compressor's magic, never decompress without the key, refuse missing/wrong keys with nothing
// touched, survive a key rotation and a SIGKILL, and no plaintext or key ever leaks.

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const backup = bundleRunner(root);
const backupAsync = bundleRunnerAsync(root);
const restore = bundleRunner(join(root, '../restore'));
const restoreAsync = bundleRunnerAsync(join(root, '../restore'));
const verify = bundleRunner(join(root, '../backup-verify'));
const verifyAsync = bundleRunnerAsync(join(root, '../backup-verify'));

const ZSTD_MAGIC = Buffer.from([0x28, 0xb5, 0x2f, 0xfd]);
const GZIP_MAGIC = Buffer.from([0x1f, 0x8b]);
const SQLITE_HEADER = Buffer.from('SQLite format 3\0', 'latin1');

let t: ReturnType<typeof tempDir>;
let db: string;
let dir: string;
let rawKey: string;
let passKey: string;
beforeEach(() => {
  t = tempDir();
  db = t.path('ora.db');
  dir = t.path('backups');
  rawKey = t.path('raw.key');
  writeFileSync(rawKey, randomBytes(32), { mode: 0o600 });
  passKey = t.path('pass.key');
  writeFileSync(passKey, 'a long enough passphrase for tests\n', { mode: 0o600 });
});
afterEach(() => t.cleanup());

const sha = (path: string) => createHash('sha256').update(readFileSync(path)).digest('hex');
const manifests = () =>
  readdirSync(dir)
    .filter((f) => f.endsWith('.json') && !f.startsWith('.'))
    .sort();
const manifestOf = (id: string) => JSON.parse(readFileSync(join(dir, `${id}.json`), 'utf8'));

function expectUnreadableWithoutKey(artifact: Buffer): void {
  expect(artifact.subarray(0, 4).equals(ZSTD_MAGIC)).toBe(false);
  expect(artifact.subarray(0, 2).equals(GZIP_MAGIC)).toBe(false);
  expect(artifact.includes(SQLITE_HEADER)).toBe(false);
  expect(() => decompress(artifact)).toThrow();
  expect(() => gunzipSync(artifact)).toThrow();
}

describe('encrypted full backups (local directory)', () => {
  it.each([
    ['a raw 32-byte key, zstd', 'raw', 'zstd'],
    ['a passphrase, gzip', 'pass', 'gzip'],
  ] as const)('round-trips with %s: backup, verify, restore --to', (_name, which, compression) => {
    createOraDatabase(db, 300);
    const key = which === 'raw' ? rawKey : passKey;
    const r = backup([
      '--db',
      db,
      '--backup-dir',
      dir,
      '--compression',
      compression,
      '--encrypt-key-file',
      key,
      '--json',
    ]);
    expect(r.code, r.stderr).toBe(0);
    const id = r.json().backupId as string;
    const m = manifestOf(id);
    expect(m.artifact.file).toBe(`${id}.db.${compression === 'zstd' ? 'zst' : 'gz'}.enc`);
    expect(m.artifact.encryption).toMatchObject({
      scheme: 'aes-256-gcm-stream-v1',
      keyId: expect.stringMatching(/^[0-9a-f]{16}$/),
      kdf: { kind: which === 'raw' ? 'raw' : 'scrypt' },
    });
    const artifact = readFileSync(join(dir, m.artifact.file));
    expect(createHash('sha256').update(artifact).digest('hex')).toBe(m.artifact.sha256);
    expect(artifact.length).toBe(m.artifact.bytes);
    expectUnreadableWithoutKey(artifact);
    const v = verify(['all', '--backup-dir', dir, '--encrypt-key-file', key, '--json']);
    expect(v.code, v.stderr).toBe(0);
    expect(v.json()).toMatchObject({ status: 'ok', verified: 1, failed: 0 });
    const to = t.path('restored.db');
    const back = restore([id, '--db', db, '--backup-dir', dir, '--to', to, '--encrypt-key-file', key, '--json']);
    expect(back.code, back.stderr).toBe(0);
    expect(contentHash(to)).toBe(contentHash(db));
  });

  it('restores an encrypted backup into the live database', () => {
    createOraDatabase(db, 100);
    expect(backup(['--db', db, '--backup-dir', dir, '--encrypt-key-file', rawKey]).code).toBe(0);
    const before = contentHash(db);
    createOraDatabase(t.path('other.db'), 5);
    const r = restore(['latest', '--db', db, '--backup-dir', dir, '--encrypt-key-file', rawKey, '--json']);
    expect(r.code, r.stderr).toBe(0);
    expect(contentHash(db)).toBe(before);
  });

  it('never lets plaintext into the backup directory: every file made there during backup and verify is checked', async () => {
    createOraDatabase(db, 3000);
    const seen = new Map<string, boolean>(); // file name -> held SQLite's header when read
    const look = (name: string) => {
      try {
        const bytes = readFileSync(join(dir, name));
        seen.set(name, (seen.get(name) ?? false) || bytes.includes(SQLITE_HEADER));
      } catch {
        if (!seen.has(name)) seen.set(name, false); // gone before it could be read
      }
    };
    const watchWhile = async (run: () => Promise<unknown>) => {
      const watcher = watch(dir, (_event, name) => name && look(name));
      const poll = setInterval(() => {
        for (const name of readdirSync(dir)) look(name);
      }, 2);
      try {
        await run();
      } finally {
        clearInterval(poll);
        watcher.close();
      }
    };
    // The control: unencrypted, the watcher does see the snapshot in the backup directory.
    backup(['--db', db, '--backup-dir', dir]); // creates the directory
    await watchWhile(() => backupAsync(['--db', db, '--backup-dir', dir]));
    expect([...seen.entries()].some(([name, plain]) => name.startsWith('.tmp-') && plain)).toBe(true);
    seen.clear();

    await watchWhile(async () => {
      const r = await backupAsync(['--db', db, '--backup-dir', dir, '--encrypt-key-file', rawKey, '--json']);
      expect(r.code, r.stderr).toBe(0);
      const id = r.json().backupId as string;
      const v = await verifyAsync([id, '--backup-dir', dir, '--encrypt-key-file', rawKey, '--json']);
      expect(v.code, v.stderr).toBe(0);
      const to = t.path('restored.db');
      const back = await restoreAsync([id, '--db', db, '--backup-dir', dir, '--to', to, '--encrypt-key-file', rawKey]);
      expect(back.code, back.stderr).toBe(0);
    });
    const names = [...seen.keys()];
    expect(names.some((n) => n.endsWith('.db.zst.enc'))).toBe(true);
    expect(names.some((n) => n.startsWith('.tmp-'))).toBe(true); // the artifact's temp was seen too
    expect([...seen.entries()].filter(([, plain]) => plain)).toEqual([]);
    // Nothing left beside the database either.
    expect(readdirSync(t.dir).filter((n) => n.startsWith('.ora-'))).toEqual([]);
  });

  it('refuses a missing or wrong key (exit 2, naming the key id) and a tampered artifact (exit 1), touching nothing', () => {
    createOraDatabase(db, 200);
    const r = backup(['--db', db, '--backup-dir', dir, '--encrypt-key-file', rawKey, '--json']);
    expect(r.code).toBe(0);
    const id = r.json().backupId as string;
    const m = manifestOf(id);
    const keyId = m.artifact.encryption.keyId as string;
    const liveBefore = sha(db);
    const manifestBefore = readFileSync(join(dir, `${id}.json`), 'utf8');
    const otherKey = t.path('other.key');
    writeFileSync(otherKey, randomBytes(32));
    const to = t.path('restored.db');

    const cases: [string[], number, RegExp][] = [
      [[], 2, new RegExp(`is encrypted with key id ${keyId}; give its key file with --encrypt-key-file`)],
      [['--encrypt-key-file', otherKey], 2, new RegExp(`key id ${keyId} .*none of the 1 key file\\(s\\) given has it`)],
      [['--encrypt-key-file', passKey], 2, new RegExp(`key id ${keyId}`)],
    ];
    for (const [flags, code, message] of cases) {
      for (const target of [['--to', to], []]) {
        const x = restore([id, '--db', db, '--backup-dir', dir, ...target, ...flags]);
        expect(x.code, x.stderr).toBe(code);
        expect(x.logs.at(-1)?.msg).toMatch(message);
        expect(existsSync(to)).toBe(false);
        expect(sha(db)).toBe(liveBefore);
      }
      const v = verify([id, '--backup-dir', dir, ...flags]);
      expect(v.code, v.stderr).toBe(code);
      expect(v.logs.at(-1)?.msg).toMatch(message);
      expect(readFileSync(join(dir, `${id}.json`), 'utf8')).toBe(manifestBefore);
    }
    expect(readdirSync(t.dir).filter((n) => n.startsWith('.ora-'))).toEqual([]);

    // Tampered: one byte flipped inside an encrypted chunk. The manifest's SHA-256 is recomputed
    // too, so only the authentication can catch it.
    const file = join(dir, m.artifact.file);
    const bytes = readFileSync(file);
    const at = Math.floor(bytes.length / 2);
    bytes[at] = (bytes[at] as number) ^ 0x01;
    writeFileSync(file, bytes);
    writeFileSync(
      join(dir, `${id}.json`),
      JSON.stringify({ ...m, artifact: { ...m.artifact, sha256: createHash('sha256').update(bytes).digest('hex') } }),
    );
    for (const target of [['--to', to], []]) {
      const x = restore([id, '--db', db, '--backup-dir', dir, ...target, '--encrypt-key-file', rawKey]);
      expect(x.code, x.stderr).toBe(1);
      expect(x.logs.at(-1)?.msg).toMatch(/does not decrypt \(encrypted chunk \d+ fails authentication/);
      expect(existsSync(to)).toBe(false);
      expect(sha(db)).toBe(liveBefore);
    }
    const v = verify([id, '--backup-dir', dir, '--encrypt-key-file', rawKey, '--json']);
    expect(v.code).toBe(1);
    expect(v.json().results[0].detail).toMatch(/fails authentication/);

    // Truncated at a chunk boundary (header + one whole chunk): the missing last chunk is detected.
    writeFileSync(file, bytes.subarray(0, 72 + 65536 + 16));
    const cut = verify([id, '--backup-dir', dir, '--encrypt-key-file', rawKey, '--json']);
    expect(cut.code).toBe(1);
    expect(cut.json().results[0].ok).toBe(false);
  });

  it('keeps old backups readable after a key rotation (the first key encrypts, all decrypt)', () => {
    createOraDatabase(db, 100);
    const old = backup(['--db', db, '--backup-dir', dir, '--encrypt-key-file', rawKey, '--json']);
    expect(old.code).toBe(0);
    const oldId = old.json().backupId as string;
    const oldHash = contentHash(db);
    createOraDatabase(t.path('unused.db'), 1);
    // Rotation: the new key first, the old one after it.
    const both = `${passKey},${rawKey}`;
    const fresh = backup(['--db', db, '--backup-dir', dir, '--encrypt-key-file', both, '--json']);
    expect(fresh.code, fresh.stderr).toBe(0);
    const freshId = fresh.json().backupId as string;
    expect(manifestOf(freshId).artifact.encryption.kdf.kind).toBe('scrypt');
    expect(manifestOf(oldId).artifact.encryption.kdf.kind).toBe('raw');
    const v = verify(['all', '--backup-dir', dir, '--encrypt-key-file', both, '--json']);
    expect(v.code, v.stderr).toBe(0);
    expect(v.json()).toMatchObject({ verified: 2, failed: 0 });
    for (const id of [oldId, freshId]) {
      const to = t.path(`${id}.db`);
      // The flag repeated is the same as a comma-separated list.
      const keys = ['--encrypt-key-file', passKey, '--encrypt-key-file', rawKey];
      const r = restore([id, '--db', db, '--backup-dir', dir, '--to', to, ...keys]);
      expect(r.code, r.stderr).toBe(0);
      expect(contentHash(to)).toBe(oldHash);
    }
    // With only the new key, the old backup names the key it needs.
    const only = restore([
      oldId,
      '--db',
      db,
      '--backup-dir',
      dir,
      '--to',
      t.path('x.db'),
      '--encrypt-key-file',
      passKey,
    ]);
    expect(only.code).toBe(2);
    expect(only.logs.at(-1)?.msg).toContain(manifestOf(oldId).artifact.encryption.keyId);
    // Unencrypted backups stay readable with keys given.
    const plain = backup(['--db', db, '--backup-dir', dir, '--json']);
    const p = restore([
      plain.json().backupId,
      '--db',
      db,
      '--backup-dir',
      dir,
      '--to',
      t.path('p.db'),
      '--encrypt-key-file',
      both,
    ]);
    expect(p.code, p.stderr).toBe(0);
  });

  it('refuses bad key files with one clear line and exit 2, creating nothing', () => {
    createOraDatabase(db, 20);
    const empty = t.path('empty.key');
    writeFileSync(empty, '');
    const short = t.path('short.key');
    writeFileSync(short, randomBytes(31));
    const long = t.path('long.key');
    writeFileSync(long, randomBytes(33));
    const weak = t.path('weak.key');
    writeFileSync(weak, 'secret\n');
    const cases: [string, RegExp][] = [
      [t.path('missing.key'), /missing\.key does not exist/],
      [empty, /empty\.key is empty/],
      [short, /short\.key holds 31 bytes that are not text/],
      [long, /long\.key holds 33 bytes that are not text/],
      [weak, /weak\.key: the passphrase is shorter than 12 characters/],
      [t.dir, /is not a file/],
      [`${rawKey},${t.path('missing.key')}`, /missing\.key does not exist/],
    ];
    for (const [file, message] of cases) {
      for (const run of [
        () => backup(['--db', db, '--backup-dir', dir, '--encrypt-key-file', file]),
        () => backup(['--db', db, '--backup-dir', dir], { ORA_BACKUP_KEY_FILE: file }),
        () => restore(['latest', '--db', db, '--backup-dir', dir, '--to', t.path('r.db'), '--encrypt-key-file', file]),
        () => verify(['all', '--backup-dir', dir, '--encrypt-key-file', file]),
      ]) {
        const r = run();
        expect(r.code, r.stderr).toBe(2);
        expect(r.logs.at(-1)?.msg).toMatch(message);
      }
      expect(existsSync(dir) ? readdirSync(dir) : []).toEqual([]);
      expect(existsSync(t.path('r.db'))).toBe(false);
    }
  });
});

/** A change as the application makes it, through a connection that stays in WAL mode. */
function change(sql: string): void {
  const raw = new Database(db);
  try {
    raw.pragma('journal_mode = WAL');
    raw.exec(sql);
  } finally {
    raw.close();
  }
}

const packsIn = (store: string) => {
  const packs = join(store, 'restore-points', 'packs');
  return existsSync(packs)
    ? readdirSync(packs)
        .filter((f) => f.endsWith('.pack'))
        .map((f) => join(packs, f))
    : [];
};

describe('encrypted restore points (backup --incremental)', () => {
  it('encrypts every pack block, restores each point with the key, refuses without it, and keeps plaintext out of the backup directory', async () => {
    createOraDatabase(db, 300);
    const point = (keys: string) => {
      const r = backup(['--incremental', '--db', db, '--backup-dir', dir, '--encrypt-key-file', keys, '--json']);
      expect(r.code, r.stderr).toBe(0);
      return {
        id: r.json().point.id as string,
        keyId: r.json().point.encryption?.keyId as string,
        hash: contentHash(db),
      };
    };
    const first = point(rawKey);
    change("INSERT INTO workflows (name, status, details) VALUES ('after-1', 'ok', 'x')");
    const second = point(rawKey);
    // A rotation: the next point's pack under the passphrase, the old packs still read with the raw key.
    change("INSERT INTO workflows (name, status, details) VALUES ('after-2', 'ok', 'y')");
    const both = `${passKey},${rawKey}`;
    const third = point(both);
    expect(first.keyId).toMatch(/^[0-9a-f]{16}$/);
    expect(third.keyId).not.toBe(first.keyId);
    const packs = packsIn(dir);
    expect(packs.length).toBeGreaterThanOrEqual(2);
    for (const pack of packs) {
      const bytes = readFileSync(pack);
      expect(bytes.subarray(0, 8).toString('latin1')).toBe('ORAPACK1');
      expect(bytes.readUInt32LE(12)).toBe(1); // blocks encrypted
      expect(bytes.includes(ZSTD_MAGIC)).toBe(false); // no zstd frame anywhere in it
      expect(bytes.includes(SQLITE_HEADER)).toBe(false);
      expect(bytes.includes(Buffer.from('ORAENC1\n', 'latin1'))).toBe(true);
    }
    for (const [i, p] of [first, second, third].entries()) {
      const to = t.path(`point-${i}.db`);
      const r = restore([p.id, '--db', db, '--backup-dir', dir, '--to', to, '--encrypt-key-file', both]);
      expect(r.code, r.stderr).toBe(0);
      expect(contentHash(to)).toBe(p.hash);
    }
    const live = sha(db);
    const to = t.path('refused.db');
    for (const [flags, code, message] of [
      [[], 2, /encrypted with key id [0-9a-f]{16}; give its key file/],
      [['--encrypt-key-file', passKey], 2, new RegExp(`key id (${first.keyId}|${second.keyId})`)],
    ] as const) {
      const r = restore([second.id, '--db', db, '--backup-dir', dir, '--to', to, ...flags]);
      expect(r.code, r.stderr).toBe(code);
      expect(r.logs.at(-1)?.msg).toMatch(message);
      expect(existsSync(to)).toBe(false);
      expect(sha(db)).toBe(live);
    }
    // backup verify rebuilds points outside the backup directory: nothing with SQLite's header appears there.
    const seen: string[] = [];
    const watcher = watch(dir, { recursive: false }, (_e, name) => {
      if (!name) return;
      try {
        if (readFileSync(join(dir, name)).includes(SQLITE_HEADER)) seen.push(name);
      } catch {
        // gone, or a directory
      }
    });
    try {
      const v = await verifyAsync([
        'all',
        '--backup-dir',
        dir,
        '--encrypt-key-file',
        both,
        '--point-sample',
        '5',
        '--json',
      ]);
      expect(v.code, v.stderr).toBe(0);
      expect(v.json().points.points.filter((p: { rebuilt: boolean }) => p.rebuilt)).toHaveLength(3);
    } finally {
      watcher.close();
    }
    expect(seen).toEqual([]);
    // Tampered: a byte of an encrypted block flipped (and the pack's own checksum rewritten to match).
    const pack = packs[0] as string;
    const bytes = readFileSync(pack);
    bytes[100] = (bytes[100] as number) ^ 0x01;
    const body = bytes.subarray(0, bytes.length - 32);
    createHash('sha256')
      .update(body)
      .digest()
      .copy(bytes, bytes.length - 32);
    writeFileSync(pack, bytes);
    const damaged = verify(['all', '--backup-dir', dir, '--encrypt-key-file', both, '--json']);
    expect(damaged.code).toBe(1);
  });

  it('takes a full, encrypted point when encryption is turned on for a store of unencrypted points', () => {
    createOraDatabase(db, 200);
    const plain = backup(['--incremental', '--db', db, '--backup-dir', dir, '--json']);
    expect(plain.code).toBe(0);
    change("INSERT INTO workflows (name, status, details) VALUES ('later', 'ok', 'x')");
    const r = backup(['--incremental', '--db', db, '--backup-dir', dir, '--encrypt-key-file', rawKey, '--json']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.json().point.changedPages).toBe(r.json().point.pageCount);
    // Every page is in its own, encrypted pack.
    expect(pointPacks(join(dir, POINTS_SUBDIR), r.json().point).map((q) => q.name)).toEqual([r.json().point.id]);
    expect(r.json().notes.join(' ')).toMatch(/encryption is on/);
    const to = t.path('r.db');
    expect(
      restore([r.json().point.id, '--db', db, '--backup-dir', dir, '--to', to, '--encrypt-key-file', rawKey]).code,
    ).toBe(0);
    expect(contentHash(to)).toBe(contentHash(db));
  });
});

describe('an encrypted backup killed with SIGKILL', () => {
  it('publishes nothing, leaves no plaintext temp behind after the next run, and older backups intact', async () => {
    createOraDatabase(db, 4000);
    expect(backup(['--db', db, '--backup-dir', dir, '--encrypt-key-file', rawKey]).code).toBe(0);
    const published = manifests();
    const bundle = join(root, 'dist/index.mjs');
    const seed = Number(process.env.ORA_CRASH_SEED ?? Date.now() % 100_000);
    let state = seed;
    const random = () => {
      state = (state * 1103515245 + 12345) % 2147483648;
      return state / 2147483648;
    };
    const delays = Array.from({ length: 5 }, () => 80 + Math.floor(random() * 400));
    console.log(`encrypted SIGKILL seed ${seed}, delays ${delays.join(', ')} ms`);
    for (const delay of delays) {
      const child = spawn(process.execPath, [bundle, '--db', db, '--backup-dir', dir, '--encrypt-key-file', rawKey], {
        stdio: 'ignore',
      });
      // Listened for at once: a run that ends before the kill must not leave this waiting forever.
      const exited = new Promise((r) => child.once('exit', r));
      await new Promise((r) => setTimeout(r, delay));
      child.kill('SIGKILL');
      await exited;
      const now = manifests();
      expect(now.slice(0, published.length)).toEqual(published);
      published.splice(0, published.length, ...now);
      for (const f of readdirSync(dir).filter((x) => x.endsWith('.enc') && !x.startsWith('.tmp-'))) {
        expect(now).toContain(f.replace(/\.db\.zst\.enc$/, '.json'));
      }
      for (const f of readdirSync(dir)) {
        expect(readFileSync(join(dir, f)).includes(SQLITE_HEADER), f).toBe(false);
      }
    }
    expect(backup(['--db', db, '--backup-dir', dir, '--encrypt-key-file', rawKey]).code).toBe(0);
    // The next run removed the snapshots the killed runs left beside the database.
    expect(readdirSync(t.dir).filter((n) => n.startsWith('.ora-'))).toEqual([]);
    const v = verify(['all', '--backup-dir', dir, '--encrypt-key-file', rawKey, '--json']);
    expect(v.code, v.stderr).toBe(0);
    expect(v.json().failed).toBe(0);
  });
});

describe('secrets never leak', () => {
  it('the passphrase and the raw key appear in no output, log, metrics file or manifest', () => {
    createOraDatabase(db, 50);
    const PASSPHRASE = 'planted-PASSPHRASE-c0ffee-7e57';
    writeFileSync(passKey, PASSPHRASE);
    const raw = randomBytes(32);
    writeFileSync(rawKey, raw);
    const forms = [
      PASSPHRASE,
      raw.toString('hex'),
      raw.toString('base64'),
      raw.toString('base64url'),
      raw.toString('latin1'),
      raw.subarray(0, 8).toString('hex'),
    ];
    const metrics = t.path('run.prom');
    const outputs: string[] = [];
    const run = (r: ReturnType<typeof backup>) => {
      outputs.push(r.stdout, r.stderr);
      return r;
    };
    const dirs: string[] = [];
    for (const keys of [passKey, rawKey, `${passKey},${rawKey}`, `${rawKey},${passKey}`]) {
      const at = `${dir}-${dirs.push(`${dir}-${dirs.length}`) - 1}`;
      const args = ['--backup-dir', at, '--encrypt-key-file', keys, '--verbose', '--metrics-file', metrics];
      expect(run(backup(['--db', db, ...args, '--json'])).code).toBe(0);
      expect(run(backup(['--db', db, ...args])).code).toBe(0);
      const checked = run(verify(['all', ...args]));
      expect(checked.code, checked.stderr).toBe(0);
      expect(run(restore(['latest', '--db', db, ...args, '--to', t.path(`r-${outputs.length}.db`)])).code).toBe(0);
      outputs.push(readFileSync(metrics, 'latin1'));
    }
    // Failures print their messages: a wrong key and a tampered artifact too.
    expect(
      run(restore(['latest', '--db', db, '--backup-dir', dirs[0] as string, '--to', t.path('no.db'), '--verbose']))
        .code,
    ).toBe(2);
    // dirs[0] holds passphrase backups: the raw key is the wrong one.
    expect(
      run(
        restore([
          'latest',
          '--db',
          db,
          '--backup-dir',
          dirs[0] as string,
          '--to',
          t.path('no.db'),
          '--encrypt-key-file',
          rawKey,
        ]),
      ).code,
    ).toBe(2);
    for (const d of dirs) {
      for (const f of readdirSync(d)) if (f.endsWith('.json')) outputs.push(readFileSync(join(d, f), 'latin1'));
    }
    const all = outputs.join('\n');
    expect(all).toContain('aes-256-gcm-stream-v1'); // the manifests were read
    for (const form of forms) expect(all).not.toContain(form);
  });
});

describe('encrypted backups in S3 (s3rver on 127.0.0.1)', () => {
  let bucket: LocalBucket;
  let env: Record<string, string>;
  beforeAll(async () => {
    bucket = await startLocalBucket();
    env = {
      ORA_S3_ENDPOINT: bucket.endpoint,
      ORA_S3_FORCE_PATH_STYLE: 'true',
      AWS_ACCESS_KEY_ID: 'S3RVER',
      AWS_SECRET_ACCESS_KEY: 'S3RVER',
    };
  });
  afterAll(async () => {
    await bucket.stop();
  });

  it('round-trips through --dest; the stored object is ciphertext and the key is needed to read it', async () => {
    createOraDatabase(db, 200);
    const dest = `s3://ora-backups/enc/${Date.now()}`;
    const staging = t.path('staging');
    const args = ['--dest', dest, '--backup-dir', staging];
    const b = await backupAsync(['--db', db, ...args, '--encrypt-key-file', passKey, '--json'], env);
    expect(b.code, b.stderr).toBe(0);
    const id = b.json().backupId as string;
    expect(b.json().artifact).toBe(`${dest}/${id}.db.zst.enc`);
    const objectKey = `${dest.replace('s3://ora-backups/', '')}/${id}.db.zst.enc`;
    // s3rver serves anonymous GETs: what anyone with read access to the bucket would get.
    const response = await fetch(`${bucket.endpoint}/ora-backups/${objectKey}`);
    expect(response.status).toBe(200);
    const stored = Buffer.from(await response.arrayBuffer());
    expect(stored.length).toBe(b.json().manifest.artifact.bytes);
    expectUnreadableWithoutKey(stored);
    const v = await verifyAsync(['all', ...args, '--encrypt-key-file', passKey, '--json'], env);
    expect(v.code, v.stderr).toBe(0);
    expect(v.json()).toMatchObject({ verified: 1, failed: 0 });
    const to = t.path('restored.db');
    const missing = await restoreAsync([id, '--db', db, ...args, '--to', to], env);
    expect(missing.code).toBe(2);
    expect(existsSync(to)).toBe(false);
    const back = await restoreAsync([id, '--db', db, ...args, '--to', to, '--encrypt-key-file', passKey], env);
    expect(back.code, back.stderr).toBe(0);
    expect(contentHash(to)).toBe(contentHash(db));
    expect(existsSync(staging) ? readdirSync(staging) : []).toEqual([]);
    // A restore point through the same bucket: its pack encrypted there and in the local cache.
    const p = await backupAsync(['--incremental', '--db', db, ...args, '--encrypt-key-file', passKey, '--json'], env);
    expect(p.code, p.stderr).toBe(0);
    const pack = p.json().point.pack.name as string;
    const packObject = await fetch(
      `${bucket.endpoint}/ora-backups/${dest.replace('s3://ora-backups/', '')}/restore-points/packs/${pack}.pack`,
    );
    const packBytes = Buffer.from(await packObject.arrayBuffer());
    expect(packBytes.readUInt32LE(12)).toBe(1);
    expect(packBytes.includes(ZSTD_MAGIC)).toBe(false);
    const pto = t.path('point.db');
    const noKey = await restoreAsync([p.json().point.id, '--db', db, ...args, '--to', pto], env);
    expect(noKey.code).toBe(2);
    expect(existsSync(pto)).toBe(false);
    const pr = await restoreAsync(
      [p.json().point.id, '--db', db, ...args, '--to', pto, '--encrypt-key-file', passKey],
      env,
    );
    expect(pr.code, pr.stderr).toBe(0);
    expect(contentHash(pto)).toBe(contentHash(db));
  });
});
