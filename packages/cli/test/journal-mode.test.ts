import { createOraDatabase } from '@ora/core/testing';
import { snapshotDir, tempDir } from '@ora/testkit';
import Database from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { oraDb } from './run-cli.js';

// SPEC §4.7: no job changes a database's journal mode unless the operator asks
// (`daily-maintenance --journal-mode wal`, or `init`/`seed` creating a new file), and every job
// that opens it read-write reports the mode in its result.

let t: ReturnType<typeof tempDir>;
let db: string;
beforeEach(() => {
  t = tempDir();
  db = t.path('ora.db');
  createOraDatabase(db, 300);
  const raw = new Database(db);
  raw.pragma('journal_mode = DELETE');
  raw.close();
});
afterEach(() => t.cleanup());

const journalMode = () => {
  const raw = new Database(db, { readonly: true });
  try {
    return raw.pragma('journal_mode', { simple: true });
  } finally {
    raw.close();
  }
};

describe('journal mode', () => {
  it('a DELETE-mode database stays in DELETE mode through every job, and each result says so', async () => {
    const runs: [string[], (r: Record<string, unknown>) => unknown][] = [
      [['daily-maintenance'], (r) => r.journal],
      [['weekly-vacuum', '--force', '--vacuum-threshold-pct', '0'], (r) => r.journalMode],
      [['diagnose', 'locks'], (r) => r.journalMode],
      [
        ['explain', 'SELECT * FROM shipped_orders WHERE ship_date > ?', '--params', '["2026-01-01"]'],
        (r) => r.journalMode,
      ],
      [['explain', "DELETE FROM workflows WHERE status = 'x'", '--allow-write'], (r) => r.journalMode],
      [['archive', '--before', '2026-03-01'], (r) => r.journalMode],
      [['migrate', '--backup-dir', t.path('b')], (r) => r.journalMode],
    ];
    for (const [args, mode] of runs) {
      const r = await oraDb([...args, '--db', db, '--json']);
      expect(r.code, args.join(' ')).toBe(0);
      const reported = mode(r.json());
      expect(reported, args.join(' ')).toEqual(
        args[0] === 'daily-maintenance' ? { before: 'delete', after: 'delete', changed: false } : 'delete',
      );
      expect(journalMode(), args.join(' ')).toBe('delete');
    }
    // A failed archive (its archive directory does not exist) leaves it too.
    const failed = await oraDb([
      'archive',
      '--before',
      '2026-09-01',
      '--archive-dir',
      t.path('missing/dir'),
      '--db',
      db,
    ]);
    expect(failed.code).not.toBe(0);
    expect(journalMode()).toBe('delete');
    const human = await oraDb(['daily-maintenance', '--db', db]);
    expect(human.out).toMatch(/journal delete \(unchanged\), no WAL to checkpoint/);
  });

  it('daily-maintenance --journal-mode wal switches it and says so; a bad value changes nothing', async () => {
    const before = snapshotDir(t.dir);
    const bad = await oraDb(['daily-maintenance', '--db', db, '--journal-mode', 'WALL']);
    expect(bad.code).toBe(2);
    expect(bad.logs.at(-1)?.msg).toMatch(/--journal-mode/);
    expect(snapshotDir(t.dir)).toEqual(before);
    const r = await oraDb(['daily-maintenance', '--db', db, '--journal-mode', 'wal', '--json']);
    expect(r.code).toBe(0);
    expect(r.json()).toMatchObject({ journalMode: 'wal', journal: { before: 'delete', after: 'wal', changed: true } });
    expect(journalMode()).toBe('wal');
    const again = await oraDb(['daily-maintenance', '--db', db, '--journal-mode', 'wal']);
    expect(again.out).toMatch(/journal wal \(unchanged\)/);
  });

  it('health-check advises the switch on an ORA database in DELETE mode, and only reports it on a foreign one', async () => {
    const r = await oraDb(['health-check', '--db', db, '--json']);
    expect(r.json().checks.find((c: { name: string }) => c.name === 'journal-mode')).toMatchObject({
      level: 'warn',
      message: expect.stringMatching(
        /the guide requires WAL; switch it with 'ora-db daily-maintenance --journal-mode wal'/,
      ),
    });
  });
});
