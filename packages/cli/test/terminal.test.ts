import { mkdirSync } from 'node:fs';
import Database from 'better-sqlite3';
import { describe, expect, it } from 'vitest';
import { inTerminal, useBigDatabase, withoutTerminal } from './long-jobs.js';

// One database of ~70 MiB for every long job: long enough that each is seen mid-run.
const big = useBigDatabase('ora-terminal-', 64);

/** A fresh copy of the source database, and a directory for its backups. */
function fresh(): { db: string; backups: string } {
  const db = big.fresh();
  const backups = `${db}.backups`;
  mkdirSync(backups);
  return { db, backups };
}

const JOBS: [string, (f: { db: string; backups: string }) => string[], (f: { db: string; backups: string }) => void][] =
  [
    ['backup', (f) => ['backup', '--db', f.db, '--backup-dir', f.backups], () => {}],
    [
      'restore',
      (f) => ['restore', 'latest', '--db', f.db, '--backup-dir', f.backups, '--to', `${f.db}.restored`],
      (f) => {
        const r = withoutTerminal(['backup', '--db', f.db, '--backup-dir', f.backups]);
        expect(r.code).toBe(0);
      },
    ],
    ['weekly-vacuum', (f) => ['weekly-vacuum', '--db', f.db, '--force'], () => {}],
    ['archive', (f) => ['archive', '--db', f.db, '--before', '2026-03-01', '--max-lock-ms', '5'], () => {}],
    ['recover', (f) => ['recover', '--db', f.db, '--force', '--out', `${f.db}.recovered`], () => {}],
    [
      'backup verify (a full backup)',
      (f) => ['backup', 'verify', 'all', '--backup-dir', f.backups],
      (f) => {
        const r = withoutTerminal(['backup', '--db', f.db, '--backup-dir', f.backups]);
        expect(r.code).toBe(0);
      },
    ],
    ['seed', (f) => ['seed', '--db', `${f.db}.seeded`, '--orders', '60000'], () => {}],
    // Restore points: taking one (every page read and hashed), verifying them, restoring one.
    ['backup-incremental', (f) => ['backup', '--incremental', '--db', f.db, '--backup-dir', f.backups], () => {}],
    [
      'backup verify (restore points)',
      (f) => ['backup', 'verify', 'all', '--backup-dir', f.backups, '--point-sample', '1'],
      (f) => takePoints(f, 2),
    ],
    [
      'restore (a restore point)',
      (f) => ['restore', 'latest', '--db', f.db, '--backup-dir', f.backups, '--to', `${f.db}.restored`],
      (f) => takePoints(f, 1),
    ],
  ];

/** `n` restore points of the database (the second after a change: each has its own pages). */
function takePoints(f: { db: string; backups: string }, n: number): void {
  for (let i = 0; i < n; i++) {
    if (i > 0) {
      const db = new Database(f.db);
      db.exec('UPDATE filler SET data = randomblob(4000) WHERE id % 7 = 1');
      db.close();
    }
    const r = withoutTerminal(['backup', '--incremental', '--db', f.db, '--backup-dir', f.backups]);
    expect(r.code, JSON.stringify(r.logs)).toBe(0);
  }
}

/** The progress label of a row: its run name, without the parenthesised case. */
const labelOf = (job: string) => job.replace(/ \(.*\)$/, '');

describe('long jobs on a terminal (a pseudo-terminal from util-linux script)', () => {
  it.each(JOBS)(
    '%s redraws one cleared line with a percentage, rate and ETA',
    (row, args, before) => {
      const job = labelOf(row);
      const f = fresh();
      before(f);
      const { code, screen } = inTerminal(args(f));
      expect(code, screen).toBe(0);
      // Every redraw starts with carriage return + erase line: nothing of a longer frame remains.
      const frames = screen.split('\r\x1b[2K').filter((x) => x.startsWith(`${job}: `));
      expect(frames.length, screen).toBeGreaterThan(1);
      expect(
        frames.some((x) => /\d+% .*ETA \d+:\d\d/.test(x)),
        screen,
      ).toBe(true);
      for (const frame of frames) expect(frame.split('\r')[0]).not.toMatch(/\r|\n/);
      // The bar is gone when the job reports: the summary line starts a clean line.
      expect(screen).toMatch(new RegExp(`\\r\\x1b\\[2K[^\\r]*${job}: finished: `));
    },
    240_000,
  );
});

describe('long jobs without a terminal', () => {
  it.each(JOBS)(
    '%s logs JSON progress lines while it runs and one coherent final record',
    (row, args, before) => {
      const job = labelOf(row);
      const f = fresh();
      before(f);
      const r = withoutTerminal(args(f), { ORA_PROGRESS_EVERY_MS: '100' });
      expect(r.code, JSON.stringify(r.logs)).toBe(0);
      const progress = r.logs.filter((l) => l.progress);
      const moving = progress.filter((l) => typeof l.progress?.pct === 'number' && (l.progress.pct as number) < 100);
      expect(moving.length, JSON.stringify(progress)).toBeGreaterThan(0);
      for (const l of moving) expect(l.msg).toMatch(new RegExp(`^${job}: .+ \\d+% \\(`));
      const last = progress.at(-1) as unknown as {
        msg: string;
        progress: { phases: { done?: number; total?: number }[] };
      };
      expect(last.msg).toMatch(new RegExp(`^${job}: finished: `));
      // No "done 0/1 … 100%": a phase with figures ends at its real figures.
      for (const p of last.progress.phases) {
        if (p.total !== undefined) expect(p.done).toBe(p.total);
      }
      expect(JSON.stringify(r.logs)).not.toMatch(/\\r|\\u001b/);
    },
    240_000,
  );
});

describe('recover without a terminal while one SQLite call blocks', () => {
  it('logs a heartbeat line while the indexes are built and the result is checked (single SQLite calls)', () => {
    const f = fresh();
    const r = withoutTerminal(['recover', '--db', f.db, '--force', '--out', `${f.db}.recovered`], {
      ORA_PROGRESS_EVERY_MS: '100',
    });
    expect(r.code, JSON.stringify(r.logs)).toBe(0);
    const beats = r.logs.filter((l) => /^recover: (indexes|check) still running \(\d+ s\)$/.test(l.msg));
    expect(beats.length, JSON.stringify(r.logs.map((l) => l.msg))).toBeGreaterThan(0);
    expect(r.logs.filter((l) => l.progress).at(-1)?.msg).toMatch(/^recover: finished: /);
  }, 240_000);
});
