import { mkdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createOraDatabase } from '@ora/core/testing';
import { bundleRunner, snapshotDir, tempDir } from '@ora/testkit';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const verify = bundleRunner(root);
const backup = bundleRunner(join(root, '../backup'));

let t: ReturnType<typeof tempDir>;
beforeEach(() => {
  t = tempDir();
});
afterEach(() => t.cleanup());

describe('backup-verify bundle', () => {
  it('verifies every stored backup by default and records the result in each manifest', () => {
    const db = t.path('ora.db');
    const dir = t.path('backups');
    createOraDatabase(db, 50);
    const id = backup(['--db', db, '--backup-dir', dir, '--json']).json().backupId;
    const r = verify(['--backup-dir', dir, '--json']);
    expect(r.code).toBe(0);
    expect(r.json()).toMatchObject({ status: 'ok', verified: 1, failed: 0, results: [{ id, ok: true, detail: 'ok' }] });
    const manifest = JSON.parse(readFileSync(join(dir, `${id}.json`), 'utf8'));
    expect(manifest.lastVerification).toMatchObject({ ok: true, detail: 'ok' });
  });

  it('is skipped when there is nothing to verify', () => {
    mkdirSync(t.path('empty'));
    const r = verify(['--backup-dir', t.path('empty'), '--json']);
    expect(r.code).toBe(0);
    expect(r.json()).toMatchObject({ status: 'skipped', reason: 'no backups or restore points to verify' });
  });

  it.each([
    [
      ['../x'],
      'invalid input: --which="../x": expected a backup id (like ora-20261125T023500123Z-3fa9c1), all or latest',
    ],
    [['latest', '--max-problems', '0'], 'invalid input: --max-problems="0": expected a whole number from 1 to 10000'],
  ])('refuses %j with exit 2 and changes nothing', (args, message) => {
    mkdirSync(t.path('b'));
    const before = snapshotDir(t.dir);
    const r = verify([...args, '--backup-dir', t.path('b')]);
    expect(r.code).toBe(2);
    expect(r.logs[0]?.msg).toBe(message);
    expect(snapshotDir(t.dir)).toEqual(before);
  });
});
