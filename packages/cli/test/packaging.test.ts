import { spawnSync } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createOraDatabase } from '@ora/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const root = join(dirname(fileURLToPath(import.meta.url)), '../../..');
let out: string;
let work: string;

beforeAll(() => {
  out = mkdtempSync(join(tmpdir(), 'ora-packaged-'));
  const r = spawnSync(process.execPath, [join(root, 'scripts/package-functions.mjs'), out], {
    cwd: root,
    encoding: 'utf8',
  });
  if (r.status !== 0) throw new Error(`packaging failed: ${r.stderr}`);
  console.log(r.stdout.trim());
  // Copy each packaged directory somewhere else again: nothing may resolve from the workspace.
  work = mkdtempSync(join(tmpdir(), 'ora-container-'));
  for (const fn of readdirSync(out))
    cpSync(join(out, fn), join(work, 'app/functions', fn), { recursive: true, verbatimSymlinks: true });
}, 180_000);

afterAll(() => {
  rmSync(out, { recursive: true, force: true });
  rmSync(work, { recursive: true, force: true });
});

function runPackaged(fn: string, args: string[], env: Record<string, string> = {}) {
  const r = spawnSync(
    process.execPath,
    ['--enable-source-maps', join(work, 'app/functions', fn, 'dist/index.mjs'), ...args],
    {
      cwd: work,
      env: { PATH: '/usr/bin:/bin', ...env },
      encoding: 'utf8',
    },
  );
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

describe('packaged functions (the directory a container image holds)', () => {
  it('hold only the bundle and the native addons', () => {
    for (const fn of readdirSync(join(work, 'app/functions'))) {
      expect(readdirSync(join(work, 'app/functions', fn)).sort(), fn).toEqual(['dist', 'node_modules', 'package.json']);
      expect(
        readdirSync(join(work, 'app/functions', fn, 'node_modules'))
          .filter((n) => !n.startsWith('.'))
          .sort(),
        fn,
      ).toEqual(['better-sqlite3', 'zstd-napi']);
      expect(statSync(join(work, 'app/functions', fn, 'dist/index.mjs.map')).size).toBeGreaterThan(0);
      // Only the compiled addons are kept of the native builds: no object files, sources or libraries.
      const store = join(work, 'app/functions', fn, 'node_modules/.pnpm');
      const sqlite = readdirSync(store).find((n) => n.startsWith('better-sqlite3@')) as string;
      const release = join(store, sqlite, 'node_modules/better-sqlite3/build/Release');
      expect(readdirSync(release).sort(), fn).toEqual(['better_sqlite3.node']);
    }
  });

  it('run every job from a folder outside the workspace against a real database', () => {
    const data = join(work, 'data');
    const db = join(data, 'ora.db');
    mkdirSync(data, { recursive: true });
    createOraDatabase(db, 300);
    const env = { DATABASE_PATH: db, BACKUP_DIR: join(work, 'backups') };
    const expectations: [string, string[], number, string][] = [
      ['health-check', ['--json'], 0, 'ok'],
      ['daily-maintenance', ['--json'], 0, 'ok'],
      ['metrics', ['--json'], 0, 'ok'],
      ['weekly-vacuum', ['--json', '--maintenance-window', '00:00-23:59', '--force'], 0, 'skipped'],
      ['backup', ['--json'], 0, 'ok'],
      ['backup-verify', ['--json'], 0, 'ok'],
      ['restore', ['latest', '--to', join(data, 'restored.db'), '--json'], 0, 'ok'],
      ['archive', ['--older-than', '30d', '--dry-run', '--json'], 0, 'skipped'],
      ['recover', ['--json'], 0, 'skipped'],
    ];
    for (const [fn, args, code, status] of expectations) {
      const r = runPackaged(fn, args, env);
      expect(r.code, `${fn}: ${r.stderr}`).toBe(code);
      expect(JSON.parse(r.stdout).status, fn).toBe(status);
    }
    const help = runPackaged('health-check', ['--help']);
    expect(help.code).toBe(0);
    expect(help.stdout).toContain('--full');
  });
});
