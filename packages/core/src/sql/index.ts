export { quoteIdentifier } from './identifiers.js';
export { hasTable, objectSql, type SchemaObject, schemaObjects, userTables } from './schema.js';
