import { describe, expect, it } from 'vitest';
import { describeConfig, loadConfig } from '../src/config/config.js';
import { pathField, textField } from '../src/config/fields.js';
import { ConfigError } from '../src/errors/errors.js';

describe('loadConfig', () => {
  it('applies the defaults of the guide when nothing is set', () => {
    const config = loadConfig({});
    expect(config).toMatchObject({
      db: 'ora.db',
      backupDir: 'backups',
      busyTimeoutMs: 8000,
      logLevel: 'info',
      walWarnMb: 64,
      freeWarnPct: 25,
    });
    expect(config.metricsFile).toBeUndefined();
  });

  it('treats empty strings as unset', () => {
    expect(loadConfig({ DATABASE_PATH: '', ORA_BUSY_TIMEOUT_MS: '  ' })).toMatchObject({
      db: 'ora.db',
      busyTimeoutMs: 8000,
    });
  });

  it('converts numbers from strings', () => {
    expect(loadConfig({ ORA_BUSY_TIMEOUT_MS: '250', ORA_WAL_WARN_MB: '1.5' })).toMatchObject({
      busyTimeoutMs: 250,
      walWarnMb: 1.5,
    });
  });

  it('reports every invalid variable in one error, naming each and what is allowed', () => {
    let error: unknown;
    try {
      loadConfig({
        ORA_BUSY_TIMEOUT_MS: 'abc',
        ORA_LOG_LEVEL: 'loud',
        ORA_FREE_WARN_PCT: '120',
        ORA_PING_URL: 'ftp://x',
      });
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(ConfigError);
    const e = error as ConfigError;
    expect(e.code).toBe('INVALID_CONFIG');
    expect(e.exitStatus).toBe(2);
    expect(e.message).toBe(
      'invalid configuration (4 problems): ' +
        'ORA_BUSY_TIMEOUT_MS="abc": expected a whole number from 0 to 600000 (milliseconds); ' +
        'ORA_LOG_LEVEL="loud": expected one of: trace, debug, info, warn, error, fatal, silent; ' +
        'ORA_FREE_WARN_PCT="120": expected a number from 0 to 100 (percent); ' +
        'ORA_PING_URL="ftp://x": expected an http:// or https:// URL; ' +
        'fix or unset these environment variables',
    );
  });

  it('refuses a warn threshold above its critical threshold', () => {
    expect(() => loadConfig({ ORA_WAL_WARN_MB: '600', ORA_WAL_CRITICAL_MB: '500' })).toThrow(
      'ORA_WAL_WARN_MB (600) must not exceed ORA_WAL_CRITICAL_MB (500)',
    );
  });

  it('refuses paths with NUL bytes and fractional timeouts', () => {
    expect(() => loadConfig({ DATABASE_PATH: 'a\0b' })).toThrow(/DATABASE_PATH=.*no NUL bytes/);
    expect(() => loadConfig({ ORA_BUSY_TIMEOUT_MS: '1.5' })).toThrow(/ORA_BUSY_TIMEOUT_MS="1.5"/);
  });

  it('refuses paths that were not valid UTF-8 (decoded to U+FFFD) or hold lone surrogates', () => {
    expect(() => loadConfig({ DATABASE_PATH: 'a\uFFFDb.db' })).toThrow(/DATABASE_PATH=.*valid UTF-8/);
    expect(() => loadConfig({ BACKUP_DIR: 'x\uD800' })).toThrow(/BACKUP_DIR=.*valid UTF-8/);
    expect(loadConfig({ DATABASE_PATH: 'caf\u00e9/\u{1F600}.db' }).db).toBe('caf\u00e9/\u{1F600}.db');
  });

  it('accepts U+FFFD in data but not lone surrogates', () => {
    expect(textField('a name').parse('a\uFFFDb')).toBe('a\uFFFDb');
    expect(() => textField('a name').parse('a\uDC00b')).toThrow(/valid UTF-8/);
    expect(() => pathField('a path').parse('a\uFFFDb')).toThrow(/valid UTF-8/);
  });

  it('describes every variable for --help and the README', () => {
    const names = describeConfig().map((v) => v.name);
    expect(names).toContain('DATABASE_PATH');
    expect(names).toContain('BACKUP_DIR');
    expect(describeConfig().every((v) => v.describe.length > 10)).toBe(true);
  });
});
