import type { z } from 'zod';
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

/** better-sqlite3 statements prepared once per connection and reused (preparing dominates small writes). */
export function statementCache<T>(prepare: (handle: import('better-sqlite3').Database) => T) {
  const cache = new WeakMap<import('better-sqlite3').Database, T>();
  return (handle: import('better-sqlite3').Database): T => {
    let statements = cache.get(handle);
    if (!statements) {
      statements = prepare(handle);
      cache.set(handle, statements);
    }
    return statements;
  };
}
