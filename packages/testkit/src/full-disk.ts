import { spawnSync } from 'node:child_process';
import { mkdirSync, statfsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/**
 * Mounts a tmpfs of `size` (e.g. `4m`) at `dir` (created if missing): a real filesystem that
 * fills up. mount(2) needs root; where it is refused this throws, saying so, so a test fails
 * rather than pass without checking anything. Returns the unmount.
 */
export function mountTmpfs(dir: string, size: string): () => void {
  mkdirSync(dir, { recursive: true });
  const r = spawnSync('mount', ['-t', 'tmpfs', '-o', `size=${size}`, 'tmpfs', dir], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`mount tmpfs ${dir} refused (${r.stderr.trim()}): this test needs root`);
  return () => {
    spawnSync('umount', [dir]);
  };
}

/** Fills the filesystem holding `dir` until only about `leftBytes` are free; returns the filler file. */
export function fillUpTo(dir: string, leftBytes: number): string {
  const s = statfsSync(dir);
  const filler = join(dir, 'filler');
  writeFileSync(filler, Buffer.alloc(Math.max(0, Number(s.bavail) * Number(s.bsize) - leftBytes)));
  return filler;
}
