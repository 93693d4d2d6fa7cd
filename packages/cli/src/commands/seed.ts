import {
  choiceField,
  initialiseSchema,
  integerField,
  isoDateField,
  openOrCreateDatabase,
  SEED_SIZES,
  type SeedSize,
  seedDemoData,
  withDatabase,
} from '@ora/core';
import { defineJob } from '@ora/harness';
import * as z from 'zod';
import { databaseFields } from './database-options.js';

const sizes = Object.keys(SEED_SIZES) as [SeedSize, ...SeedSize[]];

export const seedCommand = defineJob({
  name: 'seed',
  describe:
    'Create a database full of realistic ORA demo data (deterministic for a given --seed and --end-date); refuses a database that holds data',
  schedule: null,
  event: z.object({
    ...databaseFields,
    size: choiceField(sizes)
      .default('small')
      .describe(
        `How much data: ${Object.entries(SEED_SIZES)
          .map(([k, v]) => `${k} = ${v} orders`)
          .join(', ')}`,
      ),
    orders: integerField(1, 10_000_000).optional().describe('Exact number of shipped orders (overrides --size)'),
    seed: integerField(0, 2 ** 32 - 1)
      .default(42)
      .describe('Random seed: the same seed and end date give the same rows'),
    endDate: isoDateField().optional().describe('Last day of the generated history (YYYY-MM-DD); default today'),
    days: integerField(1, 36_500).default(730).describe('Days of history ending at --end-date'),
  }),
  examples: [
    ['$0 seed --db .demo/ora.db', 'about 2 000 orders over two years'],
    ['$0 seed --db big.db --size large --seed 7', 'half a million orders'],
  ],
  run(e, { progress }) {
    const { db, created } = openOrCreateDatabase(e.db, e.busyTimeoutMs);
    return withDatabase(db, () => {
      initialiseSchema(db);
      const orders = e.orders ?? SEED_SIZES[e.size];
      const result = seedDemoData(db, {
        orders,
        seed: e.seed,
        days: e.days,
        endDate: e.endDate ?? new Date().toISOString().slice(0, 10),
        onProgress: (done, total) => progress.update(done, total, 'orders'),
      });
      return { status: 'ok' as const, created, seed: e.seed, ...result };
    });
  },
  summarize: (r) =>
    `seed: ok — ${r.database}: ${r.orders} orders with ${r.items} items (${r.firstShipDate} to ${r.lastShipDate}), ${r.skus} SKUs, ${r.inventoryTransactions} inventory transactions, ${r.kpiDays} KPI days (seed ${r.seed})`,
});
