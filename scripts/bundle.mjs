// Bundles one entry (a function's container entry, or the ora-db CLI) into a single ESM file with
// a source map. better-sqlite3 and zstd-napi stay external: native addons that a container installs
// (pnpm deploy --prod) next to the bundle. Usage: node scripts/bundle.mjs <entry.ts> <out.mjs>
import { statSync } from 'node:fs';
import { build } from 'esbuild';

const [entry, outfile] = process.argv.slice(2);
if (!entry || !outfile) {
  console.error('usage: node scripts/bundle.mjs <entry.ts> <out.mjs>');
  process.exit(2);
}

await build({
  entryPoints: [entry],
  outfile,
  bundle: true,
  platform: 'node',
  target: 'node20',
  format: 'esm',
  sourcemap: true,
  keepNames: true,
  minifySyntax: true,
  legalComments: 'none',
  external: ['better-sqlite3', 'zstd-napi'],
  // CommonJS dependencies (pino, yargs helpers) call require(); give the ESM bundle one.
  banner: {
    js: "import { createRequire as __oraCreateRequire } from 'node:module'; const require = __oraCreateRequire(import.meta.url);",
  },
  logLevel: 'warning',
});
const kib = (statSync(outfile).size / 1024).toFixed(1);
console.log(`${outfile}: ${kib} KiB`);
