// `@ora/core/testing`: ORA database fixtures for tests and benchmarks, built with core's own
// schema and seed (so `@ora/testkit`, the generic test helpers, does not depend on core).
// Not part of any job: nothing in src/ outside this folder imports it.
import { openDatabase, withDatabase } from '../connection/connection.js';
import { migrate } from '../schema/migrate.js';
import { seedDemoData } from '../seed/demo-data.js';

const DEMO = { days: 400, endDate: '2026-11-01' } as const;

/** Creates an ORA database at `path` with the schema and, if `orders` > 0, seeded demo data. */
export function createOraDatabase(path: string, orders = 0, seed = 1): void {
  withDatabase(openDatabase(path, { create: true }), (db) => {
    migrate(db);
    if (orders > 0) seedDemoData(db, { orders, seed, ...DEMO });
  });
}

/** Seeds demo data into an existing, migrated database. */
export function seedInto(path: string, orders: number, seed = 1): void {
  withDatabase(openDatabase(path), (db) => seedDemoData(db, { orders, seed, ...DEMO }));
}
