import { spawn } from 'node:child_process';
import { closeSync, openSync, readFileSync, statSync, writeSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { tempDir } from '@ora/testkit';
import Database from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';

const bundle = join(dirname(fileURLToPath(import.meta.url)), '../dist/index.mjs');

let t: ReturnType<typeof tempDir>;
beforeEach(() => {
  t = tempDir();
});
afterEach(() => t.cleanup());

/** Runs the bundled job, sampling its peak resident set (VmHWM) from /proc until it exits. */
function runSampled(args: string[]): Promise<{ code: number | null; peakMib: number; stdout: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [bundle, ...args], { stdio: ['ignore', 'pipe', 'ignore'] });
    let peak = 0;
    let stdout = '';
    child.stdout.on('data', (d) => {
      stdout += d;
    });
    const sample = () => {
      try {
        const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${child.pid}/status`, 'utf8'));
        if (m) peak = Math.max(peak, Number(m[1]));
      } catch {
        // exited between two samples
      }
    };
    const timer = setInterval(sample, 25);
    child.on('exit', (code) => {
      clearInterval(timer);
      resolve({ code, peakMib: peak / 1024, stdout });
    });
  });
}

describe('recover memory', () => {
  it('stays within a fixed bound on a file much larger than it (peak RSS from /proc, child process)', async () => {
    // 1.2 M rows (about 110 MiB): the salvage that held every page and row at once needed
    // several times the file's size.
    const path = t.path('big.db');
    const db = new Database(path);
    db.pragma('journal_mode = OFF');
    db.exec('CREATE TABLE items (id INTEGER PRIMARY KEY, sku TEXT NOT NULL, qty INTEGER, note TEXT)');
    db.exec(`WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 1200000)
      INSERT INTO items (sku, qty, note) SELECT printf('SKU-%06d', i), i % 97, printf('note %d %s', i, hex(randomblob(24))) FROM n`);
    db.exec('CREATE INDEX items_sku ON items(sku)');
    const interior = db
      .prepare("SELECT pageno FROM dbstat WHERE name = 'items' AND pagetype = 'internal' ORDER BY path DESC LIMIT 1")
      .pluck()
      .get() as number;
    db.close();
    const size = statSync(path).size;
    expect(size).toBeGreaterThan(100 * 1048576);
    // A garbled interior page: its leaves are found by the scan of stray pages too.
    const fd = openSync(path, 'r+');
    writeSync(fd, Buffer.alloc(4096, 0xa5), 0, 4096, (interior - 1) * 4096);
    closeSync(fd);
    const r = await runSampled(['--db', path, '--out', t.path('out.db'), '--json']);
    expect(r.code).toBe(0);
    const result = JSON.parse(r.stdout);
    const items = result.tables.find((x: { name: string }) => x.name === 'items');
    expect(items.fromScan).toBeGreaterThan(0);
    expect(items.recovered).toBe(1200000);
    console.info(`recover of a ${(size / 1048576).toFixed(0)} MiB file: peak RSS ${r.peakMib.toFixed(0)} MiB`);
    expect(r.peakMib).toBeGreaterThan(30); // the sampler saw the process
    expect(r.peakMib).toBeLessThan(200);
  }, 240_000);
});
