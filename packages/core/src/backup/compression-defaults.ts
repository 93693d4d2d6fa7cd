import { InvalidInputError } from '../errors/errors.js';
import type { Compression } from './compress.js';

/** Each artifact format's level when none is given, and its highest level. */
export const COMPRESSION_LEVELS = {
  zstd: { default: 3, max: 19 },
  gzip: { default: 6, max: 9 },
} as const satisfies Record<Compression, { default: number; max: number }>;

/**
 * `compressionLevelFor(compression, level?): number` — the level a backup compresses at: the one
 * given, else the format's default (zstd 3, gzip 6). A level above the format's maximum is
 * INVALID_INPUT (exit 2), decided before anything is read.
 *
 * ### Examples
 * ```ts
 * compressionLevelFor('gzip'); // 6
 * compressionLevelFor('gzip', 12); // throws: out of range for gzip: expected 1 to 9
 * ```
 */
export function compressionLevelFor(compression: Compression, level?: number): number {
  const limits = COMPRESSION_LEVELS[compression];
  if (level === undefined) return limits.default;
  if (level > limits.max) {
    throw new InvalidInputError(
      `--compression-level ${level} is out of range for ${compression}: expected 1 to ${limits.max}`,
    );
  }
  return level;
}
