import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { exportPathFor, openArchiveExport } from '../src/archive/export.js';
import { archiveCutoff, archiveOldRows } from '../src/archive/old-rows.js';
import { openDatabase } from '../src/connection/connection.js';
import { insertShipments } from '../src/repositories/shipments.js';
import { initDatabase } from '../src/schema/create.js';

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'ora-export-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

/** A real ORA database with `orders` orders shipped in 2024, two items each. */
function liveDatabase(orders: number): string {
  const path = join(dir, 'ora.db');
  initDatabase(path, 1000);
  const db = openDatabase(path);
  try {
    insertShipments(
      db,
      Array.from({ length: orders }, (_, i) => ({
        orderNumber: `SO-${i}`,
        shipDate: '2024-03-01',
        customer: i === 0 ? 'Quote "Comma", Inc.' : `C${i}`,
        items: [1, 2].map((k) => ({ baseSku: `SKU-${k}`, quantityShipped: k })),
      })),
    );
  } finally {
    db.close();
  }
  return path;
}

const options = {
  table: 'shipped_orders' as const,
  before: '2025-01-01',
  batchSize: 10,
  maxLockMs: 10_000,
  copyOnly: false,
  dryRun: false,
  vacuumThresholdPct: 25,
  busyTimeoutMs: 1000,
};

describe('openArchiveExport', () => {
  it('writes CSV with one header per table and quoted cells, one gzip member per batch', () => {
    const path = join(dir, 'out.csv.gz');
    const out = openArchiveExport(path, 'csv', 'shipped_orders');
    out.write('shipped_orders', [[1, 'SO-1', '2024-03-01', 'a "b", c', null, 'T']]);
    out.write('shipped_orders', [[2, 'SO-2', '2024-03-01', 'plain', 'UPS', null]]);
    out.write('shipped_items', []);
    expect(existsSync(path)).toBe(false); // not published before finish()
    expect(out.finish()).toBe(path);
    expect(existsSync(`${path}.tmp`)).toBe(false);
    expect(statSync(path).mode & 0o777).toBe(0o600);
    expect(gunzipSync(readFileSync(path)).toString()).toBe(
      'table,id,order_number,ship_date,customer,carrier,tracking_number\n' +
        'shipped_orders,1,SO-1,2024-03-01,"a ""b"", c",,T\n' +
        'shipped_orders,2,SO-2,2024-03-01,plain,UPS,\n',
    );
  });

  it('refuses to replace a file already there (an export in progress) with IO_ERROR', () => {
    const path = join(dir, 'x.ndjson.gz');
    openArchiveExport(path, 'ndjson', 'shipped_orders').abandon();
    expect(() => openArchiveExport(path, 'ndjson', 'shipped_orders')).toThrow(
      expect.objectContaining({
        code: 'IO_ERROR',
        message: expect.stringContaining(`cannot write the export ${path} (EEXIST)`),
      }),
    );
  });
});

describe('archiveOldRows with --export', () => {
  it('publishes the export of every moved row once the run succeeded', async () => {
    const path = liveDatabase(25);
    const r = await archiveOldRows(path, { ...options, export: 'ndjson', now: new Date('2026-12-02T00:00:00Z') });
    expect(r.moved).toEqual({ shipped_orders: 25, shipped_items: 50 });
    expect(r.export).toMatch(/ora_archive_export_2025-01-01_\d+\.ndjson\.gz$/);
    const lines = gunzipSync(readFileSync(r.export as string))
      .toString()
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { table: string; customer?: string });
    expect(lines.filter((l) => l.table === 'shipped_orders')).toHaveLength(25);
    expect(lines.filter((l) => l.table === 'shipped_items')).toHaveLength(50);
    expect(lines[0]?.customer).toBe('Quote "Comma", Inc.');
    expect(readdirSync(dir).filter((f) => f.endsWith('.tmp'))).toEqual([]);
  });

  it('publishes nothing under the export name when the run fails after some batches committed', async () => {
    const path = liveDatabase(40);
    const stop = new AbortController();
    let abandoned = '';
    await expect(
      archiveOldRows(path, {
        ...options,
        export: 'csv',
        signal: stop.signal,
        onBatch: (done) => {
          if (done >= 10) stop.abort();
        },
        onExportAbandoned: (temp) => {
          abandoned = temp;
        },
      }),
    ).rejects.toThrow();
    const exports = readdirSync(dir).filter((f) => f.startsWith('ora_archive_export_'));
    // Only the temp file: the rows of the committed batches are kept in it, but it is not published.
    expect(exports).toHaveLength(1);
    expect(exports[0]).toMatch(/\.csv\.gz\.tmp$/);
    expect(abandoned).toBe(join(dir, exports[0] as string));
    const text = gunzipSync(readFileSync(abandoned)).toString();
    expect(text.split('\n').filter((l) => l.startsWith('shipped_orders,')).length).toBeGreaterThanOrEqual(10);
  });
});

describe('archiveCutoff', () => {
  const now = new Date('2026-12-02T10:00:00Z');
  it('is --before as given, else --older-than days (365d by default) before today (UTC)', () => {
    expect(archiveCutoff({ before: '2025-01-01' }, now)).toBe('2025-01-01');
    expect(archiveCutoff({ olderThan: '30d' }, now)).toBe('2026-11-02');
    expect(archiveCutoff({}, now)).toBe('2025-12-02');
  });

  it('refuses both at once, and a day in the future, as INVALID_INPUT', () => {
    expect(() => archiveCutoff({ before: '2025-01-01', olderThan: '30d' }, now)).toThrow(
      'give --before or --older-than, not both (got 2025-01-01 and 30d)',
    );
    expect(() => archiveCutoff({ before: '2026-12-03' }, now)).toThrow(
      expect.objectContaining({
        code: 'INVALID_INPUT',
        message: expect.stringMatching(/^--before 2026-12-03 is in the future/),
      }),
    );
  });

  it('exportPathFor names the file after the cutoff and time, beside the database by default', () => {
    expect(exportPathFor('/data/ora.db', '2025-01-01', 'csv', undefined, 42)).toBe(
      '/data/ora_archive_export_2025-01-01_42.csv.gz',
    );
    expect(exportPathFor('/data/ora.db', '2025-01-01', 'ndjson', '/arch', 7)).toBe(
      '/arch/ora_archive_export_2025-01-01_7.ndjson.gz',
    );
  });
});
