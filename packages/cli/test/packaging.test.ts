import { spawn, spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createOraDatabase } from '@ora/core/testing';
import { collectOutput } from '@ora/testkit';
import Database from 'better-sqlite3';
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
}, 120_000);

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
  }, 180_000); // nine child processes in a row: slow on a loaded machine
});

describe('the Dockerfile', () => {
  const dockerfile = readFileSync(join(root, 'infra/docker/Dockerfile'), 'utf8');
  const lines = dockerfile.split('\n');
  const at = (pattern: RegExp) => lines.findIndex((l) => pattern.test(l));

  it('installs from the lockfile and every workspace manifest before it copies the source', () => {
    const workspace = [
      'package.json',
      'pnpm-lock.yaml',
      'pnpm-workspace.yaml',
      ...['packages', 'functions']
        .flatMap((d) => readdirSync(join(root, d)).map((p) => `${d}/${p}/package.json`))
        .filter((p) => existsSync(join(root, p))),
      'bench/package.json',
    ].sort();
    const install = at(/^RUN pnpm install --frozen-lockfile/);
    const source = at(/^COPY \. \.$/);
    expect(install).toBeGreaterThan(0);
    expect(source).toBeGreaterThan(install);
    const copied = lines
      .slice(0, install)
      .filter((l) => l.startsWith('COPY '))
      .flatMap((l) => {
        const words = l.split(/\s+/).slice(1, -1);
        const dest = l.split(/\s+/).at(-1) as string;
        return words.map((w) => (dest === './' ? w : `${dest.replace(/\/$/, '')}/${w.split('/').at(-1)}`));
      })
      .sort();
    expect(copied).toEqual(workspace);
  });

  it('runs tini (from Debian) as PID 1, before the job', () => {
    expect(dockerfile).toMatch(/apt-get install -y --no-install-recommends tini/);
    expect(dockerfile).toContain('ENTRYPOINT ["/usr/bin/tini", "--"]');
    for (const f of readdirSync(join(root, 'infra/k8s')).filter((n) => n.startsWith('cronjob-'))) {
      expect(readFileSync(join(root, 'infra/k8s', f), 'utf8'), f).toMatch(/- \/usr\/bin\/tini\n\s+- --\n\s+- node\n/);
    }
  });
});

describe('packaged functions under tini, as the container runs them', () => {
  function bigDatabase(path: string): void {
    createOraDatabase(path, 2000);
    const raw = new Database(path);
    raw.exec('CREATE TABLE filler (id INTEGER PRIMARY KEY, data BLOB)');
    raw.exec(
      'WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 20000) INSERT INTO filler SELECT x, randomblob(4000) FROM c',
    );
    raw.exec('DELETE FROM filler WHERE id % 2 = 0');
    raw.pragma('wal_checkpoint(TRUNCATE)');
    raw.close();
  }

  function underTini(fn: string, args: string[], env: Record<string, string>) {
    return spawn(
      '/usr/bin/tini',
      ['--', process.execPath, join(work, 'app/functions', fn, 'dist/index.mjs'), ...args],
      {
        cwd: work,
        env: { PATH: '/usr/bin:/bin', ...env },
      },
    );
  }

  it('weekly-vacuum runs its VACUUM (a child process) from the packaged folder', async () => {
    const db = join(work, 'vacuum.db');
    bigDatabase(db);
    const r = await collectOutput(underTini('weekly-vacuum', ['--force', '--json'], { DATABASE_PATH: db }));
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ status: 'ok', vacuum: { mode: 'full' } });
    expect(JSON.parse(r.stdout).vacuum.pagesFreed).toBeGreaterThan(1000);
  }, 120_000);

  it('SIGTERM to tini stops a running backup at a safe point: exit 3, nothing published', async () => {
    const db = join(work, 'stop.db');
    bigDatabase(db);
    const backups = join(work, 'stop-backups');
    const child = underTini('backup', [], { DATABASE_PATH: db, BACKUP_DIR: backups });
    const done = collectOutput(child);
    let stderr = '';
    child.stderr?.on('data', (d) => {
      stderr += d;
    });
    await new Promise<void>((resolve, reject) => {
      const timer = setInterval(() => {
        if (/check\+compress started/.test(stderr)) {
          clearInterval(timer);
          resolve();
        }
      }, 20);
      child.once('exit', () => {
        clearInterval(timer);
        reject(new Error(`backup ended before it was stopped: ${stderr}`));
      });
    });
    child.kill('SIGTERM');
    const r = await done;
    expect(r.code, r.stderr).toBe(3);
    expect(r.stderr).toMatch(/"code":"STOPPED"/);
    expect(readdirSync(backups)).toEqual([]);
  }, 120_000);
});
