/**
 * Hostile and malformed input across every command (SPEC §3): each case must exit 2 with one clear
 * error line on stderr, print nothing on stdout, and leave the data directory exactly as it was
 * (every file's size and SHA-256, recursively). Runs the bundled CLI as real processes, so argv
 * bytes that are not UTF-8 reach it as they would from a shell.
 */
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { createOraDatabase } from '@ora/core/testing';
import { collectOutput, tempDir } from '@ora/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CLI } from '../src/crash.js';

let t: ReturnType<typeof tempDir>;
let db: string;
let backups: string;

beforeAll(async () => {
  t = tempDir('ora-hostile-');
  db = t.path('ora.db');
  backups = t.path('backups');
  createOraDatabase(db, 100);
  const r = await run(['backup', '--db', db, '--backup-dir', backups]);
  expect(r.code).toBe(0);
});
afterAll(() => t.cleanup());

/** Every file under `dir` with its size and hash; SQLite's `-shm` index and empty `-wal` aside. */
function listing(dir: string, prefix = ''): Record<string, string> {
  const out: Record<string, string> = {};
  for (const name of readdirSync(dir).sort()) {
    const p = join(dir, name);
    const s = statSync(p);
    if (s.isDirectory()) Object.assign(out, { [`${prefix}${name}/`]: 'dir' }, listing(p, `${prefix}${name}/`));
    else if (!(name.endsWith('-shm') || (name.endsWith('-wal') && s.size === 0)))
      out[`${prefix}${name}`] = `${s.size}:${createHash('sha256').update(readFileSync(p)).digest('hex')}`;
  }
  return out;
}

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs the CLI in the data directory. `rawArgs` (shell words) carry bytes JavaScript strings cannot. */
function run(args: string[], env: Record<string, string> = {}, rawArgs = ''): Promise<Run> {
  const quoted = args.map((a) => `'${a.replaceAll("'", "'\\''")}'`).join(' ');
  const child = spawn('sh', ['-c', `exec "${process.execPath}" "${CLI}" ${quoted} ${rawArgs}`], {
    cwd: t.dir,
    env: { PATH: process.env.PATH ?? '', ...env },
  });
  return collectOutput(child);
}

interface Command {
  name: string;
  /** Valid arguments: each case changes one thing. */
  base: () => string[];
  /** The flag holding a file or directory path, if any. */
  pathFlag?: string;
  /** Command-specific bad values: extra args and what the error must say. */
  bad: [string[], RegExp][];
}

const COMMANDS: Command[] = [
  {
    name: 'health-check',
    base: () => ['health-check', '--db', db],
    pathFlag: '--db',
    bad: [
      [['--wal-warn-mb', '-1'], /--wal-warn-mb="-1": expected a number from 0 to 1000000/],
      [['--free-warn-pct', '101'], /--free-warn-pct="101": expected/],
      [['--max-problems', '1.5'], /--max-problems="1.5": expected a whole number/],
      [['--log-file', ''], /--log-file="": expected a file path/],
    ],
  },
  {
    name: 'daily-maintenance',
    base: () => ['daily-maintenance', '--db', db],
    pathFlag: '--db',
    bad: [
      [['--checkpoint-wait-ms', 'soon'], /--checkpoint-wait-ms="soon": expected a whole number/],
      [['--analysis-limit', '1e9'], /--analysis-limit="1e9": expected/],
    ],
  },
  {
    name: 'weekly-vacuum',
    base: () => ['weekly-vacuum', '--db', db],
    pathFlag: '--db',
    bad: [
      [['--maintenance-window', '25:00-26:00'], /--maintenance-window="25:00-26:00": expected a time window/],
      [['--mode', 'turbo'], /--mode="turbo": expected one of/],
      [['--vacuum-threshold-pct', 'NaN'], /--vacuum-threshold-pct="NaN": expected/],
    ],
  },
  {
    name: 'metrics',
    base: () => ['metrics', '--db', db],
    pathFlag: '--slow-query-log',
    bad: [[['--top', '0'], /--top="0": expected a whole number from 1 to 1000/]],
  },
  {
    name: 'backup',
    base: () => ['backup', '--db', db, '--backup-dir', backups],
    pathFlag: '--backup-dir',
    bad: [
      [['--compression-level', '20'], /--compression-level="20": expected a whole number from 1 to 19/],
      [['--compression', 'rar'], /--compression="rar": expected one of/],
      [['--keep-days', '0'], /--keep-days="0": expected/],
      [['--dest', 'ftp://host/x'], /--dest="ftp:\/\/host\/x": expected/],
    ],
  },
  {
    name: 'backup list',
    base: () => ['backup', 'list', '--backup-dir', backups],
    pathFlag: '--backup-dir',
    bad: [[['--s3-force-path-style=perhaps'], /--s3-force-path-style="perhaps": expected true or false/]],
  },
  {
    name: 'backup verify',
    base: () => ['backup', 'verify', 'all', '--backup-dir', backups],
    pathFlag: '--backup-dir',
    bad: [[['--max-problems', '0'], /--max-problems="0": expected/]],
  },
  {
    name: 'backup-verify',
    base: () => ['backup-verify', '--backup-dir', backups],
    pathFlag: '--backup-dir',
    bad: [
      [['../../etc/passwd'], /backup id/],
      [['/etc/passwd'], /backup id/],
    ],
  },
  {
    name: 'restore',
    base: () => ['restore', '--db', db, '--backup-dir', backups],
    pathFlag: '--backup-dir',
    bad: [
      [['../backups/x'], /backup id/],
      [['--at', 'yesterday'], /--at="yesterday": expected an ISO 8601 time/],
      [['--at', '2026-02-30T00:00:00Z'], /--at="2026-02-30T00:00:00Z": expected an ISO 8601 time/],
    ],
  },
  {
    name: 'archive',
    base: () => ['archive', '--db', db, '--before', '2026-01-01', '--dry-run'],
    pathFlag: '--archive-dir',
    bad: [
      [['--before', '2026-13-45'], /--before="2026-13-45": expected a date as YYYY-MM-DD/],
      [['--older-than', 'a year'], /--older-than="a year": expected/],
      [['--batch-size', '-3'], /--batch-size="-3": expected a whole number from 1 to 10000/],
      [['--table', 'sqlite_schema'], /--table="sqlite_schema": expected one of: shipped_orders/],
    ],
  },
  {
    name: 'recover',
    base: () => ['recover', '--db', db],
    pathFlag: '--out',
    bad: [[['--replace=sometimes'], /--replace="sometimes": expected true or false/]],
  },
  {
    name: 'init',
    base: () => ['init', '--db', t.path('new.db')],
    pathFlag: '--db',
    bad: [[['--busy-timeout-ms', '600001'], /--busy-timeout-ms="600001": expected a whole number from 0 to 600000/]],
  },
  {
    name: 'migrate',
    base: () => ['migrate', '--db', db, '--backup-dir', backups],
    pathFlag: '--db',
    bad: [[['--busy-timeout-ms', '-1'], /--busy-timeout-ms="-1": expected/]],
  },
  {
    name: 'seed',
    base: () => ['seed', '--db', t.path('seeded.db'), '--size', 'tiny'],
    pathFlag: '--db',
    bad: [
      [['--size', 'enormous'], /--size="enormous": expected one of/],
      [['--end-date', '2026-02-29'], /--end-date="2026-02-29": expected a date/],
      [['--seed', '-1'], /--seed="-1": expected/],
      [['--days', '0'], /--days="0": expected/],
    ],
  },
  {
    name: 'schema',
    base: () => ['schema'],
    bad: [[['--markdown=html'], /--markdown="html": expected true or false/]],
  },
  {
    name: 'schedule',
    base: () => ['schedule', '--out-dir', t.path('infra-out')],
    pathFlag: '--out-dir',
    bad: [[['--format', 'yaml'], /--format="yaml": expected one of: crontab, k8s/]],
  },
  {
    name: 'explain',
    base: () => ['explain', '--db', db, 'SELECT count(*) FROM workflows'],
    pathFlag: '--db',
    bad: [
      [['--params', '{not json'], /--params/],
      [['--max-rows', '0'], /--max-rows="0": expected/],
    ],
  },
  {
    name: 'inventory receive',
    base: () => ['inventory', 'receive', '--db', db, 'SKU-1', '5'],
    pathFlag: '--db',
    bad: [[['--date', '2026-1-1'], /--date="2026-1-1": expected a date/]],
  },
  {
    name: 'inventory ship',
    base: () => ['inventory', 'ship', '--db', db, 'SKU-1', '5'],
    pathFlag: '--db',
    bad: [[['--date', 'today'], /--date="today": expected a date/]],
  },
  {
    name: 'inventory adjust',
    base: () => ['inventory', 'adjust', '--db', db, '--direction', 'up', 'SKU-1', '5'],
    pathFlag: '--db',
    bad: [[['--busy-timeout-ms', 'x'], /--busy-timeout-ms="x": expected/]],
  },
  {
    name: 'inventory levels',
    base: () => ['inventory', 'levels', '--db', db],
    pathFlag: '--db',
    bad: [[['--limit', '0'], /--limit="0": expected/]],
  },
  {
    name: 'inventory low-stock',
    base: () => ['inventory', 'low-stock', '--db', db],
    pathFlag: '--db',
    bad: [[['--limit', 'all'], /--limit="all": expected/]],
  },
  {
    name: 'diagnose locks',
    base: () => ['diagnose', 'locks', '--db', db],
    pathFlag: '--db',
    bad: [[['--busy-timeout-ms', '1.5'], /--busy-timeout-ms="1.5": expected a whole number/]],
  },
  {
    name: 'diagnose fk',
    base: () => ['diagnose', 'fk', '--db', db],
    pathFlag: '--db',
    bad: [[['--limit', '-1'], /--limit="-1": expected/]],
  },
];

interface Case {
  what: string;
  args: string[];
  env?: Record<string, string>;
  raw?: string;
  expect: RegExp;
}

function casesFor(c: Command): Case[] {
  const base = c.base();
  const cases: Case[] = [
    { what: 'an unknown flag', args: [...base, '--no-such-flag', 'x'], expect: /unknown flag --no-such-flag/ },
    {
      what: 'a boolean flag with a word',
      args: [...base, '--json=perhaps'],
      expect: /--json="perhaps": expected true or false/,
    },
    { what: 'ORA_EVENT that is not JSON', args: base, env: { ORA_EVENT: '{db: ora.db' }, expect: /ORA_EVENT/ },
    { what: 'ORA_EVENT that is not an object', args: base, env: { ORA_EVENT: '[1,2]' }, expect: /ORA_EVENT/ },
    {
      what: 'ORA_EVENT with an extra key',
      args: base,
      env: { ORA_EVENT: '{"dropTables":true}' },
      expect: /ORA_EVENT has unknown field 'dropTables'/,
    },
    {
      what: 'ORA_EVENT with a __proto__ key',
      args: base,
      env: { ORA_EVENT: '{"__proto__":{"force":true,"replace":true}}' },
      expect: /ORA_EVENT has unknown field '__proto__'/,
    },
    {
      what: 'ORA_EVENT with a constructor key',
      args: base,
      env: { ORA_EVENT: '{"constructor":{"prototype":{"x":1}}}' },
      expect: /ORA_EVENT has unknown field 'constructor'/,
    },
    ...c.bad.map(([extra, expect]) => ({ what: `${extra.join(' ')}`, args: [...base, ...extra], expect })),
  ];
  if (c.pathFlag) {
    const flag = c.pathFlag;
    const key = flag.slice(2).replace(/-([a-z])/g, (_m, ch: string) => ch.toUpperCase());
    cases.push(
      { what: `an empty ${flag}`, args: [...base, `${flag}=`], expect: new RegExp(`${flag}="": expected`) },
      {
        what: `a ${flag} of 5000 characters`,
        args: [...base, flag, `${'a'.repeat(4996)}.db`],
        expect: new RegExp(`${flag}="a+….*: expected .*1 to 4096 characters`),
      },
      {
        what: `a ${flag} with bytes that are not UTF-8`,
        args: base,
        raw: `${flag} "$(printf 'x\\377\\376.db')"`,
        expect: new RegExp(`${flag}=.*valid UTF-8`),
      },
      {
        what: `a ${flag} with a NUL byte (through ORA_EVENT)`,
        args: base.filter((_a, i) => base[i] !== flag && base[i - 1] !== flag),
        env: { ORA_EVENT: JSON.stringify({ [key]: 'ora.db\u0000.txt' }) },
        expect: new RegExp(`ORA_EVENT\\.${key}=.*no NUL bytes`),
      },
      {
        what: `a ${flag} of the wrong type (through ORA_EVENT)`,
        args: base.filter((_a, i) => base[i] !== flag && base[i - 1] !== flag),
        env: { ORA_EVENT: JSON.stringify({ [key]: 42 }) },
        expect: new RegExp(`ORA_EVENT\\.${key}=42: expected`),
      },
    );
  }
  return cases;
}

describe.each(COMMANDS)('$name refuses hostile input', (c) => {
  it('exits 2 with one clear line and changes nothing, for every bad input', async () => {
    const before = listing(t.dir);
    const cases = casesFor(c);
    // A few at a time: each is a real process start.
    for (let i = 0; i < cases.length; i += 4) {
      await Promise.all(
        cases.slice(i, i + 4).map(async (k) => {
          const r = await run(k.args, k.env, k.raw);
          const lines = r.stderr.split('\n').filter(Boolean);
          const context = `${c.name}: ${k.what} → exit ${r.code}, stderr ${r.stderr.slice(0, 400)}`;
          expect(r.code, context).toBe(2);
          expect(lines, context).toHaveLength(1);
          const line = JSON.parse(lines[0] as string) as { level: string; code: string; msg: string };
          expect(line, context).toMatchObject({ level: 'error', code: 'INVALID_INPUT' });
          expect(line.msg, context).toMatch(k.expect);
          expect(line.msg.length, context).toBeLessThan(600);
          expect(r.stdout, context).toBe('');
        }),
      );
    }
    // Not one file created, removed or changed in the data directory by any of them.
    expect(listing(t.dir)).toEqual(before);
  });
});
