import { createCipheriv, createDecipheriv, hkdfSync, randomBytes } from 'node:crypto';
import { Transform, type TransformCallback } from 'node:stream';
import type { KeyDerivation, KeyInfo } from './keys.js';

/**
 * The encrypted format (docs/BACKUP.md, "Encryption at rest"), after age's STREAM: a 72-byte
 * header, then the content in chunks of 64 KiB, each sealed with AES-256-GCM (node:crypto) under
 * its own nonce — an 11-byte chunk counter and a last-chunk flag — with its 16-byte tag. The
 * header is the additional authenticated data of every chunk, so changing any header byte,
 * reordering, dropping or truncating chunks all fail authentication. Each artifact gets its own
 * key, HKDF-SHA256 of the master key under a random 32-byte salt from the header, so nonces never
 * repeat under one key.
 *
 * Header: "ORAENC1\n" · kdf (0 raw, 1 scrypt) · scrypt log2 N · r · p · 16-byte scrypt salt ·
 * 8-byte key id · log2 chunk size · 3 zero bytes · 32-byte file salt.
 */
export const ENCRYPTION_SCHEME = 'aes-256-gcm-stream-v1';
export const MAGIC = Buffer.from('ORAENC1\n', 'latin1');
export const HEADER_BYTES = 72;
const TAG_BYTES = 16;
const DEFAULT_CHUNK_LOG = 16;

export class AuthenticationError extends Error {}

interface Header {
  bytes: Buffer;
  info: KeyInfo;
  chunkBytes: number;
  fileSalt: Buffer;
}

function buildHeader(info: KeyInfo, chunkLog: number): Header {
  const h = Buffer.alloc(HEADER_BYTES);
  MAGIC.copy(h, 0);
  if (info.kdf.kind === 'scrypt') {
    h[8] = 1;
    h[9] = info.kdf.logN;
    h[10] = info.kdf.r;
    h[11] = info.kdf.p;
    Buffer.from(info.kdf.salt, 'hex').copy(h, 12);
  }
  Buffer.from(info.keyId, 'hex').copy(h, 28);
  h[36] = chunkLog;
  const fileSalt = randomBytes(32);
  fileSalt.copy(h, 40);
  return { bytes: h, info, chunkBytes: 2 ** chunkLog, fileSalt };
}

/** Parses a header; anything that is not one is an AuthenticationError (not ours, or damaged). */
export function parseHeader(h: Buffer): Header {
  if (h.length < HEADER_BYTES || !h.subarray(0, 8).equals(MAGIC)) {
    throw new AuthenticationError(
      'it does not start with the ora-db encryption header: not encrypted by ora-db, or damaged',
    );
  }
  const kind = h[8];
  const chunkLog = h[36] as number;
  if ((kind !== 0 && kind !== 1) || chunkLog < 10 || chunkLog > 24) {
    throw new AuthenticationError('its encryption header is damaged');
  }
  const kdf: KeyDerivation =
    kind === 0
      ? { kind: 'raw' }
      : {
          kind: 'scrypt',
          logN: h[9] as number,
          r: h[10] as number,
          p: h[11] as number,
          salt: h.subarray(12, 28).toString('hex'),
        };
  return {
    bytes: Buffer.from(h.subarray(0, HEADER_BYTES)),
    info: { keyId: h.subarray(28, 36).toString('hex'), kdf },
    chunkBytes: 2 ** chunkLog,
    fileSalt: Buffer.from(h.subarray(40, 72)),
  };
}

function fileKey(masterKey: Buffer, fileSalt: Buffer): Buffer {
  return Buffer.from(hkdfSync('sha256', masterKey, fileSalt, 'ora-db stream v1', 32));
}

function nonce(counter: number, last: boolean): Buffer {
  const n = Buffer.alloc(12);
  n.writeBigUInt64BE(BigInt(counter), 3);
  n[11] = last ? 1 : 0;
  return n;
}

/**
 * Encrypts a stream synchronously, for writers that write each piece as it comes: `push` returns
 * what to store now (the header first), `end` the last chunk. Holds at most one chunk.
 */
export class StreamSealer {
  private readonly header: Header;
  private readonly key: Buffer;
  private counter = 0;
  private started = false;
  private pending: Buffer[] = [];
  private pendingBytes = 0;

  constructor(masterKey: Buffer, info: KeyInfo, chunkLog = DEFAULT_CHUNK_LOG) {
    this.header = buildHeader(info, chunkLog);
    this.key = fileKey(masterKey, this.header.fileSalt);
  }

  private seal(plain: Buffer, last: boolean): Buffer {
    const c = createCipheriv('aes-256-gcm', this.key, nonce(this.counter++, last));
    c.setAAD(this.header.bytes);
    const out = Buffer.concat([c.update(plain), c.final(), c.getAuthTag()]);
    return out;
  }

  push(data: Buffer): Buffer[] {
    const out: Buffer[] = [];
    if (!this.started) {
      this.started = true;
      out.push(this.header.bytes);
    }
    this.pending.push(data);
    this.pendingBytes += data.length;
    const size = this.header.chunkBytes;
    // A full chunk is sealed only once more data follows: the last chunk must carry the flag.
    if (this.pendingBytes > size) {
      let all = Buffer.concat(this.pending);
      while (all.length > size) {
        out.push(this.seal(all.subarray(0, size), false));
        all = all.subarray(size);
      }
      this.pending = [Buffer.from(all)];
      this.pendingBytes = all.length;
    }
    return out;
  }

  end(): Buffer[] {
    const out = this.started ? [] : this.push(Buffer.alloc(0));
    out.push(this.seal(Buffer.concat(this.pending), true));
    this.pending = [];
    this.pendingBytes = 0;
    return out;
  }
}

/** Encrypts one whole buffer (a pack block): header, chunks, the last flagged. */
export function sealBuffer(masterKey: Buffer, info: KeyInfo, plain: Buffer): Buffer {
  const s = new StreamSealer(masterKey, info);
  return Buffer.concat([...s.push(plain), ...s.end()]);
}

/** Decrypts one whole buffer made by `sealBuffer`; throws AuthenticationError when it does not authenticate. */
export function openBuffer(keyFor: (info: KeyInfo) => Buffer, sealed: Buffer): Buffer {
  const header = parseHeader(sealed);
  const key = fileKey(keyFor(header.info), header.fileSalt);
  const out: Buffer[] = [];
  const step = header.chunkBytes + TAG_BYTES;
  let at = HEADER_BYTES;
  let counter = 0;
  while (true) {
    const rest = sealed.length - at;
    const last = rest <= step;
    if (rest < TAG_BYTES) throw new AuthenticationError('it is truncated (its last chunk is missing)');
    out.push(openChunk(key, header.bytes, counter++, sealed.subarray(at, at + (last ? rest : step)), last));
    if (last) break;
    at += step;
  }
  return Buffer.concat(out);
}

function openChunk(key: Buffer, aad: Buffer, counter: number, sealed: Buffer, last: boolean): Buffer {
  const d = createDecipheriv('aes-256-gcm', key, nonce(counter, last));
  d.setAAD(aad);
  d.setAuthTag(sealed.subarray(sealed.length - TAG_BYTES));
  try {
    return Buffer.concat([d.update(sealed.subarray(0, sealed.length - TAG_BYTES)), d.final()]);
  } catch {
    throw new AuthenticationError(
      `encrypted chunk ${counter} fails authentication: the bytes were changed, truncated or reordered (or the key is not this artifact's)`,
    );
  }
}

/**
 * Decrypts a stream made by `StreamSealer`. `keyFor` gets the header's key info and returns the
 * master key (the caller resolved it beforehand, so a missing key is reported before anything
 * is written). A header naming another key, a chunk that does not authenticate, and a stream
 * that ends before its flagged last chunk all fail with AuthenticationError.
 */
export function openStream(keyFor: (info: KeyInfo) => Buffer): Transform {
  let header: Header | null = null;
  let key: Buffer | null = null;
  let buffered: Buffer[] = [];
  let bufferedBytes = 0;
  let counter = 0;
  const take = (): Buffer => {
    const all = Buffer.concat(buffered);
    buffered = [];
    bufferedBytes = 0;
    return all;
  };
  return new Transform({
    transform(chunk: Buffer, _enc, done: TransformCallback) {
      try {
        buffered.push(chunk);
        bufferedBytes += chunk.length;
        if (!header) {
          if (bufferedBytes < HEADER_BYTES) return done();
          const all = take();
          header = parseHeader(all);
          key = fileKey(keyFor(header.info), header.fileSalt);
          buffered = [all.subarray(HEADER_BYTES)];
          bufferedBytes = all.length - HEADER_BYTES;
        }
        const step = header.chunkBytes + TAG_BYTES;
        if (bufferedBytes > step) {
          let all = take();
          while (all.length > step) {
            this.push(openChunk(key as Buffer, header.bytes, counter++, all.subarray(0, step), false));
            all = all.subarray(step);
          }
          buffered = [all];
          bufferedBytes = all.length;
        }
        done();
      } catch (error) {
        done(error as Error);
      }
    },
    flush(done: TransformCallback) {
      try {
        if (!header) throw new AuthenticationError('it is truncated (shorter than its encryption header)');
        const rest = take();
        if (rest.length < TAG_BYTES) throw new AuthenticationError('it is truncated (its last chunk is missing)');
        this.push(openChunk(key as Buffer, header.bytes, counter++, rest, true));
        done();
      } catch (error) {
        done(error as Error);
      }
    },
  });
}
