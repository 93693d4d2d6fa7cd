import { integerField, loadConfig, textField } from '@ora/core';
import { describe, expect, it } from 'vitest';
import * as z from 'zod';
import { flagsOf, parseEventJson, resolveEvent } from '../src/index.js';

const event = z.object({
  db: textField('a database file path').describe('Database'),
  walWarnMb: integerField(0, 100).describe('WAL warn'),
  full: z.boolean().default(false).describe('Full check'),
});
const config = loadConfig({ DATABASE_PATH: 'env.db', ORA_WAL_WARN_MB: '5' });

describe('resolveEvent', () => {
  it('takes flags over ORA_EVENT over the environment', () => {
    expect(resolveEvent(event, { config, eventJson: {}, flags: {} })).toEqual({
      db: 'env.db',
      walWarnMb: 5,
      full: false,
    });
    expect(resolveEvent(event, { config, eventJson: { db: 'event.db', full: true }, flags: {} })).toEqual({
      db: 'event.db',
      walWarnMb: 5,
      full: true,
    });
    expect(
      resolveEvent(event, { config, eventJson: { db: 'event.db' }, flags: { db: 'flag.db', walWarnMb: '7' } }),
    ).toEqual({
      db: 'flag.db',
      walWarnMb: 7,
      full: false,
    });
  });

  it('names each bad value as the user wrote it, all together', () => {
    expect(() =>
      resolveEvent(event, { config, eventJson: { full: 'yes' }, flags: { walWarnMb: 'abc', db: '' } }),
    ).toThrow(
      'invalid input: --db="": expected a database file path (1 to 4096 characters, no NUL bytes); --wal-warn-mb="abc": expected a whole number from 0 to 100; ORA_EVENT.full="yes": Invalid input: expected boolean, received string',
    );
  });

  it('refuses unknown ORA_EVENT keys, including __proto__', () => {
    expect(() => resolveEvent(event, { config, eventJson: parseEventJson('{"dbb":"x"}'), flags: {} })).toThrow(
      "invalid input: ORA_EVENT has unknown field 'dbb' (allowed: db, walWarnMb, full)",
    );
    const hostile = parseEventJson('{"__proto__":{"full":true},"db":"x.db"}');
    expect(() => resolveEvent(event, { config, eventJson: hostile, flags: {} })).toThrow(
      "ORA_EVENT has unknown field '__proto__'",
    );
    expect(({} as { full?: boolean }).full).toBeUndefined();
  });

  it('shortens huge bad values so the message stays one readable line', () => {
    const long = 'x'.repeat(5000);
    try {
      resolveEvent(event, { config, eventJson: {}, flags: { walWarnMb: long } });
      expect.unreachable();
    } catch (error) {
      expect((error as Error).message.length).toBeLessThan(300);
      expect((error as Error).message).toContain('…(5002 chars)');
    }
  });
});

describe('parseEventJson', () => {
  it('accepts an absent or empty ORA_EVENT as no event', () => {
    expect(parseEventJson(undefined)).toEqual({});
    expect(parseEventJson('  ')).toEqual({});
  });
  it('refuses text that is not JSON, and JSON that is not an object', () => {
    expect(() => parseEventJson('{full:true}')).toThrow(/^ORA_EVENT is not valid JSON \(.*\); pass an object such as/);
    expect(() => parseEventJson('[1,2]')).toThrow('ORA_EVENT must be a JSON object, got an array');
    expect(() => parseEventJson('null')).toThrow('ORA_EVENT must be a JSON object, got null');
    expect(() => parseEventJson('"x"')).toThrow('ORA_EVENT must be a JSON object, got string');
  });
});

describe('flagsOf', () => {
  it('derives kebab-case flags, boolean or string, with the environment default named', () => {
    const flags = flagsOf(event);
    expect(flags.map((f) => [f.flag, f.type])).toEqual([
      ['db', 'string'],
      ['wal-warn-mb', 'string'],
      ['full', 'boolean'],
    ]);
    expect(flags[0]?.defaultDescription).toBe('$DATABASE_PATH, else "ora.db"');
    expect(flags[1]?.describe).toBe('WAL warn (0–100)');
  });
});
