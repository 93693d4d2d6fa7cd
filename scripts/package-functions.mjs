// Produces, per function, the exact directory a container image holds: dist/ (the bundle and its
// source map) plus node_modules with only the native addons (better-sqlite3, zstd-napi), via
// `pnpm deploy --prod`. Usage: node scripts/package-functions.mjs <out-dir> [function ...]
// The Dockerfile runs this same script.
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, rmSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';

const [outArg, ...only] = process.argv.slice(2);
if (!outArg) {
  console.error('usage: node scripts/package-functions.mjs <out-dir> [function ...]');
  process.exit(2);
}
const out = resolve(outArg);
const root = resolve(import.meta.dirname, '..');
const functions = only.length > 0 ? only : readdirSync(join(root, 'functions')).sort();

function dirSize(dir) {
  let total = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, entry.name);
    if (entry.isDirectory()) total += dirSize(p);
    else if (entry.isFile()) total += statSync(p).size;
  }
  return total;
}

/**
 * The native addons were compiled from source: keep each one's `build/Release/*.node` and drop what
 * only the compiler needed (object files, static libraries, dependency lists, C/C++ sources and
 * vendored library sources), about half of the directory.
 */
function pruneNativeBuilds(store) {
  for (const entry of readdirSync(store)) {
    const nested = join(store, entry, 'node_modules');
    for (const name of ['better-sqlite3', 'zstd-napi']) {
      const pkg = join(nested, name);
      if (!existsSync(join(pkg, 'build/Release'))) continue;
      for (const junk of [
        'build/Release/obj',
        'build/Release/obj.target',
        'build/Release/.deps',
        'build/deps',
        'deps',
        'src',
      ]) {
        rmSync(join(pkg, junk), { recursive: true, force: true });
      }
      for (const file of readdirSync(join(pkg, 'build/Release'))) {
        if (file.endsWith('.a') || file === 'test_extension.node')
          rmSync(join(pkg, 'build/Release', file), { force: true });
      }
    }
  }
}

for (const fn of functions) {
  const target = join(out, fn);
  rmSync(target, { recursive: true, force: true });
  const r = spawnSync('pnpm', ['--filter', `@ora/fn-${fn}`, 'deploy', '--prod', target], {
    cwd: root,
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  if (r.status !== 0) {
    console.error(`package: pnpm deploy of ${fn} failed`);
    process.exit(1);
  }
  for (const extra of ['pnpm-lock.yaml', 'pnpm-workspace.yaml']) rmSync(join(target, extra), { force: true });
  pruneNativeBuilds(join(target, 'node_modules/.pnpm'));
  const bundle = statSync(join(target, 'dist/index.mjs')).size;
  console.log(
    `${fn}: bundle ${(bundle / 1024).toFixed(0)} KiB, directory ${(dirSize(target) / 1048576).toFixed(1)} MiB`,
  );
}
