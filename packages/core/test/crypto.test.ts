import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { Readable } from 'node:stream';
import { tempDir } from '@ora/testkit';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { keyIdOf, loadKeyring } from '../src/crypto/keys.js';
import {
  AuthenticationError,
  HEADER_BYTES,
  openBuffer,
  openStream,
  StreamSealer,
  sealBuffer,
} from '../src/crypto/stream.js';

// The encrypted stream format (src/crypto/stream.ts): chunked AES-256-GCM, the last chunk
// flagged, the header authenticated. Every way of damaging a stream must fail to authenticate.

const key = randomBytes(32);
const info = { keyId: keyIdOf(key), kdf: { kind: 'raw' as const } };
const CHUNK = 1024; // chunk log 10: small chunks, so boundaries are cheap to test

function seal(plain: Buffer, pieces = 7): Buffer {
  const s = new StreamSealer(key, info, 10);
  const out: Buffer[] = [];
  for (let at = 0; at < plain.length; at += pieces) out.push(...s.push(plain.subarray(at, at + pieces)));
  out.push(...s.end());
  return Buffer.concat(out);
}

async function open(sealed: Buffer, feed = 100, k = key): Promise<Buffer> {
  const parts: Buffer[] = [];
  for (let at = 0; at < sealed.length; at += feed) parts.push(sealed.subarray(at, at + feed));
  const out: Buffer[] = [];
  for await (const c of Readable.from(parts).pipe(openStream(() => k))) out.push(c as Buffer);
  return Buffer.concat(out);
}

let t: ReturnType<typeof tempDir>;
beforeEach(() => {
  t = tempDir();
});
afterEach(() => t.cleanup());

describe('the encrypted stream', () => {
  it.each([0, 1, CHUNK - 1, CHUNK, CHUNK + 1, 3 * CHUNK, 3 * CHUNK + 17])(
    'round-trips %i bytes, fed in any piece size',
    async (n) => {
      const plain = randomBytes(n);
      const sealed = seal(plain);
      expect(sealed.length).toBe(HEADER_BYTES + Math.max(1, Math.ceil(n / CHUNK)) * 16 + n);
      expect(sealed.subarray(0, 8).toString('latin1')).toBe('ORAENC1\n');
      for (const feed of [1, 13, CHUNK + 16, 1 << 20]) expect((await open(sealed, feed)).equals(plain)).toBe(true);
      expect(openBuffer(() => key, sealed).equals(plain)).toBe(true);
    },
  );

  it('two seals of the same content differ (a fresh file key each time)', () => {
    const plain = randomBytes(100);
    expect(seal(plain).equals(seal(plain))).toBe(false);
  });

  it('detects truncation at every length, including at chunk boundaries', async () => {
    const sealed = seal(randomBytes(3 * CHUNK));
    for (let cut = 0; cut < sealed.length; cut += 1) {
      if (cut % 61 !== 0 && (cut - HEADER_BYTES) % (CHUNK + 16) !== 0) continue;
      await expect(open(sealed.subarray(0, cut)), `cut at ${cut}`).rejects.toBeInstanceOf(AuthenticationError);
      expect(() => openBuffer(() => key, sealed.subarray(0, cut))).toThrow(AuthenticationError);
    }
  });

  it('detects a flipped bit anywhere (header or chunks), reordered chunks, appended bytes and a wrong key', async () => {
    const sealed = seal(randomBytes(2 * CHUNK + 5));
    for (let at = 0; at < sealed.length; at += 37) {
      const bad = Buffer.from(sealed);
      bad[at] = (bad[at] as number) ^ 0x10;
      await expect(open(bad), `bit at ${at}`).rejects.toThrow();
    }
    const step = CHUNK + 16;
    const c0 = sealed.subarray(HEADER_BYTES, HEADER_BYTES + step);
    const c1 = sealed.subarray(HEADER_BYTES + step, HEADER_BYTES + 2 * step);
    const swapped = Buffer.concat([sealed.subarray(0, HEADER_BYTES), c1, c0, sealed.subarray(HEADER_BYTES + 2 * step)]);
    await expect(open(swapped)).rejects.toBeInstanceOf(AuthenticationError);
    await expect(open(Buffer.concat([sealed, Buffer.alloc(16)]))).rejects.toBeInstanceOf(AuthenticationError);
    await expect(open(sealed, 100, randomBytes(32))).rejects.toBeInstanceOf(AuthenticationError);
    await expect(open(Buffer.from('(\xb5/\xfd not ours', 'latin1'))).rejects.toThrow(/encryption header/);
  });

  it('sealBuffer and openBuffer round-trip a block', () => {
    const block = randomBytes(5000);
    const sealed = sealBuffer(key, info, block);
    expect(openBuffer(() => key, sealed).equals(block)).toBe(true);
  });
});

describe('key files', () => {
  it('reads a raw key and a passphrase; the id is stable for a raw key and never the key', async () => {
    const raw = t.path('raw');
    const bytes = randomBytes(32);
    writeFileSync(raw, bytes);
    const pass = t.path('pass');
    writeFileSync(pass, 'twelve chars or more\n');
    const ring = loadKeyring(`${raw}, ${pass}`);
    expect(ring?.files.map((f) => f.kind)).toEqual(['raw', 'passphrase']);
    const sealing = await ring?.encryptionKey();
    expect(sealing?.info).toEqual({ keyId: keyIdOf(bytes), kdf: { kind: 'raw' } });
    expect(sealing?.info.keyId).not.toContain(bytes.subarray(0, 8).toString('hex'));
    expect(loadKeyring(undefined)).toBeUndefined();
    expect(loadKeyring(' , ')).toBeUndefined();
  });

  it('derives a passphrase key with scrypt under a random salt, found again from the salt and key id', async () => {
    const pass = t.path('pass');
    writeFileSync(pass, 'twelve chars or more');
    const a = await loadKeyring(pass)?.encryptionKey();
    const b = await loadKeyring(pass)?.encryptionKey();
    if (!a || !b || a.info.kdf.kind !== 'scrypt') throw new Error('expected scrypt');
    expect(a.info.kdf).toMatchObject({ logN: 17, r: 8, p: 1, salt: expect.stringMatching(/^[0-9a-f]{32}$/) });
    expect(a.info.keyId).not.toBe(b.info.keyId); // another salt, another key
    const found = await loadKeyring(pass)?.find(a.info);
    expect(found?.equals(a.masterKey)).toBe(true);
    writeFileSync(pass, 'another passphrase, same length');
    expect(await loadKeyring(pass)?.find(a.info)).toBeNull();
  });

  it('refuses unusable key files with bad input', () => {
    writeFileSync(t.path('printable32'), 'A'.repeat(32));
    expect(loadKeyring(t.path('printable32'))?.files[0]?.kind).toBe('passphrase'); // text: a passphrase
    writeFileSync(t.path('nul'), Buffer.from('has a \0 byte in it, long enough'));
    expect(() => loadKeyring(t.path('nul'))).toThrow(/not text/);
    writeFileSync(t.path('big'), 'x'.repeat(5000));
    expect(() => loadKeyring(t.path('big'))).toThrow(/5000 bytes/);
    expect(() => loadKeyring(t.path('none'))).toThrow(/does not exist/);
  });
});
