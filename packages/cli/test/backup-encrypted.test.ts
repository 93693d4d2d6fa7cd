import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { createOraDatabase } from '@ora/core/testing';
import { tempDir } from '@ora/testkit';
import { afterEach, beforeEach, expect, it } from 'vitest';
import { oraDb } from './run-cli.js';

// `ora-db backup list` over encrypted and plain backups: which is which, and the key id needed.

let t: ReturnType<typeof tempDir>;
beforeEach(() => {
  t = tempDir();
});
afterEach(() => t.cleanup());

it('lists which backups are encrypted and under which key id, without needing the key', async () => {
  const db = t.path('ora.db');
  const dir = t.path('backups');
  const key = t.path('backup.key');
  writeFileSync(key, randomBytes(32));
  createOraDatabase(db, 20);
  expect((await oraDb(['backup', '--db', db, '--backup-dir', dir])).code).toBe(0);
  expect((await oraDb(['backup', '--db', db, '--backup-dir', dir, '--encrypt-key-file', key])).code).toBe(0);
  const list = await oraDb(['backup', 'list', '--backup-dir', dir, '--json']);
  expect(list.code).toBe(0);
  const [plain, encrypted] = list.json().backups;
  expect(plain).toMatchObject({ encrypted: false, keyId: null });
  expect(encrypted).toMatchObject({ encrypted: true, keyId: expect.stringMatching(/^[0-9a-f]{16}$/) });
  const bad = await oraDb(['backup', 'list', '--backup-dir', dir, '--encrypt-key-file', t.path('nope.key')]);
  expect(bad.code).toBe(2);
});
