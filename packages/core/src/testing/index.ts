// `@ora/core/testing`: ORA database fixtures for tests and benchmarks, built with core's own
// schema and seed (so `@ora/testkit`, the generic test helpers, does not depend on core).
// Not part of any job: nothing in src/ outside this folder imports it.
import { openDatabase } from '../connection/connection.js';
import { migrate } from '../schema/migrate.js';
import { seedDemoData } from '../seed/demo-data.js';

/** Creates an ORA database at `path` with the schema and, if `orders` > 0, seeded demo data. */
export function createOraDatabase(path: string, orders = 0, seed = 1): void {
  const db = openDatabase(path, { create: true });
  try {
    migrate(db);
    if (orders > 0) seedDemoData(db, { orders, seed, days: 400, endDate: '2026-11-01' });
  } finally {
    db.close();
  }
}

/** Seeds demo data into an existing, migrated database. */
export function seedInto(path: string, orders: number, seed = 1): void {
  const db = openDatabase(path);
  try {
    seedDemoData(db, { orders, seed, days: 400, endDate: '2026-11-01' });
  } finally {
    db.close();
  }
}
