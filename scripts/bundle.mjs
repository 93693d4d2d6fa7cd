// Bundles one entry (a function's container entry, or the ora-db CLI) into an ESM file with a
// source map. better-sqlite3 and zstd-napi stay external: native addons that a container installs
// (pnpm deploy --prod) next to the bundle. Usage: node scripts/bundle.mjs <entry.ts> <out.mjs>
//
// Cold start matters (a scheduled container starts for every run), so:
// - code reached only through `await import()` (pino-pretty on a terminal, prom-client for
//   --metrics-file, the S3 client, …) goes into chunks under <out dir>/chunks/, read only when used;
// - the workspace packages are declared free of import side effects, so a re-export nobody uses
//   (e.g. the schedule renderer and its YAML library) does not end up in a job's bundle;
// - `import { z } from 'zod'` is read as `import * as z from 'zod'` (the same bindings): esbuild
//   can then drop the parts of zod nobody calls (locales, JSON Schema import, …): ~450 KiB less;
// - string-width (yargs' help layout) builds an Intl.Segmenter and an RGI_Emoji regex when it is
//   loaded, ~20 ms; it is loaded on its first call instead, which only --help and errors make;
// - the output is minified (less for V8 to parse); names are kept for error messages and stacks.
import { mkdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { basename, dirname, join, relative } from 'node:path';
import { build } from 'esbuild';

const [entry, outfile] = process.argv.slice(2);
if (!entry || !outfile) {
  console.error('usage: node scripts/bundle.mjs <entry.ts> <out.mjs>');
  process.exit(2);
}
const outdir = dirname(outfile);
const name = basename(outfile).replace(/\.mjs$/, '');
const chunks = join(outdir, 'chunks');
// Chunk names carry a content hash: drop the previous build's so none go stale beside the bundle.
rmSync(chunks, { recursive: true, force: true });
mkdirSync(outdir, { recursive: true });

/** Marks the plugins' own b.resolve() calls, which the plugins then leave to esbuild. */
const INNER = Symbol('inner resolve');

/** Our own packages (packages/*, functions/*) have no import side effects: unused re-exports go. */
const workspaceSideEffectFree = {
  name: 'workspace-side-effect-free',
  setup(b) {
    const workspace = /[\\/](packages|functions)[\\/][^\\/]+[\\/]src[\\/][^\\]*\.ts$/;
    b.onResolve({ filter: /.*/ }, async (args) => {
      if (args.pluginData === INNER || args.kind === 'entry-point') return undefined;
      const r = await b.resolve(args.path, {
        kind: args.kind,
        importer: args.importer,
        resolveDir: args.resolveDir,
        pluginData: INNER,
      });
      if (r.errors.length > 0 || r.external || !workspace.test(r.path) || r.path.includes('node_modules')) {
        return undefined;
      }
      return { ...r, sideEffects: false };
    });
  },
};

/** `import { z } from 'zod'` → `import * as z from 'zod'`: zod's own namespace, which esbuild can tree-shake. */
const zodNamespace = {
  name: 'zod-namespace',
  setup(b) {
    b.onLoad({ filter: /[\\/](packages|functions)[\\/][^\\/]+[\\/]src[\\/].*\.ts$/ }, (args) => {
      const source = readFileSync(args.path, 'utf8');
      if (!source.includes("import { z } from 'zod';")) return undefined;
      return { contents: source.replaceAll("import { z } from 'zod';", "import * as z from 'zod';"), loader: 'ts' };
    });
  },
};

/** string-width evaluated on first use (a lazily initialised module), not at startup. */
const lazyStringWidth = {
  name: 'lazy-string-width',
  setup(b) {
    b.onResolve({ filter: /^string-width$/ }, async (args) => {
      if (args.pluginData === INNER) return undefined;
      const real = await b.resolve(args.path, {
        kind: args.kind,
        importer: args.importer,
        resolveDir: args.resolveDir,
        pluginData: INNER,
      });
      if (real.errors.length > 0) return undefined;
      return { path: real.path, namespace: 'lazy-string-width' };
    });
    b.onLoad({ filter: /.*/, namespace: 'lazy-string-width' }, (args) => ({
      contents: `let width;
export default function stringWidth(text, options) {
  width ??= require(${JSON.stringify(args.path)}).default;
  return width(text, options);
}`,
      loader: 'js',
      resolveDir: dirname(args.path),
    }));
  },
};

const result = await build({
  entryPoints: { [name]: entry },
  outdir,
  entryNames: '[name]',
  chunkNames: 'chunks/[name]-[hash]',
  outExtension: { '.js': '.mjs' },
  splitting: true,
  bundle: true,
  platform: 'node',
  target: 'node20',
  format: 'esm',
  sourcemap: true,
  minify: true,
  keepNames: true,
  legalComments: 'none',
  metafile: true,
  external: ['better-sqlite3', 'zstd-napi'],
  // CommonJS dependencies (pino, yargs helpers) call require(); give each ESM file one.
  banner: {
    js: "import { createRequire as __oraCreateRequire } from 'node:module'; const require = __oraCreateRequire(import.meta.url);",
  },
  plugins: [workspaceSideEffectFree, zodNamespace, lazyStringWidth],
  logLevel: 'warning',
});
// ORA_BUNDLE_METAFILE=<file>: esbuild's metafile, to see what each output holds (e.g. esbuild.github.io/analyze).
if (process.env.ORA_BUNDLE_METAFILE) writeFileSync(process.env.ORA_BUNDLE_METAFILE, JSON.stringify(result.metafile));
const kib = (path) => `${(statSync(path).size / 1024).toFixed(1)} KiB`;
const lazy = Object.keys(result.metafile.outputs).filter((p) => p.endsWith('.mjs') && p.includes('/chunks/'));
const lazyKib = lazy.reduce((sum, p) => sum + statSync(p).size, 0) / 1024;
console.log(
  `${outfile}: ${kib(outfile)}${lazy.length ? ` (+ ${lazy.length} chunks, ${lazyKib.toFixed(1)} KiB, in ${relative('.', chunks)})` : ''}`,
);
