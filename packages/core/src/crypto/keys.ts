import { createHash, randomBytes, scrypt, scryptSync } from 'node:crypto';
import { readFileSync, statSync } from 'node:fs';
import { resolve } from 'node:path';
import { InvalidInputError } from '../errors/errors.js';

/**
 * Key files for encryption at rest (docs/BACKUP.md, "Encryption at rest"). A key file holds
 * either exactly 32 random bytes (a raw AES-256 key, e.g. `head -c 32 /dev/urandom > key`) or a
 * text passphrase, stretched with scrypt (node:crypto) under a random salt that the encrypted
 * artifact or pack and the manifest record. Several key files may be given: the first encrypts,
 * every one is tried, by key id, to decrypt, so backups taken before a rotation stay readable.
 */

/** How an artifact's master key was made from its key file: what the manifest and the header record. */
export type KeyDerivation = { kind: 'raw' } | { kind: 'scrypt'; logN: number; r: number; p: number; salt: string };

/** What a reader needs to find the key of an encrypted artifact or pack (never the key). */
export interface KeyInfo {
  keyId: string;
  kdf: KeyDerivation;
}

/** scrypt cost for passphrases: N = 2^17, r = 8, p = 1 (OWASP's recommendation; 128 MiB, about 0.3 s). */
export const SCRYPT_PARAMS = { logN: 17, r: 8, p: 1 } as const;
/** The least a passphrase may have (after its trailing newline is dropped). */
export const MIN_PASSPHRASE_CHARS = 12;
const MAX_KEY_FILE_BYTES = 4096;

interface KeyFile {
  path: string;
  kind: 'raw' | 'passphrase';
  material: Buffer;
}

/** The id of a master key: the first 8 bytes of SHA-256 under a domain label, as hex. Never the key. */
export function keyIdOf(masterKey: Buffer): string {
  return createHash('sha256').update('ora-db key id v1\0').update(masterKey).digest().subarray(0, 8).toString('hex');
}

function scryptAsync(passphrase: Buffer, salt: Buffer, kdf: { logN: number; r: number; p: number }): Promise<Buffer> {
  const N = 2 ** kdf.logN;
  return new Promise((ok, fail) =>
    scrypt(passphrase, salt, 32, { N, r: kdf.r, p: kdf.p, maxmem: 256 * N * kdf.r + 1024 * 1024 }, (error, key) =>
      error ? fail(error) : ok(key),
    ),
  );
}

/** Reads one key file; a missing, empty, unreadable or unusable one is bad input (exit 2). */
function readKeyFile(path: string, flag: string): KeyFile {
  const full = resolve(path);
  let bytes: Buffer;
  try {
    const s = statSync(full);
    if (!s.isFile())
      throw new InvalidInputError(`${flag} ${full} is not a file; give a key file of 32 random bytes or a passphrase`);
    if (s.size > MAX_KEY_FILE_BYTES) {
      throw new InvalidInputError(
        `${flag} ${full} is ${s.size} bytes: a key file holds 32 random bytes or a passphrase (at most ${MAX_KEY_FILE_BYTES} bytes)`,
      );
    }
    bytes = readFileSync(full);
  } catch (error) {
    if (error instanceof InvalidInputError) throw error;
    const code = (error as NodeJS.ErrnoException).code;
    throw new InvalidInputError(
      code === 'ENOENT'
        ? `${flag} ${full} does not exist; give the key file the backups were encrypted with`
        : `${flag} ${full} cannot be read (${code ?? (error as Error).message}); check its permissions`,
    );
  }
  if (bytes.length === 0) {
    throw new InvalidInputError(
      `${flag} ${full} is empty; write 32 random bytes (head -c 32 /dev/urandom) or a passphrase into it`,
    );
  }
  const text = passphraseText(bytes);
  if (bytes.length === 32 && text === null) return { path: full, kind: 'raw', material: bytes };
  if (text === null) {
    throw new InvalidInputError(
      `${flag} ${full} holds ${bytes.length} bytes that are not text: a key file holds exactly 32 random bytes or a text passphrase`,
    );
  }
  if ([...text].length < MIN_PASSPHRASE_CHARS) {
    throw new InvalidInputError(
      `${flag} ${full}: the passphrase is shorter than ${MIN_PASSPHRASE_CHARS} characters; use a longer one or 32 random bytes`,
    );
  }
  return { path: full, kind: 'passphrase', material: Buffer.from(text, 'utf8') };
}

/** The passphrase in `bytes` (UTF-8 text without control characters; one trailing newline dropped), else null. */
function passphraseText(bytes: Buffer): string | null {
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    return null;
  }
  text = text.replace(/\r?\n$/, '');
  // biome-ignore lint/suspicious/noControlCharactersInRegex: control characters mark binary content
  if (text.length === 0 || /[\u0000-\u001f\u007f]/.test(text)) return null;
  return text;
}

/** Splits `ORA_BACKUP_KEY_FILE` / `--encrypt-key-file`: comma-separated paths, or an array of them. */
export function keyFilePaths(spec: string | readonly string[] | undefined): string[] {
  const parts = (typeof spec === 'string' ? [spec] : (spec ?? [])).flatMap((s) => s.split(','));
  return parts.map((s) => s.trim()).filter((s) => s.length > 0);
}

/** The key files of a job, loaded and checked once; the first encrypts. */
export class Keyring {
  readonly files: readonly KeyFile[];
  private sealing: Promise<{ masterKey: Buffer; info: KeyInfo }> | undefined;
  private readonly derived = new Map<string, Promise<Buffer>>();

  constructor(files: KeyFile[]) {
    if (files.length === 0) throw new Error('Keyring: no key files');
    this.files = files;
  }

  /**
   * The key new artifacts are encrypted with (the first file's): a raw key as it is, a passphrase
   * through scrypt under a salt drawn once per run (so every pack a run writes shares one derivation).
   */
  encryptionKey(): Promise<{ masterKey: Buffer; info: KeyInfo }> {
    this.sealing ??= (async () => {
      const first = this.files[0] as KeyFile;
      if (first.kind === 'raw')
        return { masterKey: first.material, info: { keyId: keyIdOf(first.material), kdf: { kind: 'raw' } } };
      const kdf = { kind: 'scrypt' as const, ...SCRYPT_PARAMS, salt: randomBytes(16).toString('hex') };
      const masterKey = await this.derive(first, kdf);
      return { masterKey, info: { keyId: keyIdOf(masterKey), kdf } };
    })();
    return this.sealing;
  }

  private derive(file: KeyFile, kdf: Extract<KeyDerivation, { kind: 'scrypt' }>): Promise<Buffer> {
    const cacheKey = `${file.path}\0${kdf.logN}/${kdf.r}/${kdf.p}/${kdf.salt}`;
    let key = this.derived.get(cacheKey);
    if (!key) {
      key = scryptAsync(file.material, Buffer.from(kdf.salt, 'hex'), kdf);
      this.derived.set(cacheKey, key);
    }
    return key;
  }

  /**
   * `find` for synchronous readers (pack blocks): a passphrase is derived with scryptSync, once
   * per salt (the cache is shared with `find`), which blocks the thread for that derivation only.
   */
  findSync(info: KeyInfo): Buffer | null {
    for (const file of this.files) {
      if (info.kdf.kind === 'raw') {
        if (file.kind === 'raw' && keyIdOf(file.material) === info.keyId) return file.material;
      } else if (file.kind === 'passphrase') {
        const key = this.derivedSync(file, info.kdf);
        if (keyIdOf(key) === info.keyId) return key;
      }
    }
    return null;
  }

  private readonly derivedNow = new Map<string, Buffer>();
  private derivedSync(file: KeyFile, kdf: Extract<KeyDerivation, { kind: 'scrypt' }>): Buffer {
    const cacheKey = `${file.path}\0${kdf.logN}/${kdf.r}/${kdf.p}/${kdf.salt}`;
    let key = this.derivedNow.get(cacheKey);
    if (!key) {
      const N = 2 ** kdf.logN;
      key = scryptSync(file.material, Buffer.from(kdf.salt, 'hex'), 32, {
        N,
        r: kdf.r,
        p: kdf.p,
        maxmem: 256 * N * kdf.r + 1024 * 1024,
      });
      this.derivedNow.set(cacheKey, key);
    }
    return key;
  }

  /** The master key with `info.keyId`, or null when no given key file has it. */
  async find(info: KeyInfo): Promise<Buffer | null> {
    for (const file of this.files) {
      if (info.kdf.kind === 'raw') {
        if (file.kind === 'raw' && keyIdOf(file.material) === info.keyId) return file.material;
      } else if (file.kind === 'passphrase') {
        const key = await this.derive(file, info.kdf);
        if (keyIdOf(key) === info.keyId) return key;
      }
    }
    return null;
  }

  /** Like `find`, but a missing key is bad input (exit 2) naming the key id needed. */
  async require(info: KeyInfo, what: string): Promise<Buffer> {
    const key = await this.find(info);
    if (key) return key;
    throw new InvalidInputError(
      `${what} is encrypted with key id ${info.keyId} (${info.kdf.kind === 'raw' ? 'a 32-byte key file' : 'a passphrase'}); none of the ${this.files.length} key file(s) given has it — add that key file to --encrypt-key-file / ORA_BACKUP_KEY_FILE (comma-separated)`,
    );
  }
}

/** Loads the key files named by `spec` (comma-separated or an array); undefined when none are given. */
export function loadKeyring(
  spec: string | readonly string[] | undefined,
  flag = '--encrypt-key-file',
): Keyring | undefined {
  const paths = keyFilePaths(spec);
  if (paths.length === 0) return undefined;
  return new Keyring(paths.map((p) => readKeyFile(p, flag)));
}

/** A reader without a key for an encrypted artifact: bad input (exit 2) naming the key id. */
export function missingKeyError(what: string, info: KeyInfo): InvalidInputError {
  return new InvalidInputError(
    `${what} is encrypted with key id ${info.keyId}; give its key file with --encrypt-key-file or ORA_BACKUP_KEY_FILE — nothing was read`,
  );
}
