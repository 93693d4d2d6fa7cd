import { tempDir } from '@ora/testkit';
import fc from 'fast-check';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import * as z from 'zod';
import { integerField, isoDateField, textField } from '../src/config/fields.js';
import { type OraDatabase, openDatabase } from '../src/connection/connection.js';
import { InvalidInputError } from '../src/errors/errors.js';
import { recordInventoryTransaction, upsertInventoryItem } from '../src/repositories/inventory.js';
import { isIsoDate, isOptionalString, isPlainWithKeys, isText, isWholeNumber } from '../src/repositories/plain.js';
import { insertShipments } from '../src/repositories/shipments.js';
import { createOraDatabase } from '../src/testing/index.js';

// The repositories' hand-written fast path may only accept what the zod field it mirrors accepts
// unchanged; everything else must be left to zod (which converts it or words the error).
const acceptsUnchanged = (schema: z.ZodType, value: unknown) => {
  const r = schema.safeParse(value);
  return r.success && Object.is(r.data, value);
};

const tricky = fc.oneof(
  fc.anything(),
  fc.string(),
  fc.string({ unit: 'binary' }),
  fc.constantFrom(
    '',
    ' ',
    '\t',
    'a\0b',
    '\uD800',
    'x\uDC00',
    '\uD83D\uDE00',
    ' SKU-1 ',
    'a'.repeat(64),
    'a'.repeat(65),
  ),
  fc.integer(),
  fc.double(),
  fc.constantFrom(0, 1, -1, 1.5, 1e9, 1e9 + 1, Number.NaN, Number.POSITIVE_INFINITY, '3', null, undefined),
);

const dates = fc.oneof(
  fc
    .date({ min: new Date('0000-01-01T00:00:00Z'), max: new Date('9999-12-31T00:00:00Z'), noInvalidDate: true })
    .map((d) => d.toISOString().slice(0, 10)),
  fc
    .tuple(fc.integer({ min: 0, max: 9999 }), fc.integer({ min: 0, max: 13 }), fc.integer({ min: 0, max: 32 }))
    .map(([y, m, d]) => `${String(y).padStart(4, '0')}-${String(m).padStart(2, '0')}-${String(d).padStart(2, '0')}`),
  fc.constantFrom(
    '2024-02-29',
    '2023-02-29',
    '1900-02-29',
    '2000-02-29',
    '2026-1-01',
    '２０２６-01-01',
    ' 2026-01-01',
    '',
  ),
  fc.string(),
);

describe('the repositories fast path agrees with zod', () => {
  it('text fields', () => {
    fc.assert(
      fc.property(tricky, fc.constantFrom(1, 5, 64), (value, max) => {
        // zod counts code points, the fast path UTF-16 units: it may leave more to zod, never less.
        if (isText(value, max)) expect(acceptsUnchanged(textField('x', max), value)).toBe(true);
        if (typeof value === 'string' && value.length <= max)
          expect(isText(value, max)).toBe(acceptsUnchanged(textField('x', max), value));
      }),
      { numRuns: 3000 },
    );
  });

  it('whole numbers', () => {
    fc.assert(
      fc.property(tricky, (value) => {
        expect(isWholeNumber(value, 1, 1_000_000_000)).toBe(acceptsUnchanged(integerField(1, 1_000_000_000), value));
      }),
      { numRuns: 3000 },
    );
  });

  it('dates', () => {
    // Before any date was accepted (the check remembers the last one), and after.
    expect(isIsoDate('')).toBe(false);
    expect(isIsoDate('2026-11-01')).toBe(true);
    expect(isIsoDate('')).toBe(false);
    fc.assert(
      fc.property(dates, (value) => {
        expect(isIsoDate(value)).toBe(acceptsUnchanged(isoDateField(), value));
      }),
      { numRuns: 5000 },
    );
  });

  it('optional strings', () => {
    const schema = z.string().max(64).nullish();
    fc.assert(
      fc.property(tricky, (value) => {
        if (isOptionalString(value, 64)) expect(acceptsUnchanged(schema, value)).toBe(true);
        if (typeof value !== 'string' || value.length <= 64)
          expect(isOptionalString(value, 64)).toBe(acceptsUnchanged(schema, value));
      }),
      { numRuns: 2000 },
    );
  });

  it('plain objects only, with no key outside the schema', () => {
    const keys = new Set(['a', 'b']);
    expect(isPlainWithKeys({ a: 1 }, keys)).toBe(true);
    expect(isPlainWithKeys(JSON.parse('{"a":1,"b":2}'), keys)).toBe(true);
    expect(isPlainWithKeys(Object.assign(Object.create(null), { a: 1 }), keys)).toBe(true);
    expect(isPlainWithKeys({ a: 1, c: 2 }, keys)).toBe(false);
    expect(isPlainWithKeys(JSON.parse('{"__proto__":{"x":1}}'), keys)).toBe(false);
    expect(isPlainWithKeys(Object.create({ c: 1 }), keys)).toBe(false);
    expect(isPlainWithKeys([], keys)).toBe(false);
    expect(isPlainWithKeys(null, keys)).toBe(false);
    expect(isPlainWithKeys(new Date(), keys)).toBe(false);
  });
});

describe('input the fast path leaves to zod still works', () => {
  let t: ReturnType<typeof tempDir>;
  let db: OraDatabase;
  beforeEach(() => {
    t = tempDir();
    createOraDatabase(t.path('ora.db'));
    db = openDatabase(t.path('ora.db'));
    upsertInventoryItem(db, { sku: 'A', productName: 'Apple', reorderPoint: 10, quantity: 5 });
  });
  afterEach(() => {
    db.close();
    t.cleanup();
  });

  it('converts a quantity given as text; no date means today', () => {
    const r = recordInventoryTransaction(db, { sku: 'A', quantity: '3' as never, type: 'Receive' });
    expect(r).toMatchObject({ quantityBefore: 5, quantityAfter: 8, alertLevel: 'low' });
    const row = db.prepare('SELECT date, quantity FROM inventory_transactions WHERE id = ?').get(r.transactionId);
    expect(row).toEqual({ date: new Date().toISOString().slice(0, 10), quantity: 3 });
  });

  it('refuses an empty date as before (zod words it)', () => {
    recordInventoryTransaction(db, { sku: 'A', quantity: 1, type: 'Receive', date: '2026-11-01' });
    expect(() => recordInventoryTransaction(db, { sku: 'A', quantity: 1, type: 'Receive', date: '' })).toThrow(
      /^invalid inventory transaction: date: expected a date as YYYY-MM-DD/,
    );
    expect(() => insertShipments(db, [{ orderNumber: 'SO-9', shipDate: '', items: [] }])).toThrow(
      /^invalid shipment batch: 0\.shipDate: expected a date as YYYY-MM-DD/,
    );
  });

  it('inserts a batch with converted values, and words a bad one the same way as before', () => {
    expect(
      insertShipments(db, [
        { orderNumber: 'SO-1', shipDate: '2026-11-01', customer: null, items: [{ baseSku: 'A', quantityShipped: 2 }] },
        {
          orderNumber: 'SO-2',
          shipDate: '2026-11-01',
          items: [{ baseSku: 'A', skuLot: 'L1', quantityShipped: '4' as never }],
        },
      ]),
    ).toEqual({ orders: 2, items: 2 });
    expect(db.prepare('SELECT order_number, sku_lot, quantity_shipped FROM shipped_items ORDER BY id').all()).toEqual([
      { order_number: 'SO-1', sku_lot: null, quantity_shipped: 2 },
      { order_number: 'SO-2', sku_lot: 'L1', quantity_shipped: 4 },
    ]);
    expect(() =>
      insertShipments(db, [
        { orderNumber: 'SO-3', shipDate: '2026-11-01', items: [{ baseSku: '', quantityShipped: 0, x: 1 } as never] },
      ]),
    ).toThrow(InvalidInputError);
    expect(() =>
      insertShipments(db, [
        { orderNumber: 'SO-3', shipDate: '2026-11-01', items: [{ baseSku: 'A', quantityShipped: 0 }] },
      ]),
    ).toThrow(/^invalid shipment batch: 0\.items\.0\.quantityShipped: expected a whole number from 1 to 1000000000/);
    expect(db.prepare('SELECT count(*) AS n FROM shipped_orders').get()).toEqual({ n: 2 });
  });
});
