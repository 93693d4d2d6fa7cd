import type { Transform } from 'node:stream';
import { missingKeyError } from '../crypto/keys.js';
import { AuthenticationError, openStream } from '../crypto/stream.js';
import type { Manifest } from './manifest.js';
import type { BackupStore } from './store.js';

/**
 * The decrypting stream a reader of `manifest`'s artifact needs, or undefined when it is not
 * encrypted. The key is found here, before anything is fetched or written: no key file given, or
 * none with the artifact's key id, is bad input (exit 2) naming the key id needed.
 */
export async function artifactOpener(store: BackupStore, manifest: Manifest): Promise<(() => Transform) | undefined> {
  const enc = manifest.artifact.encryption;
  if (!enc) return undefined;
  const what = `backup ${manifest.id}`;
  if (!store.keyring) throw missingKeyError(what, enc);
  const key = await store.keyring.require(enc, what);
  return () =>
    openStream((info) => {
      if (info.keyId !== enc.keyId) {
        throw new AuthenticationError(`its header names key id ${info.keyId}, the manifest ${enc.keyId}`);
      }
      return key;
    });
}
