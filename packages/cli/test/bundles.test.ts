import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createOraDatabase } from '@ora/core/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

// What a bundle loads when it starts, read from esbuild's metafile (ORA_BUNDLE_METAFILE): the entry
// file and every chunk it imports statically. Code behind `await import()` is in the other chunks.

const root = join(dirname(fileURLToPath(import.meta.url)), '../../..');
let work: string;

interface Metafile {
  outputs: Record<
    string,
    { imports: { path: string; kind: string; external?: boolean }[]; inputs: Record<string, unknown> }
  >;
}
const built: Record<string, { dir: string; meta: Metafile }> = {};

/** Bundles `entry` of package `pkg` into work/<name>/dist, as scripts/bundle.mjs does for dist/. */
function bundle(name: string, pkg: string, entry: string): void {
  const dir = join(work, name);
  mkdirSync(dir, { recursive: true });
  // The native addons stay external: resolve them from the package, as its own dist/ does.
  symlinkSync(join(root, pkg, 'node_modules'), join(dir, 'node_modules'));
  const r = spawnSync(process.execPath, [join(root, 'scripts/bundle.mjs'), entry, join(dir, 'dist/index.mjs')], {
    cwd: join(root, pkg),
    env: { ...process.env, ORA_BUNDLE_METAFILE: join(work, `${name}.json`) },
    encoding: 'utf8',
  });
  if (r.status !== 0) throw new Error(`bundling ${pkg} failed: ${r.stderr}`);
  built[name] = { dir, meta: JSON.parse(readFileSync(join(work, `${name}.json`), 'utf8')) };
}

/** The packages whose code a set of outputs holds (`@aws-sdk/client-s3`, `yaml`, …; ours are left out). */
function packagesIn(meta: Metafile, outputs: string[]): Set<string> {
  const names = new Set<string>();
  for (const out of outputs) {
    for (const input of Object.keys(meta.outputs[out]?.inputs ?? {})) {
      const m = /node_modules\/(?:\.pnpm\/[^/]+\/node_modules\/)?((?:@[^/]+\/)?[^/]+)/.exec(input);
      if (m?.[1]) names.add(m[1]);
    }
  }
  return names;
}

/** The outputs read at startup: the entry and the chunks it imports statically, transitively. */
function startupOutputs(meta: Metafile): string[] {
  const entry = Object.keys(meta.outputs).find((o) => o.endsWith('/index.mjs')) as string;
  const seen = new Set<string>();
  const visit = (o: string) => {
    if (seen.has(o)) return;
    seen.add(o);
    for (const i of meta.outputs[o]?.imports ?? []) if (i.kind === 'import-statement' && !i.external) visit(i.path);
  };
  visit(entry);
  return [...seen];
}

beforeAll(() => {
  work = mkdtempSync(join(tmpdir(), 'ora-bundles-'));
  bundle('backup', 'functions/backup', 'src/index.ts');
  bundle('health-check', 'functions/health-check', 'src/index.ts');
  bundle('ora-db', 'packages/cli', 'src/bin.ts');
}, 180_000);

afterAll(() => rmSync(work, { recursive: true, force: true }));

describe('what a bundle loads at startup', () => {
  it('no job and not ora-db loads the AWS SDK or the YAML library when it starts', () => {
    for (const [name, { meta }] of Object.entries(built)) {
      const atStart = [...packagesIn(meta, startupOutputs(meta))];
      expect(
        atStart.filter((p) => /^@aws-sdk\/|^@smithy\/|^yaml$/.test(p)),
        name,
      ).toEqual([]);
      expect(atStart, name).toContain('zod');
    }
    // …but the code is there, in chunks read on use: the S3 client for --dest, YAML for `ora-db schedule`.
    const all = (name: string) =>
      packagesIn(built[name]?.meta as Metafile, Object.keys(built[name]?.meta.outputs ?? {}));
    expect(all('backup')).toContain('@aws-sdk/client-s3');
    expect(all('ora-db')).toContain('@aws-sdk/client-s3');
    expect(all('ora-db')).toContain('yaml');
    // A job that stores no backups holds no S3 code at all.
    expect([...all('health-check')].filter((p) => /^@aws-sdk\/|^@smithy\//.test(p))).toEqual([]);
  });

  it('zod is bundled without its locales (other than en, its default)', () => {
    for (const [name, { meta }] of Object.entries(built)) {
      const inputs = Object.values(meta.outputs).flatMap((o) => Object.keys(o.inputs));
      expect(
        inputs.filter((i) => /zod\/.*\/locales\//.test(i)).map((i) => i.replace(/.*\/locales\//, '')),
        name,
      ).toEqual(['en.js']);
    }
  });

  it('a local backup never reads the S3 chunk; --dest loads it on its first request', () => {
    const { dir } = built.backup as { dir: string };
    const chunks = join(dir, 'dist/chunks');
    const s3Chunk = readdirSync(chunks).find((f) => f.startsWith('s3-store-') && f.endsWith('.mjs')) as string;
    expect(s3Chunk).toBeDefined();
    rmSync(join(chunks, s3Chunk));
    const db = join(work, 'ora.db');
    createOraDatabase(db, 20);
    const run = (args: string[]) =>
      spawnSync(process.execPath, [join(dir, 'dist/index.mjs'), '--db', db, ...args], {
        cwd: work,
        env: { PATH: '/usr/bin:/bin' },
        encoding: 'utf8',
      });
    const local = run(['--backup-dir', join(work, 'backups'), '--json']);
    expect(local.status, local.stderr).toBe(0);
    expect(JSON.parse(local.stdout).status).toBe('ok');
    const s3 = run(['--dest', 's3://ora-backups/prod', '--backup-dir', join(work, 'staging')]);
    expect(s3.status).not.toBe(0);
    expect(s3.stderr).toContain(resolve(chunks, s3Chunk));
  }, 60_000);
});
