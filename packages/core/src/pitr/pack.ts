import { createHash, hash as digest } from 'node:crypto';
import { closeSync, fstatSync, fsyncSync, openSync, readSync, renameSync, rmSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { compress, decompress } from 'zstd-napi';
import type { KeyInfo } from '../crypto/keys.js';
import { AuthenticationError, openBuffer, parseHeader, sealBuffer } from '../crypto/stream.js';
import { BackupInvalidError, InvalidInputError } from '../errors/errors.js';
import { fsyncDir, ioError } from '../fs/files.js';

/**
 * Pack files: the pages a restore point added to the store, content-addressed (each page is
 * known by its SHA-256) and compressed with zstd in blocks, so that a restore decodes one block
 * at a time (memory bounded by the block, not by the pack).
 *
 * Layout (integers little-endian):
 *
 *     "ORAPACK1" | u32 pageSize | u32 flags (1: blocks encrypted)
 *     block 0 … block B-1            one zstd frame each, of up to PAGES_PER_BLOCK pages; encrypted,
 *                                    each frame sealed on its own (crypto/stream.ts: header, AES-256-GCM
 *                                    chunks), so a restore still decodes one block at a time
 *     index:   B × (u64 offset, u32 compressed bytes, u32 pages) | P × 32-byte page SHA-256
 *     trailer: u64 index offset | u32 B | u32 P | u32 pageSize | u32 0 | "ORAPEND1"
 *     SHA-256 of every byte before it (32 bytes)
 *
 * Slot `s` of a pack is page `s % PAGES_PER_BLOCK` of block `floor(s / PAGES_PER_BLOCK)`. The
 * final SHA-256 is the pack's checksum (the manifests that reference a pack record it too); each
 * page also carries its own hash, checked whenever a page is decoded.
 */

export const PAGES_PER_BLOCK = 64;
const MAGIC = Buffer.from('ORAPACK1');
const END = Buffer.from('ORAPEND1');
const HEADER_BYTES = 16;
const TRAILER_BYTES = 32;
const TAIL_BYTES = TRAILER_BYTES + 32;

export const packFile = (name: string) => `${name}.pack`;

/** The key new packs are encrypted with (resolved by the caller from the key files). */
export interface PackSeal {
  masterKey: Buffer;
  info: KeyInfo;
}

/** Finds the master key of an encrypted block's header; throws bad input when no key file has it. */
export type PackKeys = (info: KeyInfo) => Buffer;

export interface PackInfo {
  name: string;
  /** The pack's checksum (its last 32 bytes, hex). */
  sha256: string;
  bytes: number;
  pages: number;
}

/** Writes one pack: `add` pages, then `finish` publishes it durably (temp file, fsync, rename, fsync dir). */
export class PackWriter {
  readonly name: string;
  readonly #dir: string;
  readonly #temp: string;
  readonly #pageSize: number;
  readonly #fd: number;
  readonly #hash = createHash('sha256');
  readonly #hashes: Buffer[] = [];
  readonly #blocks: { offset: number; bytes: number; pages: number }[] = [];
  #pending: Buffer[] = [];
  #offset = 0;
  #done = false;
  readonly #seal: PackSeal | undefined;

  constructor(dir: string, name: string, pageSize: number, seal?: PackSeal) {
    this.name = name;
    this.#seal = seal;
    this.#dir = dir;
    this.#pageSize = pageSize;
    this.#temp = join(dir, `.tmp-${process.pid}-${name}.pack`);
    try {
      this.#fd = openSync(this.#temp, 'wx', 0o600);
    } catch (error) {
      throw ioError(error, `creating pack ${this.#temp}`);
    }
    const header = Buffer.alloc(HEADER_BYTES);
    MAGIC.copy(header, 0);
    header.writeUInt32LE(pageSize, 8);
    header.writeUInt32LE(seal ? 1 : 0, 12);
    this.#write(header);
  }

  /** Pages added so far. */
  get pages(): number {
    return this.#hashes.length;
  }

  /** Adds a page (its SHA-256 computed by the caller) and returns its slot. */
  add(hash: Buffer, page: Buffer): number {
    if (page.length !== this.#pageSize) throw new Error(`page of ${page.length} bytes in a pack of ${this.#pageSize}`);
    this.#hashes.push(Buffer.from(hash));
    this.#pending.push(Buffer.from(page));
    if (this.#pending.length === PAGES_PER_BLOCK) this.#flushBlock();
    return this.#hashes.length - 1;
  }

  /** Writes the index and trailer, fsyncs and publishes `<name>.pack`. */
  finish(): PackInfo {
    this.#flushBlock();
    const indexOffset = this.#offset;
    const index = Buffer.alloc(this.#blocks.length * 16);
    this.#blocks.forEach((b, i) => {
      index.writeBigUInt64LE(BigInt(b.offset), i * 16);
      index.writeUInt32LE(b.bytes, i * 16 + 8);
      index.writeUInt32LE(b.pages, i * 16 + 12);
    });
    this.#write(index);
    for (const h of this.#hashes) this.#write(h);
    const trailer = Buffer.alloc(TRAILER_BYTES);
    trailer.writeBigUInt64LE(BigInt(indexOffset), 0);
    trailer.writeUInt32LE(this.#blocks.length, 8);
    trailer.writeUInt32LE(this.#hashes.length, 12);
    trailer.writeUInt32LE(this.#pageSize, 16);
    END.copy(trailer, 24);
    this.#write(trailer);
    const sum = this.#hash.digest();
    const final = join(this.#dir, packFile(this.name));
    try {
      writeSync(this.#fd, sum);
      fsyncSync(this.#fd);
      closeSync(this.#fd);
      this.#done = true;
      renameSync(this.#temp, final);
      fsyncDir(this.#dir);
    } catch (error) {
      this.abort();
      throw ioError(error, `writing pack ${final}`);
    }
    return { name: this.name, sha256: sum.toString('hex'), bytes: this.#offset + 32, pages: this.#hashes.length };
  }

  /** Drops the unfinished pack. */
  abort(): void {
    if (!this.#done) {
      this.#done = true;
      try {
        closeSync(this.#fd);
      } catch {
        // already closed
      }
    }
    rmSync(this.#temp, { force: true });
  }

  #flushBlock(): void {
    if (this.#pending.length === 0) return;
    const zstd = compress(Buffer.concat(this.#pending), { compressionLevel: 3 });
    const frame = this.#seal ? sealBuffer(this.#seal.masterKey, this.#seal.info, zstd) : zstd;
    this.#blocks.push({ offset: this.#offset, bytes: frame.length, pages: this.#pending.length });
    this.#pending = [];
    this.#write(frame);
  }

  #write(buf: Buffer): void {
    try {
      writeSync(this.#fd, buf);
    } catch (error) {
      this.abort();
      throw ioError(error, `writing pack ${this.#temp}`);
    }
    this.#hash.update(buf);
    this.#offset += buf.length;
  }
}

function damaged(path: string, what: string): BackupInvalidError {
  return new BackupInvalidError(`pack ${path} is damaged: ${what}`);
}

/** An open pack: its index (page hashes by slot) and its blocks, decoded on demand. */
export class PackReader {
  readonly path: string;
  readonly pageSize: number;
  readonly pages: number;
  /** Page hashes by slot, 32 bytes each. */
  readonly hashes: Buffer;
  readonly #blocks: { offset: number; bytes: number; pages: number }[];
  readonly #fd: number;
  /** Its blocks are encrypted (flag 1 in the header). */
  readonly encrypted: boolean;
  readonly #keys: PackKeys | undefined;

  constructor(path: string, keys?: PackKeys) {
    this.path = path;
    this.#keys = keys;
    try {
      this.#fd = openSync(path, 'r');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') throw new BackupInvalidError(`pack ${path} is missing`);
      throw ioError(error, `opening pack ${path}`);
    }
    try {
      const size = fstatSync(this.#fd).size;
      if (size < HEADER_BYTES + TAIL_BYTES) throw damaged(path, `${size} bytes, shorter than an empty pack`);
      const header = this.#read(0, HEADER_BYTES);
      if (!header.subarray(0, 8).equals(MAGIC)) throw damaged(path, 'not a pack (bad magic)');
      this.encrypted = (header.readUInt32LE(12) & 1) === 1;
      const trailer = this.#read(size - TAIL_BYTES, TRAILER_BYTES);
      if (!trailer.subarray(24, 32).equals(END)) throw damaged(path, 'truncated (no trailer)');
      const indexOffset = Number(trailer.readBigUInt64LE(0));
      const blocks = trailer.readUInt32LE(8);
      this.pages = trailer.readUInt32LE(12);
      this.pageSize = trailer.readUInt32LE(16);
      if (this.pageSize !== header.readUInt32LE(8)) throw damaged(path, 'page size in header and trailer differ');
      if (indexOffset + blocks * 16 + this.pages * 32 !== size - TAIL_BYTES) throw damaged(path, 'index out of place');
      const index = this.#read(indexOffset, blocks * 16);
      this.#blocks = [];
      let slots = 0;
      for (let i = 0; i < blocks; i++) {
        const b = {
          offset: Number(index.readBigUInt64LE(i * 16)),
          bytes: index.readUInt32LE(i * 16 + 8),
          pages: index.readUInt32LE(i * 16 + 12),
        };
        if (b.offset + b.bytes > indexOffset || b.pages > PAGES_PER_BLOCK)
          throw damaged(path, `block ${i} out of place`);
        this.#blocks.push(b);
        slots += b.pages;
      }
      if (slots !== this.pages) throw damaged(path, 'blocks and index disagree on the page count');
      this.hashes = this.#read(indexOffset + blocks * 16, this.pages * 32);
    } catch (error) {
      closeSync(this.#fd);
      throw error;
    }
  }

  get blockCount(): number {
    return this.#blocks.length;
  }

  hashOf(slot: number): Buffer {
    return this.hashes.subarray(slot * 32, slot * 32 + 32);
  }

  /** Decodes block `i` and checks every page in it against its hash; returns the pages. */
  readBlock(i: number): Buffer {
    const b = this.#blocks[i];
    if (!b) throw damaged(this.path, `no block ${i}`);
    let stored = this.#read(b.offset, b.bytes);
    if (this.encrypted) stored = this.#open(i, stored);
    let data: Buffer;
    try {
      data = decompress(stored);
    } catch (error) {
      throw damaged(this.path, `block ${i} does not decode (${(error as Error).message})`);
    }
    if (data.length !== b.pages * this.pageSize) throw damaged(this.path, `block ${i} decodes to ${data.length} bytes`);
    for (let p = 0; p < b.pages; p++) {
      const slot = i * PAGES_PER_BLOCK + p;
      const page = data.subarray(p * this.pageSize, (p + 1) * this.pageSize);
      if (!digest('sha256', page, 'buffer').equals(this.hashOf(slot))) {
        throw damaged(this.path, `page in slot ${slot} does not match its hash`);
      }
    }
    return data;
  }

  close(): void {
    closeSync(this.#fd);
  }

  /** Decrypts block `i`: no key for it is bad input (exit 2), a block that fails to authenticate is damage (exit 1). */
  #open(i: number, sealed: Buffer): Buffer {
    try {
      return openBuffer((info) => {
        if (!this.#keys) {
          throw new InvalidInputError(
            `pack ${this.path} is encrypted with key id ${info.keyId}; give its key file with --encrypt-key-file or ORA_BACKUP_KEY_FILE`,
          );
        }
        return this.#keys(info);
      }, sealed);
    } catch (error) {
      if (error instanceof AuthenticationError)
        throw damaged(this.path, `block ${i} ${error.message.replace(/^it /, '')}`);
      throw error;
    }
  }

  /** The key info of the first encrypted block (for messages and tests), or null. */
  firstBlockKey(): KeyInfo | null {
    const b = this.#blocks[0];
    if (!this.encrypted || !b) return null;
    return parseHeader(this.#read(b.offset, Math.min(b.bytes, 72))).info;
  }

  #read(offset: number, length: number): Buffer {
    const buf = Buffer.alloc(length);
    let done = 0;
    while (done < length) {
      const n = readSync(this.#fd, buf, done, length - done, offset + done);
      if (n === 0) throw damaged(this.path, 'truncated');
      done += n;
    }
    return buf;
  }
}

/**
 * Checks a pack's checksum: the SHA-256 of everything before its last 32 bytes must equal them,
 * and `expected` (a manifest's record of it) when given. Returns the problem, or null.
 */
export function checkPackFile(path: string, expected?: string): string | null {
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'ENOENT' ? 'missing' : `unreadable (${(error as Error).message})`;
  }
  try {
    const size = fstatSync(fd).size;
    if (size < HEADER_BYTES + TAIL_BYTES) return `${size} bytes, shorter than an empty pack`;
    const hash = createHash('sha256');
    const buf = Buffer.alloc(1 << 20);
    let pos = 0;
    while (pos < size - 32) {
      const n = readSync(fd, buf, 0, Math.min(buf.length, size - 32 - pos), pos);
      if (n === 0) return 'truncated';
      hash.update(buf.subarray(0, n));
      pos += n;
    }
    const tail = Buffer.alloc(32);
    readSync(fd, tail, 0, 32, size - 32);
    const sum = hash.digest();
    if (!sum.equals(tail)) return 'checksum mismatch (its content changed after it was written)';
    if (expected && expected !== sum.toString('hex'))
      return `checksum ${sum.toString('hex')} is not the recorded ${expected}`;
    return null;
  } finally {
    closeSync(fd);
  }
}
