import { readdirSync } from 'node:fs';
import { createOraDatabase } from '@ora/core/testing';
import { contentHash, tempDir } from '@ora/testkit';
import Database from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { oraDb } from './run-cli.js';

let t: ReturnType<typeof tempDir>;
let db: string;
let dir: string;
beforeEach(() => {
  t = tempDir();
  db = t.path('ora.db');
  dir = t.path('backups');
});
afterEach(() => t.cleanup());

describe('ora-db backup list / verify', () => {
  it('lists backups with id, time, size and verified, and verifies them', async () => {
    createOraDatabase(db, 30);
    expect((await oraDb(['backup', '--db', db, '--backup-dir', dir])).code).toBe(0);
    expect((await oraDb(['backup', '--db', db, '--backup-dir', dir])).code).toBe(0);
    const list = await oraDb(['backup', 'list', '--backup-dir', dir, '--json']);
    expect(list.code).toBe(0);
    expect(list.json().count).toBe(2);
    expect(list.json().backups[0]).toMatchObject({ verified: true, lastVerification: null });
    const verify = await oraDb(['backup', 'verify', 'latest', '--backup-dir', dir, '--json']);
    expect(verify.code).toBe(0);
    expect(verify.json()).toMatchObject({ status: 'ok', verified: 1, failed: 0 });
    const after = await oraDb(['backup', 'list', '--backup-dir', dir, '--json']);
    expect(after.json().backups[1].lastVerification).toMatchObject({ ok: true, detail: 'ok' });
    const bad = await oraDb(['backup', 'verify', 'nope', '--backup-dir', dir]);
    expect(bad.code).toBe(2);
    expect(bad.logs[0]?.msg).toMatch(/^invalid input: --which="nope": expected a backup id/);
  });

  it('lists an empty or missing directory as no backups', async () => {
    const r = await oraDb(['backup', 'list', '--backup-dir', dir, '--json']);
    expect(r.code).toBe(0);
    expect(r.json().count).toBe(0);
  });
});

describe('ora-db backup list / prune over restore points', () => {
  it('lists points with kind, pages changed, bytes stored, parent and the time each stands for', async () => {
    createOraDatabase(db, 30);
    expect((await oraDb(['backup', '--incremental', '--db', db, '--backup-dir', dir])).code).toBe(0);
    const raw = new Database(db);
    raw.prepare("INSERT INTO workflows (name, status, details) VALUES ('x', 'ok', 'y')").run();
    raw.close();
    expect((await oraDb(['backup', '--incremental', '--db', db, '--backup-dir', dir])).code).toBe(0);
    const list = await oraDb(['backup', 'list', '--backup-dir', dir, '--json']);
    expect(list.code).toBe(0);
    const [first, second] = list.json().points;
    expect(first).toMatchObject({ kind: 'full', parent: null, coversUntil: second.createdAt });
    expect(second).toMatchObject({ kind: 'delta', parent: first.id, coversUntil: null });
    expect(second.changedPages).toBeGreaterThan(0);
    expect(second.storedBytes).toBeLessThan(first.storedBytes);
    const human = await oraDb(['backup', 'list', '--backup-dir', dir]);
    expect(human.out).toMatch(/2 restore point\(s\) in .*restore-points, .* stored; restore --at covers \S+ to now/);
    expect(human.out).toMatch(/ID +CREATED \(UTC\) +MAP +CHANGED +STORED +TOOK +PINNED +PARENT +STANDS UNTIL/);
  });

  it('prunes to a policy (dry run first), keeping the newest; refuses bad values', async () => {
    createOraDatabase(db, 10);
    for (let i = 0; i < 3; i++)
      expect((await oraDb(['backup', '--incremental', '--db', db, '--backup-dir', dir])).code).toBe(0);
    const dry = await oraDb(['backup', 'prune', '--backup-dir', dir, '--json', '--dry-run']);
    expect(dry.json()).toMatchObject({ status: 'ok', dryRun: true, dropped: [] });
    expect(dry.json().kept).toHaveLength(3);
    for (const bad of [
      ['--point-keep-all-hours', '0'],
      ['--point-keep-hourly-days', '-2'],
      ['--point-keep-daily-days', 'x'],
    ]) {
      const r = await oraDb(['backup', 'prune', '--backup-dir', dir, ...bad]);
      expect(r.code, bad.join(' ')).toBe(2);
      expect(r.logs[0]?.msg).toMatch(new RegExp(`^invalid input: ${bad[0]}=`));
    }
    const listed = (await oraDb(['backup', 'list', '--backup-dir', dir, '--json'])).json().points;
    expect(listed).toHaveLength(3);
  });
});

describe('ora-db backup pin / unpin / forget', () => {
  it('pins, refuses to forget a pinned or the newest backup, forgets after unpin; bad ids are exit 2', async () => {
    createOraDatabase(db, 20);
    for (let i = 0; i < 2; i++) expect((await oraDb(['backup', '--db', db, '--backup-dir', dir])).code).toBe(0);
    const [a, b] = (await oraDb(['backup', 'list', '--backup-dir', dir, '--json'])).json().backups;
    const pin = await oraDb(['backup', 'pin', a.id, '--reason', 'before v2', '--backup-dir', dir]);
    expect(pin.code).toBe(0);
    expect(pin.out).toMatch(new RegExp(`^backup pin: ok — backup ${a.id} \\(taken .*\\) is pinned: before v2`));
    const listed = (await oraDb(['backup', 'list', '--backup-dir', dir, '--json'])).json().backups;
    expect(listed[0].pinned).toMatchObject({ reason: 'before v2' });
    expect((await oraDb(['backup', 'list', '--backup-dir', dir])).out).toMatch(
      /ID +CREATED \(UTC\) +SOURCE +DB SIZE +SIZE +TOOK +PINNED +ENCRYPTED +VERIFIED\n\S+ +\S+ +\S*ora\.db +[\d.]+ MiB +[\d.]+ MiB +\d+(\.\d)? m?s +yes +no +yes/,
    );
    const pinned = await oraDb(['backup', 'forget', a.id, '--backup-dir', dir]);
    expect(pinned.code).toBe(2);
    expect(pinned.logs[0]?.msg).toMatch(/is pinned \(before v2\); unpin it first/);
    const newest = await oraDb(['backup', 'forget', b.id, '--backup-dir', dir]);
    expect(newest.code).toBe(2);
    expect(newest.logs[0]?.msg).toMatch(/is the newest verified backup; give --force/);
    expect((await oraDb(['backup', 'unpin', a.id, '--backup-dir', dir])).code).toBe(0);
    const gone = await oraDb(['backup', 'forget', a.id, '--backup-dir', dir]);
    expect(gone.code).toBe(0);
    expect(readdirSync(dir).filter((f) => f.startsWith(a.id))).toEqual([]);
    for (const cmd of ['pin', 'unpin', 'forget']) {
      for (const bad of ['latest', 'nope', '../x']) {
        const r = await oraDb(['backup', cmd, bad, '--backup-dir', dir]);
        expect(r.code, `${cmd} ${bad}`).toBe(2);
      }
      const unknown = await oraDb(['backup', cmd, 'ora-20200101T000000000Z-abcdef', '--backup-dir', dir]);
      expect(unknown.code).toBe(2);
      expect(unknown.logs[0]?.msg).toMatch(/^no backup or restore point ora-20200101T000000000Z-abcdef in /);
    }
  });

  it('list filters by --since/--until and refuses bad times', async () => {
    createOraDatabase(db, 10);
    expect((await oraDb(['backup', '--db', db, '--backup-dir', dir])).code).toBe(0);
    expect((await oraDb(['backup', '--incremental', '--db', db, '--backup-dir', dir])).code).toBe(0);
    const future = await oraDb(['backup', 'list', '--backup-dir', dir, '--since', '2099-01-01', '--json']);
    expect(future.json()).toMatchObject({ count: 0, points: [] });
    const past = await oraDb(['backup', 'list', '--backup-dir', dir, '--until', '2000-01-01T00:00', '--json']);
    expect(past.json()).toMatchObject({ count: 0, points: [] });
    const all = await oraDb(['backup', 'list', '--backup-dir', dir, '--since', '2000-01-01', '--json']);
    expect(all.json().count).toBe(1);
    expect(all.json().points).toHaveLength(1);
    for (const bad of [
      ['--since', 'yesterday'],
      ['--until', '2026-02-30'],
      ['--since', '2026-12-02', '--until', '2026-12-01'],
    ]) {
      const r = await oraDb(['backup', 'list', '--backup-dir', dir, ...bad]);
      expect(r.code, bad.join(' ')).toBe(2);
    }
  });
});

describe('ora-db migrate', () => {
  it('takes a verified backup first and names it; restoring that backup rolls the migration back', async () => {
    const raw = new Database(db);
    // An ORA database made by the ORA automation (one guide table, schema version 0) plus a table of its own.
    raw.exec(`CREATE TABLE workflows (name TEXT PRIMARY KEY, status TEXT, details TEXT, updated_at TEXT);
      INSERT INTO workflows (name, status) VALUES ('sync', 'ok');
      CREATE TABLE legacy_notes (note TEXT); INSERT INTO legacy_notes VALUES ('kept by rollback');`);
    raw.pragma('journal_mode = WAL');
    raw.close();
    const before = contentHash(db);
    const r = await oraDb(['migrate', '--db', db, '--backup-dir', dir, '--json']);
    expect(r.code).toBe(0);
    const result = r.json();
    expect(result).toMatchObject({ status: 'ok', mode: 'adopt', fromVersion: 0, toVersion: 1 });
    expect(result.backupId).toMatch(/^ora-/);
    expect(result.rollback).toBe(`ora-db restore ${result.backupId} --db ${db} --backup-dir ${dir}`);
    expect(readdirSync(dir)).toContain(`${result.backupId}.json`);
    // Pinned: retention keeps the way back until someone unpins it.
    const listed = (await oraDb(['backup', 'list', '--backup-dir', dir, '--json'])).json().backups;
    expect(listed.find((b: { id: string }) => b.id === result.backupId).pinned).toMatchObject({
      reason: 'taken by migrate before adopting the schema',
    });
    const again = await oraDb(['migrate', '--db', db, '--backup-dir', dir, '--json']);
    expect(again.json()).toMatchObject({ status: 'skipped', reason: 'schema already at version 1' });
    const back = await oraDb(['restore', result.backupId, '--db', db, '--backup-dir', dir]);
    expect(back.code).toBe(0);
    const check = new Database(db, { readonly: true });
    expect(check.pragma('user_version', { simple: true })).toBe(0);
    check.close();
    expect(contentHash(db)).toBe(before);
  });

  it('refuses a database newer than the code with exit 3, taking no backup', async () => {
    createOraDatabase(db);
    const raw = new Database(db);
    raw.pragma('user_version = 99');
    raw.close();
    const r = await oraDb(['migrate', '--db', db, '--backup-dir', dir]);
    expect(r.code).toBe(3);
    expect(r.logs.at(-1)?.code).toBe('SCHEMA_TOO_NEW');
    expect(readdirSync(t.dir)).not.toContain('backups');
  });
});
