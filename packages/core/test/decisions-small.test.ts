import { describe, expect, it } from 'vitest';
import * as z from 'zod';
import { COMPRESSION_LEVELS, compressionLevelFor } from '../src/backup/index.js';
import { CONFIG_VARIABLES, configField, describeConfig, loadConfig } from '../src/config/config.js';
import { formatMib, mib, textTable } from '../src/format.js';

describe('compressionLevelFor', () => {
  it('gives each format its default level when none is given', () => {
    expect(compressionLevelFor('zstd')).toBe(3);
    expect(compressionLevelFor('gzip')).toBe(6);
    expect(COMPRESSION_LEVELS).toEqual({ zstd: { default: 3, max: 19 }, gzip: { default: 6, max: 9 } });
  });

  it('keeps a level within the format and refuses one above its maximum as INVALID_INPUT', () => {
    expect(compressionLevelFor('gzip', 9)).toBe(9);
    expect(compressionLevelFor('zstd', 19)).toBe(19);
    expect(() => compressionLevelFor('gzip', 10)).toThrow(
      expect.objectContaining({
        code: 'INVALID_INPUT',
        message: '--compression-level 10 is out of range for gzip: expected 1 to 9',
      }),
    );
  });
});

describe('configField', () => {
  it('checks an event value exactly as the environment variable is checked, without the default', () => {
    const event = z.object({ busyTimeoutMs: configField('busyTimeoutMs'), dest: configField('dest') });
    expect(event.parse({ busyTimeoutMs: '250' })).toEqual({ busyTimeoutMs: 250 });
    const bad = event.safeParse({ busyTimeoutMs: 700_000 });
    expect(bad.success).toBe(false);
    const env = (() => {
      try {
        loadConfig({ ORA_BUSY_TIMEOUT_MS: '700000' });
      } catch (error) {
        return (error as Error).message;
      }
      return '';
    })();
    const message = bad.success ? '' : (bad.error.issues[0]?.message ?? '');
    expect(message).toBe('expected a whole number from 0 to 600000 (milliseconds)');
    expect(env).toContain(message);
    // No default in the event: the harness fills it from the config, so a missing value is an error.
    expect(event.safeParse({}).success).toBe(false);
  });

  it('is optional where the variable has no default, and takes the flag wording unless given one', () => {
    expect(configField('slowQueryLog', 'x').safeParse(undefined).success).toBe(true);
    expect(configField('maxProblems').description).toBe('Most integrity problems listed');
    expect(configField('db', 'The live database').description).toBe('The live database');
    expect(() => configField('walWarnMb')).toThrow(/no flag wording/);
  });

  it('writes each default once: the README default is the schema default as text', () => {
    const config = loadConfig({}) as Record<string, unknown>;
    for (const row of describeConfig()) {
      const spec = CONFIG_VARIABLES[row.name as keyof typeof CONFIG_VARIABLES];
      const value = config[spec.key];
      expect(row.default).toBe(value === undefined ? '' : String(value));
    }
  });
});

describe('units', () => {
  it('formats MiB as a rounded number and as fixed-point text', () => {
    expect(mib(1_572_864)).toBe(1.5);
    expect(mib(1234567)).toBe(1.18);
    expect(formatMib(1_572_864)).toBe('1.50 MiB');
    expect(formatMib(1_572_864, 1)).toBe('1.5 MiB');
  });

  it('lays rows out in columns as wide as their widest cell, trailing spaces trimmed', () => {
    expect(textTable(['ID', 'SIZE', 'X'], [['abc', '1', '']], '  ')).toEqual(['  ID   SIZE  X', '  abc  1']);
  });
});
