import type { OraDatabase } from '../connection/connection.js';
import { statements as inventoryStatements } from '../repositories/inventory.js';
import { statements as kpiStatements } from '../repositories/kpis.js';
import { statements as shipmentStatements } from '../repositories/shipments.js';
import { statements as workflowStatements } from '../repositories/workflows.js';
import { inspectOraSchema } from '../schema/ora-schema.js';

export interface PlanStep {
  /** SCAN (whole table or index) or SEARCH (by key). */
  op: 'SCAN' | 'SEARCH' | 'OTHER';
  table: string | null;
  index: string | null;
  /** A SCAN of a table with no index: every row is read. */
  fullScan: boolean;
  detail: string;
}

const STEP_RE = /^(SCAN|SEARCH) (\S+)(?: AS \S+)?(?: USING (?:COVERING )?INDEX (\S+))?/;

/**
 * Runs `EXPLAIN QUERY PLAN` on a statement whose parameters are not known: every parameter is
 * bound to NULL (better-sqlite3 insists on binding all of them; the plan does not depend on the
 * values). Named parameters are read from the SQL; the count of `?` is found by trying.
 */
function explainWithNullParams(db: OraDatabase, sql: string): { detail: string }[] {
  const statement = db.prepare(`EXPLAIN QUERY PLAN ${sql}`);
  const named: Record<string, null> = {};
  for (const m of sql.matchAll(/[:@$]([A-Za-z_][A-Za-z0-9_]*)/g)) named[m[1] as string] = null;
  const hasNamed = Object.keys(named).length > 0;
  for (let anonymous = 0; anonymous <= 999; anonymous++) {
    const args: unknown[] = Array.from({ length: anonymous }, () => null);
    if (hasNamed) args.push(named);
    try {
      return statement.all(...args) as { detail: string }[];
    } catch (error) {
      if (!(error instanceof RangeError) || !/Too few parameter values/.test(error.message)) throw error;
    }
  }
  throw new RangeError('too many parameters');
}

/** `EXPLAIN QUERY PLAN` of `sql`, each step parsed into what it reads and with which index. */
export function queryPlan(db: OraDatabase, sql: string, params?: unknown[] | Record<string, unknown>): PlanStep[] {
  const rows = db.run(() =>
    params === undefined
      ? explainWithNullParams(db, sql)
      : (db.prepare(`EXPLAIN QUERY PLAN ${sql}`).all(...(Array.isArray(params) ? params : [params])) as {
          detail: string;
        }[]),
  );
  return rows.map(({ detail }) => {
    const m = STEP_RE.exec(detail);
    if (!m) return { op: 'OTHER', table: null, index: null, fullScan: false, detail };
    const usesKey = / USING (INTEGER )?PRIMARY KEY/.test(detail);
    const isVirtual = / VIRTUAL TABLE/.test(detail) || m[2] === 'CONSTANT';
    return {
      op: m[1] as 'SCAN' | 'SEARCH',
      table: m[2] ?? null,
      index: m[3] ?? null,
      fullScan: m[1] === 'SCAN' && !m[3] && !usesKey && !isVirtual,
      detail,
    };
  });
}

export interface NamedQuery {
  name: string;
  sql: string;
}

/**
 * The statements the toolkit itself runs against ORA tables (the repositories' prepared
 * statements), plus the guide's own troubleshooting query: what index usage is judged by. On a
 * database without the ORA schema (SPEC §6) they are skipped, and `skipped` says why; a group
 * whose tables or columns this database lacks is skipped by itself.
 */
export function knownQueries(db: OraDatabase): { queries: NamedQuery[]; skipped: string | null } {
  const status = inspectOraSchema(db);
  if (status.kind !== 'ora') {
    return {
      queries: [],
      skipped: `not an ORA database (none of the ORA tables ${status.oraTablesMissing.join(', ')}): the ORA known queries were skipped`,
    };
  }
  const factories = {
    inventory: () => inventoryStatements(db),
    shipments: () => shipmentStatements(db),
    workflows: () => workflowStatements(db),
    kpis: () => kpiStatements(db),
  };
  const out: NamedQuery[] = [];
  const skippedGroups: string[] = [];
  for (const [group, make] of Object.entries(factories)) {
    let stmts: Record<string, { source: string }>;
    try {
      stmts = make();
    } catch (error) {
      skippedGroups.push(`${group} (${(error as Error).message})`);
      continue;
    }
    for (const [name, stmt] of Object.entries(stmts)) out.push({ name: `${group}.${name}`, sql: stmt.source });
  }
  if (status.oraTablesPresent.includes('shipped_items')) {
    out.push({ name: 'guide.recent-shipped-items', sql: "SELECT * FROM shipped_items WHERE ship_date > '2025-01-01'" });
    out.push({ name: 'guide.order-items', sql: 'SELECT * FROM shipped_items WHERE order_number = ?' });
  } else {
    skippedGroups.push('guide (no such table: shipped_items)');
  }
  return {
    queries: out,
    skipped: skippedGroups.length > 0 ? `ORA known queries skipped: ${skippedGroups.join('; ')}` : null,
  };
}

export interface IndexUsageReport {
  queries: { name: string; sql: string; indexes: string[]; fullScans: string[]; plan: string[] }[];
  /** User-declared indexes (CREATE INDEX) some query uses. */
  used: string[];
  /** User-declared indexes no examined query uses: candidates to drop, or a query to fix. */
  unused: string[];
  /** Queries that read a whole table. */
  fullScans: { query: string; table: string }[];
  /** Statements whose plan could not be computed (e.g. a logged statement for a dropped table). */
  errors: { query: string; error: string }[];
}

/** Runs EXPLAIN QUERY PLAN over `queries` and reports which indexes are used, unused, and which queries scan tables. */
export function indexUsage(db: OraDatabase, queries: NamedQuery[]): IndexUsageReport {
  const declared = db.run(
    () =>
      db
        .prepare("SELECT name FROM sqlite_schema WHERE type = 'index' AND sql IS NOT NULL ORDER BY name")
        .pluck()
        .all() as string[],
  );
  const usedSet = new Set<string>();
  const report: IndexUsageReport = { queries: [], used: [], unused: [], fullScans: [], errors: [] };
  for (const q of queries) {
    let plan: PlanStep[];
    try {
      plan = queryPlan(db, q.sql);
    } catch (error) {
      report.errors.push({ query: q.name, error: (error as Error).message });
      continue;
    }
    const indexes = [...new Set(plan.flatMap((s) => (s.index ? [s.index] : [])))];
    for (const i of indexes) usedSet.add(i);
    const scans = plan.filter((s) => s.fullScan).map((s) => s.table as string);
    for (const table of scans) report.fullScans.push({ query: q.name, table });
    report.queries.push({ name: q.name, sql: q.sql, indexes, fullScans: scans, plan: plan.map((s) => s.detail) });
  }
  report.used = declared.filter((i) => usedSet.has(i));
  report.unused = declared.filter((i) => !usedSet.has(i));
  return report;
}
