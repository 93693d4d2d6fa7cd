import type { OraDatabase, Statement } from '../connection/connection.js';
import { InvalidInputError, isOraError } from '../errors/errors.js';
import { type PlanStep, queryPlan } from '../metrics/index-usage.js';
import { quoteIdentifier } from '../sql/identifiers.js';

export interface ExplainOptions {
  /** Positional (array) or named (object) parameters. */
  params?: unknown[] | Record<string, unknown>;
  /** Run a statement that writes, inside a transaction that is rolled back. */
  allowWrite?: boolean;
  /** A full scan of a table with at least this many rows is warned about. */
  largeTableRows: number;
  /** Most rows counted when executing (the rest are not read). */
  maxRows: number;
}

export interface ExplainResult {
  sql: string;
  readonly: boolean;
  plan: PlanStep[];
  executionMs: number;
  /** Rows returned (readers) or changed (writers, then rolled back). */
  rows: number;
  rowsTruncated: boolean;
  rolledBack: boolean;
  warnings: string[];
}

function invalidSql(error: unknown): never {
  if (isOraError(error)) throw error;
  const message = (error as Error).message;
  throw new InvalidInputError(`invalid SQL: ${message}; check the statement (one statement, SQLite syntax)`, {
    cause: error,
  });
}

/**
 * The guide's `analyze_query_performance`: query plan, execution time and row count of one
 * statement, and a warning for each large table it reads in full. A statement that writes is
 * refused unless `allowWrite`, and then runs inside `BEGIN IMMEDIATE … ROLLBACK`.
 */
export function explainStatement(db: OraDatabase, sql: string, options: ExplainOptions): ExplainResult {
  let statement: Statement;
  try {
    statement = db.run(() => db.prepare(sql));
  } catch (error) {
    invalidSql(error);
  }
  const params: unknown[] =
    options.params === undefined ? [] : Array.isArray(options.params) ? options.params : [options.params];
  if (!statement.readonly && !options.allowWrite) {
    throw new InvalidInputError(
      `refusing to run a statement that writes (${sql.trim().split(/\s+/)[0]?.toUpperCase()} …); pass --allow-write to run it inside a transaction that is rolled back`,
    );
  }
  let plan: PlanStep[];
  try {
    plan = queryPlan(db, sql, options.params ?? []);
  } catch (error) {
    invalidSql(error);
  }
  let rows = 0;
  let rowsTruncated = false;
  const execute = () => {
    if (statement.reader) {
      for (const _ of statement.iterate(...params)) {
        if (++rows >= options.maxRows) {
          rowsTruncated = true;
          break;
        }
      }
    } else {
      rows = statement.run(...params).changes;
    }
  };
  const started = performance.now();
  try {
    if (statement.readonly) {
      db.run(execute);
    } else {
      db.run(() => {
        db.exec('BEGIN IMMEDIATE');
        try {
          execute();
        } finally {
          db.exec('ROLLBACK');
        }
      });
    }
  } catch (error) {
    if (error instanceof RangeError || (error as { code?: string }).code === 'SQLITE_RANGE') invalidSql(error);
    if (isOraError(error)) throw error;
    const code = String((error as { code?: unknown }).code ?? '');
    if (code.startsWith('SQLITE_')) {
      // The statement itself failed on this data (a constraint, a type, a missing function):
      // the user's input, reported as such. A writer ran inside BEGIN … ROLLBACK: nothing changed.
      throw new InvalidInputError(
        `the statement failed: ${(error as Error).message} (${code})${statement.readonly ? '' : '; it ran inside a transaction that was rolled back, nothing changed'}; fix the statement or its parameters`,
        { cause: error },
      );
    }
    throw error;
  }
  const executionMs = Math.round((performance.now() - started) * 100) / 100;
  const warnings: string[] = [];
  for (const table of new Set(plan.filter((s) => s.fullScan).map((s) => s.table as string))) {
    let count: number;
    try {
      count = db
        .prepare(`SELECT count(*) FROM ${quoteIdentifier(table)}`)
        .pluck()
        .get() as number;
    } catch {
      continue; // a CTE or subquery name, not a table
    }
    if (count >= options.largeTableRows) {
      warnings.push(
        `full scan of ${table} (${count} rows) without an index: add an index on the columns this statement filters or joins on`,
      );
    }
  }
  return {
    sql,
    readonly: statement.readonly,
    plan,
    executionMs,
    rows,
    rowsTruncated,
    rolledBack: !statement.readonly,
    warnings,
  };
}
