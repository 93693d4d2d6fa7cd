export {
  type KeyDerivation,
  type KeyInfo,
  Keyring,
  keyFilePaths,
  keyIdOf,
  loadKeyring,
  MIN_PASSPHRASE_CHARS,
  missingKeyError,
  SCRYPT_PARAMS,
} from './keys.js';
export {
  AuthenticationError,
  ENCRYPTION_SCHEME,
  HEADER_BYTES,
  MAGIC,
  openBuffer,
  openStream,
  parseHeader,
  StreamSealer,
  sealBuffer,
} from './stream.js';
