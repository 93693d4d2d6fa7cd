import { spawn } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createOraDatabase } from '@ora/core/testing';
import { bundleRunner, bundleRunnerAsync, tableContents, tempDir } from '@ora/testkit';
import Database from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';

// `backup --incremental`, `restore` over restore points, `backup verify` and `backup list`, as
// the bundles run them (real child processes on real files).

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const backup = bundleRunner(root);
const backupAsync = bundleRunnerAsync(root);
const restore = bundleRunner(join(root, '../restore'));
const verify = bundleRunner(join(root, '../backup-verify'));

let t: ReturnType<typeof tempDir>;
let db: string;
let dir: string;
beforeEach(() => {
  t = tempDir();
  db = t.path('ora.db');
  dir = t.path('backups');
});
afterEach(() => t.cleanup());

/** Changes as the application makes them, through a connection that stays in WAL mode. */
function change(sql: string, params: unknown[] = []): void {
  const raw = new Database(db);
  try {
    raw.pragma('journal_mode = WAL');
    raw.prepare(sql).run(...params);
  } finally {
    raw.close();
  }
}

function point(extra: string[] = []) {
  const r = backup(['--incremental', '--db', db, '--backup-dir', dir, '--json', ...extra]);
  expect(r.code, r.stderr).toBe(0);
  return r.json();
}

describe('backup --incremental and restore --at', () => {
  it('restores each of several points after known changes to exactly that state, to a new path and live', () => {
    createOraDatabase(db, 300);
    const states: { at: string; id: string; contents: Record<string, string> }[] = [];
    const take = () => {
      const r = point();
      expect(r).toMatchObject({ job: 'backup-incremental', status: 'ok', mode: 'incremental' });
      states.push({ at: r.point.createdAt, id: r.point.id, contents: tableContents(db) });
      return r;
    };
    const first = take();
    expect(first.point.parent).toBeNull();
    expect(first.point.changedPages).toBe(first.point.pageCount);
    // WAL-only changes (not checkpointed: the writer's connection keeps the WAL).
    change("INSERT INTO workflows (name, status, details) VALUES ('after-1', 'ok', 'x')");
    const second = take();
    expect(second.point.parent).toBe(first.point.id);
    expect(second.point.changedPages).toBeGreaterThan(0);
    expect(second.point.changedPages).toBeLessThan(first.point.pageCount / 4);
    expect(second.point.storedBytes).toBeLessThan(first.point.storedBytes / 4);
    // Deletes and an update, then a VACUUM (every page moves) and a checkpoint.
    change(
      'DELETE FROM shipped_items WHERE order_number IN (SELECT order_number FROM shipped_orders WHERE id % 3 = 0)',
    );
    change('DELETE FROM shipped_orders WHERE id % 3 = 0');
    change("UPDATE workflows SET status = 'done' WHERE name = 'after-1'");
    take();
    change('VACUUM');
    change('PRAGMA wal_checkpoint(TRUNCATE)');
    change("INSERT INTO workflows (name, status, details) VALUES ('after-vacuum', 'ok', 'x')");
    take();
    // Growth: a new table.
    change('CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT)');
    change(
      "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 2000) INSERT INTO notes (body) SELECT 'note ' || i FROM n",
    );
    take();
    expect(new Set(states.map((s) => JSON.stringify(s.contents))).size).toBe(states.length);

    for (const [i, s] of states.entries()) {
      const to = t.path(`at-${i}.db`);
      const r = restore(['--at', s.at, '--to', to, '--backup-dir', dir, '--json']);
      expect(r.code, r.stderr).toBe(0);
      expect(r.json()).toMatchObject({ backupId: s.id, kind: 'point', mode: 'new-path' });
      expect(tableContents(to), `point ${i}`).toEqual(s.contents);
    }
    // A time between two points restores the earlier one; by id works too.
    const between = new Date(Date.parse(states[2]?.at as string) + 1).toISOString();
    expect(
      restore(['--at', between, '--to', t.path('between.db'), '--backup-dir', dir, '--json']).json().backupId,
    ).toBe(states[2]?.id);
    const byId = restore([states[1]?.id as string, '--to', t.path('by-id.db'), '--backup-dir', dir, '--json']);
    expect(byId.json().backupId).toBe(states[1]?.id);

    // Live, through the live restore's safety path: the current content is kept first.
    const before = tableContents(db);
    const live = restore(['--at', states[1]?.at as string, '--db', db, '--backup-dir', dir, '--json']);
    expect(live.code, live.stderr).toBe(0);
    const report = live.json();
    expect(report).toMatchObject({ kind: 'point', mode: 'live', backupId: states[1]?.id });
    expect(tableContents(db)).toEqual(states[1]?.contents);
    expect(tableContents(report.preRestoreCopy)).toEqual(before);
    const human = restore(['--at', states[0]?.at as string, '--db', db, '--backup-dir', dir]);
    expect(human.stdout).toMatch(
      /^restore: ok — restore point ora-\S+ \(taken .*\) restored into .*ora\.db; the replaced database is kept as /,
    );
  });

  it('chooses the newer of a full backup and a restore point for --at and latest', () => {
    createOraDatabase(db, 50);
    const p1 = point().point;
    change("INSERT INTO workflows (name, status, details) VALUES ('between', 'ok', 'x')");
    const full = backup(['--db', db, '--backup-dir', dir, '--json']).json();
    const afterFull = restore([
      '--at',
      new Date().toISOString(),
      '--to',
      t.path('a.db'),
      '--backup-dir',
      dir,
      '--json',
    ]);
    expect(afterFull.json()).toMatchObject({ backupId: full.backupId, kind: 'backup' });
    change("INSERT INTO workflows (name, status, details) VALUES ('later', 'ok', 'x')");
    const p2 = point().point;
    expect(restore(['latest', '--to', t.path('b.db'), '--backup-dir', dir, '--json']).json()).toMatchObject({
      backupId: p2.id,
      kind: 'point',
    });
    expect(restore(['--at', p1.createdAt, '--to', t.path('c.db'), '--backup-dir', dir, '--json']).json().backupId).toBe(
      p1.id,
    );
    const before = restore(['--at', '2020-01-01T00:00:00Z', '--to', t.path('d.db'), '--backup-dir', dir]);
    expect(before.code).toBe(2);
    expect(before.logs.at(-1)?.msg).toMatch(
      /^no verified backup or restore point at or before 2020-01-01T00:00:00.000Z in .* \(the oldest is from .*\); list them with 'ora-db backup list'$/,
    );
    expect(existsSync(t.path('d.db'))).toBe(false);
    const unknown = restore(['ora-20200101T000000000Z-abcdef', '--to', t.path('e.db'), '--backup-dir', dir]);
    expect(unknown.code).toBe(2);
    expect(unknown.logs.at(-1)?.msg).toMatch(/^no backup or restore point ora-20200101T000000000Z-abcdef in /);
  });

  it('is skipped (exit 0) while another job holds the job lock, and takes the next point after', async () => {
    createOraDatabase(db, 20);
    const holderScript = `
      const { acquireJobLock } = await import(${JSON.stringify(join(root, '../../packages/core/src/locking/job-lock.ts'))});
      acquireJobLock(${JSON.stringify(db)}, { job: 'weekly-vacuum', waitMs: 0 });
      process.stdout.write('held\\n');
      setInterval(() => {}, 1000);`;
    const holder = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', holderScript], {
      cwd: root,
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    try {
      await new Promise<void>((resolve, reject) => {
        holder.stdout.on('data', (d) => String(d).includes('held') && resolve());
        holder.once('exit', (c) => reject(new Error(`holder exited ${c}`)));
      });
      const skipped = await backupAsync(['--incremental', '--db', db, '--backup-dir', dir, '--json']);
      expect(skipped.code).toBe(0);
      const r = skipped.json();
      expect(r).toMatchObject({ job: 'backup-incremental', status: 'skipped' });
      expect(r.reason).toMatch(/weekly-vacuum/);
      const human = await backupAsync(['--incremental', '--db', db, '--backup-dir', dir]);
      expect(human.stdout).toMatch(/^backup --incremental: skipped — another job holds the lock on .*weekly-vacuum/);
      expect(
        existsSync(join(dir, 'restore-points', 'points')) && readdirSync(join(dir, 'restore-points', 'points')),
      ).not.toContainEqual(expect.stringMatching(/\.json$/));
    } finally {
      holder.kill('SIGKILL');
      await new Promise((r) => holder.once('exit', r));
    }
    expect(point().status).toBe('ok');
  });

  it('refuses bad values with exit 2 and writes nothing', () => {
    createOraDatabase(db, 5);
    for (const [args, message] of [
      [['--compression-level', '3'], /^--compression-level applies to full backups; restore points are always zstd/],
      [
        ['--point-keep-all-hours', '0'],
        /--point-keep-all-hours="0": expected a whole number from 1 to 87600 \(hours\)/,
      ],
      [['--point-keep-daily-days', 'x'], /--point-keep-daily-days="x": expected a whole number from 0 to 36500/],
      [['--point-keep-monthly-months', '-1'], /--point-keep-monthly-months="-1": expected a whole number/],
    ] as const) {
      const r = backup(['--incremental', '--db', db, '--backup-dir', dir, ...args]);
      expect(r.code, args.join(' ')).toBe(2);
      expect(r.logs.at(-1)?.msg).toMatch(message);
    }
    expect(existsSync(dir)).toBe(false);
    const missing = backup(['--incremental', '--db', t.path('missing.db'), '--backup-dir', dir]);
    expect(missing.code).toBe(3);
    expect(missing.logs.at(-1)?.code).toBe('DATABASE_NOT_FOUND');
    expect(existsSync(dir)).toBe(false);
    const env = backup(['--incremental', '--db', db, '--backup-dir', dir], { ORA_POINT_KEEP_HOURLY_DAYS: 'many' });
    expect(env.code).toBe(2);
    expect(env.logs.at(-1)?.msg).toMatch(/ORA_POINT_KEEP_HOURLY_DAYS="many"/);
  });

  it('prunes to the retention policy after each point, and reports under its own metrics', () => {
    createOraDatabase(db, 20);
    const metrics = t.path('point.prom');
    const first = point(['--metrics-file', metrics]);
    expect(first.prune).toMatchObject({ kept: [{ id: first.point.id }], dropped: [] });
    const prom = readFileSync(metrics, 'utf8');
    expect(prom).toMatch(/^ora_backup_point_stored_bytes\{[^}]*job="backup-incremental"[^}]*\} \d+/m);
    expect(prom).toMatch(/^ora_backup_point_last_success_timestamp_seconds\{/m);
    expect(prom).not.toMatch(/^ora_backup_artifact_bytes/m);
  });
});

describe('backup verify and backup list over restore points', () => {
  it('rebuilds the newest and a sample, names the points a damaged pack breaks, exits 1', () => {
    createOraDatabase(db, 200);
    const ids: string[] = [];
    for (let i = 0; i < 4; i++) {
      change("INSERT INTO workflows (name, status, details) VALUES (?, 'ok', 'x')", [`v-${i}`]);
      ids.push(point().point.id);
    }
    const ok = verify(['--backup-dir', dir, '--json', '--point-sample', '1']);
    expect(ok.code, ok.stderr).toBe(0);
    const report = ok.json();
    expect(report.points.points).toHaveLength(4);
    expect(report.points.points.filter((p: { rebuilt: boolean }) => p.rebuilt)).toHaveLength(2);
    expect(report.points.points.at(-1)).toMatchObject({ id: ids[3], rebuilt: true, ok: true });

    const list = verify(['--backup-dir', dir]);
    expect(list.stdout).toMatch(
      /restore points: 4 checked in .* \(4 rebuilt and integrity_checked\), 0 failed|restore points: 4 checked in .* \(\d rebuilt/,
    );

    // The first point's pack holds most pages: damage one byte in its middle.
    const packs = join(dir, 'restore-points', 'packs');
    const pack = join(packs, `${ids[0]}.pack`);
    const bytes = readFileSync(pack);
    const at = Math.floor(bytes.length / 2);
    bytes.writeUInt8((bytes.readUInt8(at) ^ 0xff) & 0xff, at);
    writeFileSync(pack, bytes);
    const bad = verify(['--backup-dir', dir, '--json']);
    expect(bad.code).toBe(1);
    const damaged = bad.json();
    expect(damaged.status).toBe('failed');
    expect(damaged.points.damagedPacks).toEqual([expect.objectContaining({ name: ids[0], breaks: ids })]);
    const human = verify(['--backup-dir', dir]);
    expect(human.stdout).toMatch(
      new RegExp(`damaged pack ${ids[0]} \\(.*\\) breaks restore point\\(s\\) ${ids.join(', ')}`),
    );
    // A restore from a damaged point is refused, the live database untouched.
    const beforeRestore = tableContents(db);
    const refused = restore([ids[3] as string, '--db', db, '--backup-dir', dir]);
    expect(refused.code).toBe(1);
    expect(refused.logs.at(-1)?.msg).toMatch(/is damaged .* it breaks restore points/);
    expect(tableContents(db)).toEqual(beforeRestore);
  });

  it('backup verify <id> checks one point; an unknown id is exit 2', () => {
    createOraDatabase(db, 20);
    const id = point().point.id;
    const one = verify([id, '--backup-dir', dir, '--json']);
    expect(one.code, one.stderr).toBe(0);
    expect(one.json().points.points).toEqual([expect.objectContaining({ id, rebuilt: true, ok: true })]);
    const unknown = verify(['ora-20200101T000000000Z-abcdef', '--backup-dir', dir]);
    expect(unknown.code).toBe(2);
    expect(unknown.logs.at(-1)?.msg).toMatch(/^no backup or restore point ora-20200101T000000000Z-abcdef in /);
    for (const bad of ['-1', 'x', '10001']) {
      const r = verify(['--backup-dir', dir, '--point-sample', bad]);
      expect(r.code, bad).toBe(2);
      expect(r.logs.at(-1)?.msg).toMatch(/--point-sample=/);
    }
  });
});

describe('backup --incremental --every (a sidecar)', () => {
  const pointsTaken = () => {
    const d = join(dir, 'restore-points', 'points');
    return existsSync(d) ? readdirSync(d).filter((f) => f.endsWith('.json')).length : 0;
  };
  const lastSuccess = (metrics: string) => {
    if (!existsSync(metrics)) return null;
    const m = /^ora_backup_point_last_success_timestamp_seconds\{[^}]*\} (\S+)$/m.exec(readFileSync(metrics, 'utf8'));
    return m ? Number(m[1]) : null;
  };
  const waitFor = async (what: string, ok: () => boolean, ms = 30_000) => {
    const until = Date.now() + ms;
    while (!ok()) {
      if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  };

  it('takes a point every interval, each reported as a run of its own, until SIGTERM (exit 0)', async () => {
    createOraDatabase(db, 100);
    const metrics = t.path('points.prom');
    const child = spawn(
      process.execPath,
      [join(root, 'dist/index.mjs'), '--incremental', '--every', '1s', '--db', db, '--backup-dir', dir],
      { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ORA_METRICS_FILE: metrics } },
    );
    const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
    });
    child.stderr.on('data', (d: Buffer) => {
      err += d.toString();
    });
    try {
      await waitFor('the first point', () => lastSuccess(metrics) !== null);
      const first = lastSuccess(metrics) as number;
      change("INSERT INTO workflows (name, status, details) VALUES ('between', 'ok', 'x')");
      // The metrics file is written after every point, not only when the sidecar stops.
      await waitFor('a later point in the metrics', () => (lastSuccess(metrics) ?? 0) > first);
      await waitFor('three points', () => pointsTaken() >= 3);
      const gap = (lastSuccess(metrics) as number) - first;
      expect(gap).toBeGreaterThanOrEqual(0.9);
    } finally {
      child.kill('SIGTERM');
    }
    expect(await exited).toBe(0);
    const reported = out.split('\n').filter((l) => l.startsWith('backup --incremental: ok — restore point'));
    expect(reported.length).toBe(pointsTaken());
    expect(err).toMatch(/SIGTERM received: stopping after the run under way/);
    expect(err).toMatch(new RegExp(`stopped after ${pointsTaken()} run\\(s\\), 0 failed`));
  });

  it('a SIGTERM during the first point ends it after that point, exit 0', async () => {
    createOraDatabase(db, 2000);
    const child = spawn(
      process.execPath,
      [join(root, 'dist/index.mjs'), '--incremental', '--every', '1s', '--db', db, '--backup-dir', dir, '--json'],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
    });
    // As soon as the first point's snapshot starts (its progress line), before it is published.
    await new Promise<void>((ok) =>
      child.stderr.on('data', (d: Buffer) => {
        err += d.toString();
        if (err.includes('snapshot started')) ok();
      }),
    );
    child.kill('SIGTERM');
    expect(await exited).toBe(0);
    expect(pointsTaken()).toBe(1);
    // --json: one line a run.
    const lines = out.trim().split('\n');
    expect(lines).toHaveLength(1);
    expect(JSON.parse(lines[0] as string)).toMatchObject({ job: 'backup-incremental', status: 'ok' });
    expect(err).toMatch(/SIGTERM received: stopping after the run under way/);
  });

  it.each([
    [['--incremental', '--every', '0'], /--every=\\"0\\": a whole number of seconds, or with s, m or h/],
    [['--incremental', '--every', '1.5s'], /--every=\\"1\.5s\\": a whole number of seconds/],
    [['--incremental', '--every', '10x'], /--every=\\"10x\\": a whole number of seconds/],
    [['--incremental', '--every', ''], /--every/],
    [['--incremental', '--every', '25h'], /--every=\\"25h\\": at most 24h/],
    [['--every', '10s'], /--every repeats restore points: add --incremental/],
    [['--incremental', '--every', '10s', '--dry-run'], /--dry-run takes none/],
  ])('refuses %j with one line and exit 2, changing nothing', (flags, message) => {
    createOraDatabase(db, 20);
    const r = backup([...flags, '--db', db, '--backup-dir', dir]);
    expect(r.code).toBe(2);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(message);
    expect(existsSync(dir)).toBe(false);
  });
});
