import type * as z from 'zod';
import type { OraDatabase } from '../connection/connection.js';
import { InvalidInputError } from '../errors/errors.js';

/**
 * Validates repository input, reporting every problem at once as INVALID_INPUT (exit 2):
 * `invalid inventory transaction: quantity: expected …; sku: expected …`.
 */
export function parseInput<S extends z.ZodType>(schema: S, input: unknown, what: string): z.output<S> {
  const parsed = schema.safeParse(input);
  if (parsed.success) return parsed.data;
  const problems = parsed.error.issues.map((issue) => {
    const where = issue.path.length > 0 ? issue.path.join('.') : 'input';
    return `${where}: ${issue.message}`;
  });
  throw new InvalidInputError(`invalid ${what}: ${problems.join('; ')}`);
}

/** Statements prepared once per connection and reused (preparing dominates small writes). */
export function statementCache<T>(prepare: (db: OraDatabase) => T) {
  const cache = new WeakMap<OraDatabase, T>();
  return (db: OraDatabase): T => {
    let statements = cache.get(db);
    if (!statements) {
      statements = prepare(db);
      cache.set(db, statements);
    }
    return statements;
  };
}
