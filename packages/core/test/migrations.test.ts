import { contentHash, tempDir } from '@ora/testkit';
import Database from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { openDatabase } from '../src/connection/connection.js';
import { SchemaVersionError } from '../src/errors/errors.js';
import { assertSchemaCurrent, migrate, schemaVersion } from '../src/schema/migrate.js';
import { LATEST_SCHEMA_VERSION, MIGRATIONS, type Migration } from '../src/schema/migrations.js';

let t: ReturnType<typeof tempDir>;
beforeEach(() => {
  t = tempDir();
});
afterEach(() => t.cleanup());

function fresh(): string {
  const path = t.path('ora.db');
  new Database(path).close();
  return path;
}

describe('migrate', () => {
  it('creates the SPEC §5 schema and records its version, and does nothing the second time', () => {
    const db = openDatabase(fresh(), { create: true });
    try {
      const first = migrate(db);
      expect(first).toEqual({
        fromVersion: 0,
        toVersion: LATEST_SCHEMA_VERSION,
        applied: [{ version: 1, name: 'ORA base schema' }],
      });
      const objects = db
        .prepare("SELECT type, name FROM sqlite_schema WHERE name NOT LIKE 'sqlite_%' ORDER BY type, name")
        .all();
      expect(objects).toEqual([
        { type: 'index', name: 'idx_inventory_transactions_sku_date' },
        { type: 'index', name: 'idx_shipped_items_order_number' },
        { type: 'index', name: 'idx_shipped_items_ship_date' },
        { type: 'index', name: 'idx_shipped_orders_ship_date' },
        { type: 'table', name: 'inventory_current' },
        { type: 'table', name: 'inventory_transactions' },
        { type: 'table', name: 'shipped_items' },
        { type: 'table', name: 'shipped_orders' },
        { type: 'table', name: 'system_kpis' },
        { type: 'table', name: 'workflows' },
      ]);
      expect(migrate(db)).toEqual({ fromVersion: 1, toVersion: 1, applied: [] });
    } finally {
      db.close();
    }
  });

  it('refuses a database newer than the code and leaves it unchanged', () => {
    const path = fresh();
    const raw = new Database(path);
    raw.pragma('journal_mode = WAL');
    raw.pragma('user_version = 7');
    raw.close();
    const db = openDatabase(path);
    try {
      const hash = contentHash(path);
      let error: unknown;
      try {
        migrate(db);
      } catch (e) {
        error = e;
      }
      expect(error).toBeInstanceOf(SchemaVersionError);
      expect((error as SchemaVersionError).code).toBe('SCHEMA_TOO_NEW');
      expect((error as SchemaVersionError).exitStatus).toBe(3);
      expect((error as Error).message).toBe(
        `database schema is newer than this tool: ${path} is at version 7, this ora-db knows up to ${LATEST_SCHEMA_VERSION}; upgrade ora-db before running it against this database`,
      );
      expect(schemaVersion(db)).toBe(7);
      expect(contentHash(path)).toBe(hash);
    } finally {
      db.close();
    }
  });

  it('runs each migration in one transaction: a failing one leaves the previous version and no partial table', () => {
    const broken: Migration[] = [
      ...MIGRATIONS,
      { version: 2, name: 'half-broken', sql: 'CREATE TABLE partial (x); INSERT INTO no_such_table VALUES (1);' },
    ];
    const db = openDatabase(fresh(), { create: true });
    try {
      expect(() => migrate(db, broken)).toThrow(/no such table: no_such_table/);
      expect(schemaVersion(db)).toBe(1);
      expect(db.prepare("SELECT count(*) FROM sqlite_schema WHERE name = 'partial'").pluck().get()).toBe(0);
    } finally {
      db.close();
    }
  });

  it('assertSchemaCurrent refuses an empty, a foreign and an unrecorded ORA database, each with what to run', () => {
    const db = openDatabase(fresh(), { create: true });
    try {
      expect(() => assertSchemaCurrent(db, 'inventory')).toThrow(
        expect.objectContaining({
          code: 'NOT_ORA_SCHEMA',
          message: expect.stringMatching(
            /^inventory needs the ORA schema, but .* has no tables; create it with 'ora-db init/,
          ),
        }),
      );
      db.exec('CREATE TABLE notes (x)');
      expect(() => assertSchemaCurrent(db, 'inventory')).toThrow(
        expect.objectContaining({
          code: 'NOT_ORA_SCHEMA',
          message: expect.stringMatching(/is not an ORA database: it has none of the ORA tables \(inventory_current, /),
        }),
      );
      db.exec('CREATE TABLE workflows (name TEXT PRIMARY KEY, status TEXT, details TEXT, updated_at TEXT)');
      expect(() => assertSchemaCurrent(db)).toThrow(
        expect.objectContaining({
          code: 'SCHEMA_OUTDATED',
          message: expect.stringMatching(
            /has ORA tables but schema version 0 \(created by another program\); run 'ora-db migrate --dry-run/,
          ),
        }),
      );
    } finally {
      db.close();
    }
    const current = openDatabase(t.path('current.db'), { create: true });
    try {
      migrate(current);
      expect(() => assertSchemaCurrent(current)).not.toThrow();
      current.exec('DROP TABLE system_kpis');
      expect(() => assertSchemaCurrent(current, 'seed')).toThrow(/^seed needs the ORA table\(s\) system_kpis, which/);
    } finally {
      current.close();
    }
  });
});
