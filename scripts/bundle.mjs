// Bundles one entry (a function's container entry, or the ora-db CLI) into an ESM file with a
// source map. better-sqlite3 and zstd-napi stay external: native addons that a container installs
// (pnpm deploy --prod) next to the bundle. Usage: node scripts/bundle.mjs <entry.ts> <out.mjs>
//
// Cold start matters (a scheduled container starts for every run), so:
// - code reached only through `await import()` (pino-pretty on a terminal, prom-client for
//   --metrics-file, the S3 client, …) goes into chunks under <out dir>/chunks/, read only when used;
// - our packages declare `"sideEffects": false` in their package.json (a function's container entry
//   and the CLI's bin.ts excepted), so a module nobody uses is dropped, not just its exports;
// - zod is imported as `import * as z from 'zod'` everywhere: esbuild then drops the parts of zod
//   nobody calls (the 60-odd locales, JSON Schema import, …; 101 instead of 459 KiB for a job).
//   `import { z }` would keep all of it, so the build fails when a locale other than `en` (zod's
//   default) reaches the bundle;
// - the S3 client (core's backup/s3-store.ts) is imported by the S3 store on its first request;
// - string-width (yargs' help layout) builds an Intl.Segmenter and an RGI_Emoji regex when it is
//   loaded, ~20 ms; it is loaded on its first call instead, which only --help and errors make;
// - the output is minified (less for V8 to parse); names are kept for error messages and stacks.
import { mkdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
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

/** Marks the plugin's own b.resolve() call, which the plugin then leaves to esbuild. */
const INNER = Symbol('inner resolve');

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
  plugins: [lazyStringWidth],
  logLevel: 'warning',
});
// What the outputs hold (metafile.inputs also lists what was read and then left out).
const bundled = new Set(Object.values(result.metafile.outputs).flatMap((o) => Object.keys(o.inputs)));
const locales = [...bundled].filter((p) => /node_modules[\\/]zod[\\/].*[\\/]locales[\\/](?!en\.js$)/.test(p));
if (locales.length > 0) {
  console.error(
    `${outfile}: ${locales.length} zod locales are bundled (e.g. ${locales[0]}): a file imports \`{ z } from 'zod'\`; write \`import * as z from 'zod'\` so esbuild can leave out what is not used`,
  );
  process.exit(1);
}
// ORA_BUNDLE_METAFILE=<file>: esbuild's metafile, to see what each output holds (e.g. esbuild.github.io/analyze).
if (process.env.ORA_BUNDLE_METAFILE) writeFileSync(process.env.ORA_BUNDLE_METAFILE, JSON.stringify(result.metafile));
const kib = (path) => `${(statSync(path).size / 1024).toFixed(1)} KiB`;
const lazy = Object.keys(result.metafile.outputs).filter((p) => p.endsWith('.mjs') && p.includes('/chunks/'));
const lazyKib = lazy.reduce((sum, p) => sum + statSync(p).size, 0) / 1024;
console.log(
  `${outfile}: ${kib(outfile)}${lazy.length ? ` (+ ${lazy.length} chunks, ${lazyKib.toFixed(1)} KiB, in ${relative('.', chunks)})` : ''}`,
);
