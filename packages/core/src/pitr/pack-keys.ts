import type { Keyring } from '../crypto/keys.js';
import { InvalidInputError } from '../errors/errors.js';
import type { PackKeys, PackSeal } from './pack.js';

/** The key a new point's pack is encrypted with, when key files are given. */
export async function packSeal(keyring: Keyring | undefined): Promise<{ seal?: PackSeal }> {
  return keyring ? { seal: await keyring.encryptionKey() } : {};
}

/** How a rebuild finds the key of an encrypted block: by key id among the key files (exit 2 when none has it). */
export function packKeys(keyring: Keyring | undefined): PackKeys | undefined {
  if (!keyring) return undefined;
  return (info) => {
    const key = keyring.findSync(info);
    if (key) return key;
    throw new InvalidInputError(
      `a pack of this restore point is encrypted with key id ${info.keyId}; none of the ${keyring.files.length} key file(s) given has it — add that key file to --encrypt-key-file / ORA_BACKUP_KEY_FILE (comma-separated)`,
    );
  };
}
