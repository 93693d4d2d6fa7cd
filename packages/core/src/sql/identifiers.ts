/**
 * Quotes an SQL identifier: `"name"`, with every `"` doubled, so any name (a table read from
 * sqlite_schema, a column of another program's schema, `odd "name"`) is one token. The one
 * quoter of the toolkit: build SQL with names only through this.
 */
export function quoteIdentifier(name: string): string {
  return `"${name.replaceAll('"', '""')}"`;
}
