import { copyFileSync, readFileSync, writeFileSync } from 'node:fs';
import { tempDir } from '@ora/testkit';
import fc from 'fast-check';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { decodeRecord, parsePageHeader, readLeafCell } from '../src/recovery/btree.js';
import { openPageSource } from '../src/recovery/file-format.js';
import { recoverDatabase } from '../src/recovery/recover.js';
import { salvage } from '../src/recovery/salvage.js';
import { createOraDatabase } from '../src/testing/index.js';

let t: ReturnType<typeof tempDir>;
beforeEach(() => {
  t = tempDir();
});
afterEach(() => t.cleanup());

const pageArb = fc.uint8Array({ minLength: 4096, maxLength: 4096 }).map((a) => Buffer.from(a));

describe('the recovery page reader under random and mutated input (fast-check)', () => {
  it('never throws on random pages, and reads within bounds', () => {
    fc.assert(
      fc.property(
        pageArb,
        fc.integer({ min: 2, max: 100 }),
        fc.constantFrom(2, 5, 10, 13),
        fc.integer({ min: 0, max: 40 }),
        (page, n, type, cells) => {
          // A plausible header over random bytes, so the cell and record decoders get exercised.
          page[0] = type;
          page.writeUInt16BE(cells, 3);
          const started = performance.now();
          const header = parsePageHeader(page, n, 4096);
          for (const cell of header?.cells ?? []) {
            const leaf = readLeafCell(page, cell, 4096, () => page);
            if (leaf) {
              expect(leaf.payload.length).toBeLessThanOrEqual(1_000_000_000);
              decodeRecord(leaf.payload, 'utf8');
            }
          }
          expect(performance.now() - started).toBeLessThan(1000);
        },
      ),
      { numRuns: 300 },
    );
  });

  it('allocates nothing a garbled payload size claims when the overflow chain cannot hold it (loop, cut, missing)', () => {
    // A table leaf whose one cell claims 999 999 999 bytes (a hostile size varint), its overflow
    // chain starting at page 7. SQLite's split of a payload between the page and the chain (§1.6):
    const usable = 4096;
    const size = 999_999_999;
    const minLocal = Math.floor(((usable - 12) * 32) / 255) - 23;
    const k = minLocal + ((size - minLocal) % (usable - 4));
    const local = k <= usable - 35 ? k : minLocal;
    const leaf = Buffer.alloc(usable);
    leaf[0] = 13;
    leaf.writeUInt16BE(1, 3);
    leaf.writeUInt16BE(10, 8); // the cell pointer
    // 999 999 999 as a varint (7 bits a byte, big-endian), then rowid 1.
    const sizeVarint = [0x83, 0xdc, 0xeb, 0x93, 0x7f];
    Buffer.from([...sizeVarint, 1]).copy(leaf, 10);
    const first = 10 + sizeVarint.length + 1 + local;
    expect(first + 4).toBeLessThanOrEqual(usable);
    leaf.writeUInt32BE(7, first);
    const overflow = (next: number) => {
      const p = Buffer.alloc(usable, 0x41);
      p.writeUInt32BE(next, 0);
      return p;
    };
    const chains: Record<string, Record<number, Buffer>> = {
      'a loop of two pages': { 7: overflow(8), 8: overflow(7) },
      'a chain cut after three pages': { 7: overflow(8), 8: overflow(9), 9: overflow(0) },
      'a chain to a page past the file': { 7: overflow(8), 8: overflow(123_456) },
    };
    for (const [name, pages] of Object.entries(chains)) {
      let reads = 0;
      const before = process.memoryUsage().arrayBuffers;
      const cell = readLeafCell(leaf, 10, usable, (n) => {
        reads++;
        return pages[n] ?? null;
      });
      const grown = process.memoryUsage().arrayBuffers - before;
      expect(cell, name).toBeNull();
      expect(reads, name).toBeLessThanOrEqual(4);
      expect(grown, name).toBeLessThan(16 * 1048576);
    }
  });

  it('never throws on records of random bytes', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 600 }), fc.constantFrom('utf8', 'utf16le', 'utf16be'), (bytes, enc) => {
        const values = decodeRecord(Buffer.from(bytes), enc as 'utf8');
        expect(values === null || Array.isArray(values)).toBe(true);
      }),
      { numRuns: 2000 },
    );
  });

  it('salvages a real database with randomly mutated pages without throwing or looping', () => {
    const clean = t.path('clean.db');
    createOraDatabase(clean, 400);
    const original = readFileSync(clean);
    const pages = original.length / 4096;
    let run = 0;
    fc.assert(
      fc.property(
        fc.array(
          fc.record({
            page: fc.integer({ min: 1, max: pages }),
            offset: fc.integer({ min: 0, max: 4095 }),
            byte: fc.integer({ min: 0, max: 255 }),
            length: fc.integer({ min: 1, max: 64 }),
          }),
          {
            minLength: 1,
            maxLength: 20,
          },
        ),
        (mutations) => {
          const damaged = Buffer.from(original);
          for (const m of mutations)
            damaged.fill(
              m.byte,
              (m.page - 1) * 4096 + m.offset,
              Math.min((m.page - 1) * 4096 + m.offset + m.length, m.page * 4096),
            );
          const path = t.path(`fuzz-${run++}.db`);
          writeFileSync(path, damaged);
          const source = openPageSource(path);
          expect(source).not.toBeNull();
          const started = performance.now();
          const result = salvage(source as NonNullable<typeof source>);
          source?.close();
          expect(performance.now() - started).toBeLessThan(10_000);
          expect(Array.isArray(result.tables)).toBe(true);
        },
      ),
      { numRuns: 40 },
    );
  });

  it('recovers a database whose every page is random noise to an empty, valid result', () => {
    const path = t.path('noise.db');
    const noise = Buffer.alloc(4096 * 20);
    for (let i = 0; i < noise.length; i++) noise[i] = (i * 2654435761) >>> 24;
    writeFileSync(path, noise);
    copyFileSync(path, t.path('noise.copy'));
    const r = recoverDatabase({ path, outPath: t.path('out.db'), replace: false, force: false });
    expect(r.integrity?.ok).toBe(true);
    expect(readFileSync(path).equals(readFileSync(t.path('noise.copy')))).toBe(true);
  });
});
