/**
 * Paths and symbolic links: a symlinked backup or archive directory is resolved deliberately (the
 * files go to, and the result names, the real directory); links planted inside the backup
 * directory, at an archive's name, at a log or lock file are refused, never followed; output files
 * are created exclusively or replaced by rename, so a planted link is never written through.
 */
import { spawnSync } from 'node:child_process';
import {
  lstatSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  statSync,
  symlinkSync,
  unlinkSync,
  writeFileSync,
} from 'node:fs';
import { createOraDatabase } from '@ora/core/testing';
import { tempDir } from '@ora/testkit';
import Database from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { CLI } from '../src/crash.js';

let t: ReturnType<typeof tempDir>;
let db: string;
/** A file outside every directory the jobs are pointed at: it must never change. */
let victim: string;
const VICTIM_TEXT = 'not yours\n';

beforeEach(() => {
  t = tempDir('ora-paths-');
  db = t.path('ora.db');
  createOraDatabase(db, 300);
  mkdirSync(t.path('elsewhere'));
  victim = t.path('elsewhere/victim.txt');
  writeFileSync(victim, VICTIM_TEXT);
});
afterEach(() => t.cleanup());

function oraDb(args: string[]) {
  const r = spawnSync(process.execPath, [CLI, ...args, '--json'], {
    cwd: t.dir,
    encoding: 'utf8',
    env: { PATH: process.env.PATH ?? '', ORA_LOG_LEVEL: 'warn' },
  });
  const last = r.stderr.trim().split('\n').filter(Boolean).at(-1);
  return {
    code: r.status,
    json: () => JSON.parse(r.stdout),
    error: last ? (JSON.parse(last) as { msg: string; code: string }) : undefined,
  };
}

const victimUntouched = () => expect(readFileSync(victim, 'utf8')).toBe(VICTIM_TEXT);

describe('the backup directory', () => {
  it('when it is a symlink, is resolved: the backup goes to the real directory and the result says so', () => {
    mkdirSync(t.path('real-backups'));
    symlinkSync(t.path('real-backups'), t.path('backups'));
    const r = oraDb(['backup', '--db', db, '--backup-dir', t.path('backups')]);
    expect(r.code).toBe(0);
    expect(r.json().artifact.startsWith(`${t.path('real-backups')}/`)).toBe(true);
    expect(readdirSync(t.path('real-backups')).filter((f) => f.endsWith('.json'))).toHaveLength(1);
  });

  it('refuses an artifact that is a symlink to a file elsewhere: restore and verify read nothing through it', () => {
    const b = oraDb(['backup', '--db', db, '--backup-dir', t.path('backups')]);
    expect(b.code).toBe(0);
    const artifact = b.json().artifact as string;
    // Someone swaps the artifact for a link to another database's backup (or any file).
    const other = t.path('elsewhere/other.db.zst');
    writeFileSync(other, readFileSync(artifact));
    unlinkSync(artifact);
    symlinkSync(other, artifact);
    const before = readFileSync(db);
    const r = oraDb(['restore', 'latest', '--db', db, '--backup-dir', t.path('backups')]);
    expect(r.code).toBe(1);
    expect(r.error?.msg).toMatch(/is a symbolic link; links in the backup directory are not followed/);
    expect(readFileSync(db).equals(before)).toBe(true);
    const v = oraDb(['backup-verify', 'all', '--backup-dir', t.path('backups')]);
    expect(v.code).toBe(1);
  });

  it('lists a manifest that is a symlink as unreadable and never uses it', () => {
    const b = oraDb(['backup', '--db', db, '--backup-dir', t.path('backups')]);
    const id = b.json().backupId as string;
    const manifest = t.path(`backups/${id}.json`);
    writeFileSync(t.path('elsewhere/m.json'), readFileSync(manifest));
    unlinkSync(manifest);
    symlinkSync(t.path('elsewhere/m.json'), manifest);
    const list = oraDb(['backup', 'list', '--backup-dir', t.path('backups')]);
    expect(list.code).toBe(0);
    expect(list.json().backups).toEqual([]);
    expect(list.json().unreadable[0].problem).toMatch(/symbolic link/);
    expect(oraDb(['restore', id, '--db', db, '--backup-dir', t.path('backups')]).code).toBe(2);
  });
});

describe('archives', () => {
  it('when the archive directory is a symlink, is resolved: archives go to the real directory', () => {
    mkdirSync(t.path('real-archives'));
    symlinkSync(t.path('real-archives'), t.path('archives'));
    const r = oraDb(['archive', '--db', db, '--before', '2026-06-01', '--archive-dir', t.path('archives')]);
    expect(r.code).toBe(0);
    expect(r.json().archives.length).toBeGreaterThan(0);
    for (const a of r.json().archives as string[]) expect(a.startsWith(`${t.path('real-archives')}/`)).toBe(true);
  });

  it('refuses an archive file that is a symlink, moving nothing', () => {
    // Plant links at every year's archive name.
    for (let y = 2015; y <= 2027; y++) symlinkSync(victim, t.path(`ora_archive_${y}.db`));
    const live = new Database(db, { readonly: true });
    const count = () => live.prepare('SELECT count(*) FROM shipped_orders').pluck().get();
    const before = count();
    const r = oraDb(['archive', '--db', db, '--before', '2026-06-01']);
    expect(r.code).toBe(3);
    expect(r.error?.msg).toMatch(/refusing to use the archive .*ora_archive_\d{4}\.db: it is a symbolic link/);
    expect(count()).toBe(before);
    live.close();
    victimUntouched();
  });
});

describe('files the jobs write', () => {
  it('health-check --log-file refuses a planted symlink instead of appending through it', () => {
    symlinkSync(victim, t.path('health.log'));
    const r = oraDb(['health-check', '--db', db, '--log-file', t.path('health.log')]);
    expect(r.code).toBe(3);
    expect(r.error?.msg).toMatch(/refusing to use the log file .*health\.log: it is a symbolic link/);
    victimUntouched();
  });

  it('a heavy job refuses a job-lock file planted as a symlink', () => {
    symlinkSync(victim, `${db}.ora-job-lock`);
    const r = oraDb(['daily-maintenance', '--db', db]);
    expect(r.code).toBe(3);
    expect(r.error?.msg).toMatch(/refusing to use the job lock file .*: it is a symbolic link/);
    victimUntouched();
  });

  it('--metrics-file and schedule --write replace a planted symlink instead of writing through it', () => {
    symlinkSync(victim, t.path('ora.prom'));
    expect(oraDb(['health-check', '--db', db, '--metrics-file', t.path('ora.prom')]).code).toBe(0);
    expect(lstatSync(t.path('ora.prom')).isFile()).toBe(true);
    expect(readFileSync(t.path('ora.prom'), 'utf8')).toMatch(/ora_job_last_run_timestamp_seconds|ora_/);
    mkdirSync(t.path('infra/cron'), { recursive: true });
    symlinkSync(victim, t.path('infra/cron/crontab'));
    expect(oraDb(['schedule', '--write', '--out-dir', t.path('infra')]).code).toBe(0);
    expect(lstatSync(t.path('infra/cron/crontab')).isFile()).toBe(true);
    victimUntouched();
  });

  it('creates backups, archives, copies and recovered databases 0600 in 0700 directories', () => {
    const b = oraDb(['backup', '--db', db, '--backup-dir', t.path('backups')]);
    expect(statSync(t.path('backups')).mode & 0o777).toBe(0o700);
    expect(statSync(b.json().artifact).mode & 0o777).toBe(0o600);
    const a = oraDb(['archive', '--db', db, '--before', '2026-06-01']);
    for (const f of a.json().archives as string[]) expect(statSync(f).mode & 0o777).toBe(0o600);
    const rec = oraDb(['recover', '--db', db, '--force', '--out', t.path('recovered.db')]);
    expect(rec.code).toBe(0);
    expect(statSync(t.path('recovered.db')).mode & 0o777).toBe(0o600);
    for (const f of rec.json().emergencyCopy as string[]) expect(statSync(f).mode & 0o777).toBe(0o600);
  });
});
