import type { OraDatabase } from '../connection/connection.js';
import { quoteIdentifier } from './identifiers.js';

/** SQLite's own objects (`sqlite_sequence`, `sqlite_stat1`, …), left out of "user" lists. */
const NOT_INTERNAL = "name NOT LIKE 'sqlite\\_%' ESCAPE '\\'";

/** User tables, from the schema (SQLite's internal `sqlite_%` tables excluded), by name. */
export function userTables(db: OraDatabase, schema = 'main'): string[] {
  return db.values<string>(
    `SELECT name FROM ${quoteIdentifier(schema)}.sqlite_schema WHERE type = 'table' AND ${NOT_INTERNAL} ORDER BY name`,
  );
}

/** Whether a table of that name exists in `schema` (`main`, or an attached database's name). */
export function hasTable(db: OraDatabase, name: string, schema = 'main'): boolean {
  return (
    db.value(`SELECT 1 FROM ${quoteIdentifier(schema)}.sqlite_schema WHERE type = 'table' AND name = ?`, name) !==
    undefined
  );
}

/** The CREATE statement of a schema object, or undefined when there is none of that type and name. */
export function objectSql(
  db: OraDatabase,
  type: 'table' | 'index' | 'view' | 'trigger',
  name: string,
): string | undefined {
  return db.value<string | null>('SELECT sql FROM sqlite_schema WHERE type = ? AND name = ?', type, name) ?? undefined;
}

/** One row of `sqlite_schema`, user objects only, in creation order. */
export interface SchemaObject {
  type: string;
  name: string;
  tbl_name: string;
  sql: string | null;
}

/** Every user object of `schema` (tables, indexes, views, triggers) in creation order. */
export function schemaObjects(db: OraDatabase, schema = 'main'): SchemaObject[] {
  return db.all<SchemaObject>(
    `SELECT type, name, tbl_name, sql FROM ${quoteIdentifier(schema)}.sqlite_schema WHERE ${NOT_INTERNAL} ORDER BY rowid`,
  );
}
