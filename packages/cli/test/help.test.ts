import { flagsOf } from '@ora/harness';
import { describe, expect, it } from 'vitest';
import { program } from '../src/index.js';
import { oraDb } from './run-cli.js';

async function help(args: string[]): Promise<string> {
  const r = await oraDb([...args, '--help']);
  expect(r.code).toBe(0);
  return r.out;
}

/** The option lines of a help text, by flag: the flag's line and its continuation lines. */
function optionBlocks(text: string): Map<string, string> {
  const blocks = new Map<string, string>();
  let current = '';
  for (const line of text.split('\n')) {
    const m = /^\s+(?:-\w, )?--([\w-]+)/.exec(line);
    if (m) {
      current = m[1] as string;
      blocks.set(current, line);
    } else if (current && /^\s{6,}\S/.test(line)) {
      blocks.set(current, `${blocks.get(current)}\n${line}`);
    } else current = '';
  }
  return blocks;
}

describe('ora-db --help', () => {
  it.each(program.jobs.map((j) => [j.name]))('%s: numbers are typed [number], other values [string]', async (name) => {
    const job = program.jobs.find((j) => j.name === name);
    const text = await help(name.split(' '));
    const blocks = optionBlocks(text);
    for (const f of flagsOf(job?.event as never)) {
      if ((job?.positional ?? []).includes(f.key)) continue;
      const block = blocks.get(f.flag);
      expect(block, `${name} --${f.flag}`).toBeDefined();
      expect(block).toContain(f.numeric ? '[number]' : f.type === 'boolean' ? '[boolean]' : '[string]');
      if (f.numeric) expect(block).not.toContain('[string]');
    }
  });

  it.each(program.jobs.filter((j) => (j.examples ?? []).length > 0).map((j) => [j.name]))(
    '%s: every example command is on one line, whole',
    async (name) => {
      const job = program.jobs.find((j) => j.name === name);
      const text = await help(name.split(' '));
      const lines = text.split('\n');
      for (const [command] of job?.examples ?? []) {
        const whole = command.replace(/\$0/g, 'ora-db');
        expect(
          lines.some((l) => l.trim() === whole),
          `${name}: ${whole}\n${text}`,
        ).toBe(true);
      }
    },
  );

  it.each([
    ['backup', 'list'],
    ['backup', 'verify'],
  ])('%s %s shows only its own flags', async (...words) => {
    const text = await help(words);
    const job = program.jobs.find((j) => j.name === (words[1] === 'verify' ? 'backup-verify' : words.join(' ')));
    const own = new Set(flagsOf(job?.event as never).map((f) => f.flag));
    for (const flag of ['method', 'compression', 'keep-days', 'dry-run']) {
      if (!own.has(flag)) expect(text).not.toMatch(new RegExp(`--${flag}\\b`));
    }
  });

  // Every backup subcommand (list, pin, unpin, forget, prune, verify): none of backup's own flags
  // that it does not declare itself, in its help or on its command line.
  const backupFlags = flagsOf(program.jobs.find((j) => j.name === 'backup')?.event as never).map((f) => f.flag);
  const subcommands = program.jobs.filter((j) => j.name.startsWith('backup '));
  it('the backup subcommands are list, pin, unpin, forget, prune and verify', () => {
    expect(subcommands.map((j) => j.name).sort()).toEqual(
      ['backup forget', 'backup list', 'backup pin', 'backup prune', 'backup unpin', 'backup verify'].sort(),
    );
  });

  it.each(subcommands.map((j) => [j.name]))(
    "%s: help and command line have only its own flags, not backup's",
    async (name) => {
      const job = program.jobs.find((j) => j.name === name);
      const own = new Set(flagsOf(job?.event as never).map((f) => f.flag));
      const foreign = backupFlags.filter((f) => !own.has(f));
      expect(foreign).toContain('method');
      // The option lines (the description may name another command's flag, e.g. backup --incremental).
      const options = optionBlocks(await help(name.split(' ')));
      for (const flag of foreign) expect(options.has(flag), `--${flag}`).toBe(false);
      for (const f of flagsOf(job?.event as never)) {
        if (!(job?.positional ?? []).includes(f.key)) expect(options.has(f.flag), `--${f.flag}`).toBe(true);
      }
      const positional =
        (job?.positional ?? []).length > 0 ? [name === 'backup verify' ? 'all' : 'ora-20261201T010000123Z-3fa9c1'] : [];
      const r = await oraDb([...name.split(' '), ...positional, '--method', 'vacuum-into']);
      expect(r.code).toBe(2);
      expect(r.logs).toHaveLength(1);
      expect(r.logs[0]?.msg).toBe(`invalid command line: unknown flag --method; see 'ora-db ${name} --help'`);
    },
  );

  it.each([
    [['backup', 'list', '--method', 'vacuum-into'], /unknown flag --method; see 'ora-db backup list --help'$/],
    [['backup', 'verify', 'all', '--keep-days', '3'], /unknown flag --keep-days; see 'ora-db backup verify --help'$/],
    [['backup', 'lst'], /unexpected argument 'lst'|unknown command 'lst' \(did you mean 'list'\?\)/],
  ])('%j is refused: a subcommand accepts only its own flags', async (args, message) => {
    const r = await oraDb(args);
    expect(r.code).toBe(2);
    expect(r.logs).toHaveLength(1);
    expect(r.logs[0]?.msg).toMatch(message);
  });

  it.each([
    [
      ['healthcheck', '--db', 'x'],
      "invalid command line: unknown command 'healthcheck' (did you mean 'health-check'?); see 'ora-db --help'",
    ],
    [
      ['--db', 'x', 'bakup'],
      "invalid command line: unknown command 'bakup' (did you mean 'backup'?); see 'ora-db --help'",
    ],
    [
      ['archive', '--max-lock', '5'],
      "invalid command line: unknown flag --max-lock (did you mean --max-lock-ms?); see 'ora-db archive --help'",
    ],
    [
      ['backup', '--keepdays', '3'],
      "invalid command line: unknown flag --keepdays (did you mean --keep-days?); see 'ora-db backup --help'",
    ],
    [
      ['backup', 'prune', '--point-keep-all-hour', '3'],
      "invalid command line: unknown flag --point-keep-all-hour (did you mean --point-keep-all-hours?); see 'ora-db backup prune --help'",
    ],
    [
      ['backup', 'pin', 'ora-20261201T010000123Z-3fa9c1', '--reasn', 'x'],
      "invalid command line: unknown flag --reasn (did you mean --reason?); see 'ora-db backup pin --help'",
    ],
    [['health-check', '--zzzz'], "invalid command line: unknown flag --zzzz; see 'ora-db health-check --help'"],
    [[], "invalid command line: name a command; see 'ora-db --help'"],
    [
      ['inventory'],
      "invalid command line: name one of the inventory commands: receive, ship, adjust, levels, low-stock; see 'ora-db inventory --help'",
    ],
  ])('%j: one line, with a did-you-mean when a command or flag is close', async (args, message) => {
    const r = await oraDb(args);
    expect(r.code).toBe(2);
    expect(r.logs).toHaveLength(1);
    expect(r.logs[0]?.msg).toBe(message);
    expect(r.out).toBe('');
  });
});
