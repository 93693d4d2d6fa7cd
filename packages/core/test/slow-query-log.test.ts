import { existsSync, readFileSync, statSync } from 'node:fs';
import { tempDir } from '@ora/testkit';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { openDatabase } from '../src/connection/connection.js';
import { enableSlowQueryLog, readSlowQueryLog, summarizeSlowQueries } from '../src/metrics/slow-query-log.js';
import { createOraDatabase } from '../src/testing/index.js';

let t: ReturnType<typeof tempDir>;
beforeEach(() => {
  t = tempDir();
});
afterEach(() => t.cleanup());

describe('slow-query log', () => {
  it('records statements at or over the threshold, without their parameters, in a 0600 file', () => {
    const path = t.path('ora.db');
    createOraDatabase(path, 20);
    const db = openDatabase(path);
    const file = t.path('slow.ndjson');
    enableSlowQueryLog(db, { file, thresholdMs: 0, maxBytes: 1_000_000 });
    db.prepare('SELECT * FROM shipped_orders WHERE customer = ?').all('Secret Customer Name');
    db.prepare('SELECT count(*) FROM workflows').get();
    db.close();
    const text = readFileSync(file, 'utf8');
    expect(text).not.toContain('Secret Customer Name');
    expect(statSync(file).mode & 0o777).toBe(0o600);
    const { entries, malformed } = readSlowQueryLog(file);
    expect(malformed).toBe(0);
    expect(entries.map((e) => e.sql)).toEqual([
      'SELECT * FROM shipped_orders WHERE customer = ?',
      'SELECT count(*) FROM workflows',
    ]);
  });

  it('skips statements under the threshold', () => {
    const path = t.path('ora.db');
    createOraDatabase(path);
    const db = openDatabase(path);
    const file = t.path('slow.ndjson');
    enableSlowQueryLog(db, { file, thresholdMs: 60_000, maxBytes: 1_000_000 });
    db.prepare('SELECT 1').get();
    db.close();
    expect(existsSync(file)).toBe(false);
  });

  it('rotates to <file>.1 so it never holds more than twice maxBytes', () => {
    const path = t.path('ora.db');
    createOraDatabase(path);
    const db = openDatabase(path);
    const file = t.path('slow.ndjson');
    enableSlowQueryLog(db, { file, thresholdMs: 0, maxBytes: 2048 });
    const stmt = db.prepare('SELECT count(*) FROM workflows');
    for (let i = 0; i < 500; i++) stmt.get();
    db.close();
    expect(statSync(file).size).toBeLessThanOrEqual(2048);
    expect(statSync(`${file}.1`).size).toBeLessThanOrEqual(2048);
    expect(readSlowQueryLog(file).entries.length).toBeGreaterThan(10);
  });

  it('summarises by statement, biggest total first, and counts malformed lines', () => {
    const entries = [
      { ts: '', ms: 5, sql: 'A' },
      { ts: '', ms: 5, sql: 'A' },
      { ts: '', ms: 7, sql: 'B' },
    ];
    expect(summarizeSlowQueries(entries, 10)).toEqual([
      { sql: 'A', count: 2, totalMs: 10, maxMs: 5, meanMs: 5 },
      { sql: 'B', count: 1, totalMs: 7, maxMs: 7, meanMs: 7 },
    ]);
    expect(summarizeSlowQueries(entries, 1)).toHaveLength(1);
  });
});
