import { type OraDatabase, openDatabase, openRaw, withDatabase } from '../connection/connection.js';
import { SchemaVersionError } from '../errors/errors.js';
import { quoteIdentifier } from '../sql/identifiers.js';
import { schemaObjects, userTables } from '../sql/schema.js';
import { LATEST_SCHEMA_VERSION, MIGRATIONS, type Migration } from './migrations.js';

/**
 * What the code's migrations create, and how an existing database compares with it. This is how
 * the ORA-specific commands (inventory, archive, migrate, seed, metrics' known queries) tell an ORA
 * database from any other SQLite database (SPEC §6), and how `migrate` adopts an ORA database that
 * the ORA automation created itself (`user_version` 0, SPEC §5): Flyway's baseline, Alembic's stamp.
 */

interface ColumnShape {
  name: string;
  type: string;
  notNull: boolean;
  /** The default's SQL text, or null. */
  defaultSql: string | null;
  /** Position in the primary key (1-based), 0 when not part of it. */
  pk: number;
  /** 0 ordinary, 2/3 generated (VIRTUAL/STORED), 1 hidden. */
  hidden: number;
}

interface IndexShape {
  name: string;
  columns: string[];
  unique: boolean;
  /** `c` CREATE INDEX, `u` UNIQUE constraint, `pk` PRIMARY KEY. */
  origin: string;
  sql: string | null;
}

interface TableShape {
  name: string;
  sql: string;
  columns: ColumnShape[];
  indexes: IndexShape[];
  foreignKeys: { from: string; table: string; to: string }[];
}

function readTable(handle: OraDatabase, name: string): TableShape {
  const q = quoteIdentifier(name);
  const sql = (handle.prepare('SELECT sql FROM sqlite_schema WHERE type = ? AND name = ?').pluck().get('table', name) ??
    '') as string;
  const columns = (
    handle.prepare(`PRAGMA table_xinfo(${q})`).all() as {
      name: string;
      type: string;
      notnull: number;
      dflt_value: string | null;
      pk: number;
      hidden: number;
    }[]
  ).map((c) => ({
    name: c.name,
    type: c.type,
    notNull: c.notnull === 1,
    defaultSql: c.dflt_value,
    pk: c.pk,
    hidden: c.hidden,
  }));
  const indexes = (
    handle.prepare(`PRAGMA index_list(${q})`).all() as {
      name: string;
      unique: number;
      origin: string;
      partial: number;
    }[]
  )
    .filter((i) => i.partial === 0)
    .map((i) => ({
      name: i.name,
      unique: i.unique === 1,
      origin: i.origin,
      columns: (handle.prepare(`PRAGMA index_info(${quoteIdentifier(i.name)})`).all() as { name: string | null }[]).map(
        (c) => c.name ?? '<expr>',
      ),
      sql: (handle.prepare("SELECT sql FROM sqlite_schema WHERE type = 'index' AND name = ?").pluck().get(i.name) ??
        null) as string | null,
    }));
  const foreignKeys = (
    handle.prepare(`PRAGMA foreign_key_list(${q})`).all() as { from: string; table: string; to: string | null }[]
  ).map((f) => ({ from: f.from, table: f.table, to: f.to ?? '' }));
  return { name, sql, columns, indexes, foreignKeys };
}

let expectedCache: { version: number; tables: TableShape[] } | null = null;

/** The tables, columns and indexes the code's migrations create, read from an in-memory database. */
function expectedSchema(migrations: readonly Migration[] = MIGRATIONS): TableShape[] {
  const version = migrations[migrations.length - 1]?.version ?? 0;
  if (expectedCache && expectedCache.version === version && migrations === MIGRATIONS) return expectedCache.tables;
  return withDatabase(openRaw(':memory:'), (mem) => {
    for (const m of migrations) mem.exec(m.sql);
    const names = schemaObjects(mem)
      .filter((o) => o.type === 'table')
      .map((o) => o.name);
    const tables = names.map((n) => readTable(mem, n));
    if (migrations === MIGRATIONS) expectedCache = { version, tables };
    return tables;
  });
}

/** The ORA tables, in creation order. */
export function oraTableNames(): string[] {
  return expectedSchema().map((t) => t.name);
}

export type SchemaKind = 'empty' | 'foreign' | 'ora';

export interface OraSchemaStatus {
  /** `empty`: no tables at all; `foreign`: tables, none of them ORA's; `ora`: at least one ORA table. */
  kind: SchemaKind;
  /** `PRAGMA user_version`. */
  version: number;
  latest: number;
  oraTablesPresent: string[];
  oraTablesMissing: string[];
}

/** Which kind of database this is, as far as the ORA schema goes. Read-only. */
export function inspectOraSchema(db: OraDatabase): OraSchemaStatus {
  const existing = new Set(db.run(() => userTables(db)));
  const ora = oraTableNames();
  const present = ora.filter((t) => existing.has(t));
  return {
    kind: existing.size === 0 ? 'empty' : present.length === 0 ? 'foreign' : 'ora',
    version: Number(db.pragma('user_version')),
    latest: LATEST_SCHEMA_VERSION,
    oraTablesPresent: present,
    oraTablesMissing: ora.filter((t) => !existing.has(t)),
  };
}

/** One difference between the database and the ORA schema, by table and column. */
export interface SchemaDifference {
  table: string;
  column?: string;
  index?: string;
  /** What differs, in words. */
  problem: string;
}

/** One change adoption makes: SQL that adds something, never rewrites a row. */
export interface AdoptionStep {
  table: string;
  kind: 'create-table' | 'add-column' | 'create-index';
  name: string;
  sql: string;
}

export interface AdoptionPlan {
  status: OraSchemaStatus;
  /** True when every difference can be bridged by the steps below. */
  bridgeable: boolean;
  steps: AdoptionStep[];
  /** Differences that cannot be bridged safely: adoption is refused while any remain. */
  problems: SchemaDifference[];
  /** Differences adoption keeps as they are (extra tables, columns and indexes; looser constraints). */
  kept: SchemaDifference[];
}

/** SQLite's column affinity rules (datatype3.html §3.1) for a declared type. */
function affinity(declared: string): 'INTEGER' | 'TEXT' | 'BLOB' | 'REAL' | 'NUMERIC' {
  const t = declared.toUpperCase();
  if (t.includes('INT')) return 'INTEGER';
  if (t.includes('CHAR') || t.includes('CLOB') || t.includes('TEXT')) return 'TEXT';
  if (t === '' || t.includes('BLOB')) return 'BLOB';
  if (t.includes('REAL') || t.includes('FLOA') || t.includes('DOUB')) return 'REAL';
  return 'NUMERIC';
}

/**
 * A date column declared DATE, DATETIME or TIMESTAMP (NUMERIC affinity, as Python and many ORMs
 * write them) where the ORA schema says TEXT: SQLite converts a value to a number under NUMERIC
 * affinity only when it looks like one, which an ISO date or timestamp never does.
 */
function dateAsText(declared: string, wanted: string): boolean {
  return affinity(wanted) === 'TEXT' && /^(DATE|DATETIME|TIMESTAMP)$/i.test(declared.trim());
}

/** The column definitions of a CREATE TABLE statement, split at top-level commas. */
function columnDefinitions(createSql: string): Map<string, string> {
  const body = createSql.slice(createSql.indexOf('(') + 1, createSql.lastIndexOf(')'));
  const parts: string[] = [];
  let depth = 0;
  let quote: string | null = null;
  let current = '';
  for (const ch of body) {
    if (quote) {
      if (ch === quote) quote = null;
    } else if (ch === "'" || ch === '"') quote = ch;
    else if (ch === '(') depth++;
    else if (ch === ')') depth--;
    else if (ch === ',' && depth === 0) {
      parts.push(current.trim());
      current = '';
      continue;
    }
    current += ch;
  }
  if (current.trim()) parts.push(current.trim());
  const out = new Map<string, string>();
  for (const p of parts) {
    const name = /^"?([A-Za-z_][A-Za-z0-9_]*)"?\s/.exec(p)?.[1];
    if (name && !/^(PRIMARY|UNIQUE|CHECK|FOREIGN|CONSTRAINT)$/i.test(name)) out.set(name, p);
  }
  return out;
}

/** ALTER TABLE ADD COLUMN accepts neither a CURRENT_* default nor an expression in parentheses. */
function defaultAllowedInAlter(defaultSql: string | null): boolean {
  if (defaultSql === null) return true;
  return !/^\(|^CURRENT_(TIME|DATE|TIMESTAMP)$/i.test(defaultSql.trim());
}

const sameColumns = (a: string[], b: string[]) => a.length === b.length && a.every((c, i) => c === b[i]);

/**
 * Compares the database with the ORA schema the code's migrations create: which tables, columns
 * and indexes are missing (and can be added without touching a row), which differences cannot be
 * bridged (another column type, a missing NOT NULL column without a default, a missing primary
 * key, duplicate values where a UNIQUE key is needed, an extra NOT NULL column without a default
 * that ora-db's inserts would not fill), and which are kept as they are. Read-only.
 */
export function planAdoption(db: OraDatabase): AdoptionPlan {
  const status = inspectOraSchema(db);
  const plan: AdoptionPlan = { status, bridgeable: false, steps: [], problems: [], kept: [] };
  if (status.kind !== 'ora') return plan;
  db.run(() => {
    const existingNames = new Set(userTables(db));
    for (const want of expectedSchema()) {
      if (!existingNames.has(want.name)) {
        plan.steps.push({ table: want.name, kind: 'create-table', name: want.name, sql: want.sql });
        for (const i of want.indexes.filter((x) => x.origin === 'c' && x.sql)) {
          plan.steps.push({ table: want.name, kind: 'create-index', name: i.name, sql: i.sql as string });
        }
        continue;
      }
      const have = readTable(db, want.name);
      const haveColumns = new Map(have.columns.map((c) => [c.name.toLowerCase(), c]));
      const definitions = columnDefinitions(want.sql);
      for (const c of want.columns) {
        const h = haveColumns.get(c.name.toLowerCase());
        if (h) {
          if (affinity(h.type) !== affinity(c.type) && dateAsText(h.type, c.type)) {
            plan.kept.push({
              table: want.name,
              column: c.name,
              problem: `is declared ${h.type} (NUMERIC affinity) where the ORA schema says ${c.type}: date strings are stored unchanged under either (kept)`,
            });
          } else if (affinity(h.type) !== affinity(c.type)) {
            plan.problems.push({
              table: want.name,
              column: c.name,
              problem: `is ${h.type || 'untyped'} (${affinity(h.type)} affinity), the ORA schema needs ${c.type} (${affinity(c.type)})`,
            });
          }
          if (c.notNull && !h.notNull && c.pk === 0) {
            plan.kept.push({
              table: want.name,
              column: c.name,
              problem: 'allows NULL where the ORA schema says NOT NULL (kept)',
            });
          }
          continue;
        }
        if (c.pk > 0) {
          plan.problems.push({
            table: want.name,
            column: c.name,
            problem: 'is missing and is the primary key: a table cannot gain one in place',
          });
        } else if (c.notNull && c.defaultSql === null) {
          plan.problems.push({
            table: want.name,
            column: c.name,
            problem: `is missing and is NOT NULL without a default: existing rows have no value for it`,
          });
        } else if (c.notNull && !defaultAllowedInAlter(c.defaultSql)) {
          plan.problems.push({
            table: want.name,
            column: c.name,
            problem: `is missing and is NOT NULL DEFAULT ${c.defaultSql}: SQLite cannot add a column with that default to existing rows`,
          });
        } else {
          const definition = definitions.get(c.name) ?? `${quoteIdentifier(c.name)} ${c.type}`;
          plan.steps.push({
            table: want.name,
            kind: 'add-column',
            name: c.name,
            sql: `ALTER TABLE ${quoteIdentifier(want.name)} ADD COLUMN ${definition}`,
          });
        }
      }
      const wantNames = new Set(want.columns.map((c) => c.name.toLowerCase()));
      for (const h of have.columns) {
        if (wantNames.has(h.name.toLowerCase())) continue;
        if (h.notNull && h.defaultSql === null && h.pk === 0 && h.hidden === 0) {
          plan.problems.push({
            table: want.name,
            column: h.name,
            problem: `is an extra NOT NULL column without a default: ora-db's inserts into ${want.name} would fail`,
          });
        } else {
          plan.kept.push({ table: want.name, column: h.name, problem: 'extra column (kept)' });
        }
      }
      // Keys: every PRIMARY KEY / UNIQUE column set the code relies on (upserts, foreign keys).
      const haveUnique = have.indexes.filter((i) => i.unique).map((i) => i.columns);
      const havePk = have.columns
        .filter((c) => c.pk > 0)
        .sort((a, b) => a.pk - b.pk)
        .map((c) => c.name);
      if (havePk.length > 0) haveUnique.push(havePk);
      const wantPk = want.columns
        .filter((c) => c.pk > 0)
        .sort((a, b) => a.pk - b.pk)
        .map((c) => c.name);
      const rowidAlias =
        wantPk.length === 1 && want.columns.find((c) => c.name === wantPk[0])?.type.toUpperCase() === 'INTEGER';
      if (rowidAlias && !sameColumns(havePk, wantPk) && haveColumns.has((wantPk[0] as string).toLowerCase())) {
        plan.problems.push({
          table: want.name,
          column: wantPk[0],
          problem: 'is not the INTEGER PRIMARY KEY here: a table cannot gain one in place',
        });
      }
      const wantKeys = [
        ...want.indexes.filter((i) => i.unique && i.origin !== 'pk').map((i) => i.columns),
        ...(rowidAlias ? [] : [wantPk]),
      ];
      for (const key of wantKeys.filter((k) => k.length > 0)) {
        if (haveUnique.some((u) => sameColumns(u, key))) continue;
        if (!key.every((k) => haveColumns.has(k.toLowerCase()))) continue; // reported as a missing column
        const cols = key.map(quoteIdentifier).join(', ');
        const duplicates = db
          .prepare(
            `SELECT count(*) FROM (SELECT 1 FROM ${quoteIdentifier(want.name)} WHERE ${key.map((k) => `${quoteIdentifier(k)} IS NOT NULL`).join(' AND ')} GROUP BY ${cols} HAVING count(*) > 1)`,
          )
          .pluck()
          .get() as number;
        if (duplicates > 0) {
          plan.problems.push({
            table: want.name,
            column: key.join(', '),
            problem: `must be unique (ora-db upserts and references by it) but ${duplicates} value(s) occur more than once`,
          });
        } else {
          const name = `ora_unique_${want.name}_${key.join('_')}`;
          plan.steps.push({
            table: want.name,
            kind: 'create-index',
            name,
            sql: `CREATE UNIQUE INDEX ${quoteIdentifier(name)} ON ${quoteIdentifier(want.name)} (${cols})`,
          });
        }
      }
      // Ordinary indexes: present when any index of the table has the same columns, whatever its name.
      const haveIndexNames = new Set(have.indexes.map((i) => i.name));
      for (const i of want.indexes.filter((x) => x.origin === 'c' && x.sql)) {
        if (have.indexes.some((h) => sameColumns(h.columns, i.columns))) continue;
        if (haveIndexNames.has(i.name) || db.prepare('SELECT 1 FROM sqlite_schema WHERE name = ?').get(i.name)) {
          plan.kept.push({
            table: want.name,
            index: i.name,
            problem: `an object named ${i.name} exists with another definition (kept; the index on ${i.columns.join(', ')} is not added)`,
          });
          continue;
        }
        const missingColumn = i.columns.some(
          (c) =>
            !haveColumns.has(c.toLowerCase()) &&
            !plan.steps.some((s) => s.kind === 'add-column' && s.table === want.name && s.name === c),
        );
        if (!missingColumn)
          plan.steps.push({ table: want.name, kind: 'create-index', name: i.name, sql: i.sql as string });
      }
      for (const f of want.foreignKeys) {
        if (!have.foreignKeys.some((h) => h.from === f.from && h.table === f.table)) {
          plan.kept.push({
            table: want.name,
            column: f.from,
            problem: `has no declared foreign key to ${f.table}(${f.to}) (SQLite cannot add one in place; ora-db checks it on every write)`,
          });
        }
      }
    }
  });
  plan.bridgeable = plan.problems.length === 0;
  return plan;
}

/** The plan's differences, one line per table and column, for a refusal or a `--dry-run`. */
export function describeDifferences(differences: SchemaDifference[]): string[] {
  return differences.map(
    (d) => `${d.table}${d.column ? `.${d.column}` : d.index ? ` index ${d.index}` : ''}: ${d.problem}`,
  );
}

/**
 * Adopts an ORA database created by another program: re-plans inside `BEGIN IMMEDIATE` (another
 * process may have changed it since), refuses if anything cannot be bridged, runs the steps (new
 * tables, new indexes, new columns with defaults: no existing row is rewritten) and records the
 * schema version, all in one transaction. The caller takes the verified backup first.
 */
export function adoptSchema(db: OraDatabase): AdoptionPlan {
  return db.transaction(() => {
    const plan = planAdoption(db);
    if (plan.status.kind !== 'ora' || !plan.bridgeable) throw adoptionRefusal(db, plan);
    for (const step of plan.steps) db.exec(step.sql);
    db.pragmaRows(`user_version = ${LATEST_SCHEMA_VERSION}`);
    return plan;
  });
}

/** The one-line refusal for a database `migrate` cannot adopt (foreign, or differences it cannot bridge). */
export function adoptionRefusal(db: OraDatabase, plan: AdoptionPlan): SchemaVersionError {
  if (plan.status.kind === 'foreign') return foreignSchemaError(db, 'migrate', plan.status);
  return new SchemaVersionError(
    `refusing to adopt ${db.path}: its ORA tables differ from the ORA schema in ${plan.problems.length} way(s) that cannot be bridged safely — ${describeDifferences(plan.problems).join('; ')}; nothing was changed (fix these columns, or migrate the data into a new 'ora-db init' database)`,
    'SCHEMA_MISMATCH',
    { differences: plan.problems },
  );
}

function foreignSchemaError(db: OraDatabase, job: string, status: OraSchemaStatus): SchemaVersionError {
  return new SchemaVersionError(
    `${job} needs the ORA schema, but ${db.path} is not an ORA database: it has none of the ORA tables (${status.oraTablesMissing.join(', ')}); point --db at the ORA database, or create one with 'ora-db init'`,
    'NOT_ORA_SCHEMA',
  );
}

/**
 * Refuses to run ORA domain code (`job`) against a database that does not have the ORA schema at
 * the version this code writes, with one line naming what is missing and what to run. `needs`
 * (default: every ORA table) are the tables the job uses.
 */
export function assertOraSchema(db: OraDatabase, job: string, needs: string[] = oraTableNames()): void {
  const status = inspectOraSchema(db);
  if (status.kind !== 'ora') {
    throw status.kind === 'empty'
      ? new SchemaVersionError(
          `${job} needs the ORA schema, but ${db.path} has no tables; create it with 'ora-db init --db ${db.path}'`,
          'NOT_ORA_SCHEMA',
        )
      : foreignSchemaError(db, job, status);
  }
  if (status.version > status.latest) {
    throw new SchemaVersionError(
      `database schema is newer than this tool: ${db.path} is at version ${status.version}, this ora-db knows up to ${status.latest}; upgrade ora-db before running it against this database`,
      'SCHEMA_TOO_NEW',
    );
  }
  if (status.version < status.latest) {
    throw new SchemaVersionError(
      status.version === 0
        ? `database schema is not recorded: ${db.path} has ORA tables but schema version 0 (created by another program); run 'ora-db migrate --dry-run --db ${db.path}' to see what adopting it adds, then 'ora-db migrate --db ${db.path}'`
        : `database schema is out of date: ${db.path} is at version ${status.version}, this ora-db needs ${status.latest}; run 'ora-db migrate --db ${db.path}'`,
      'SCHEMA_OUTDATED',
    );
  }
  const missing = needs.filter((t) => status.oraTablesMissing.includes(t));
  if (missing.length > 0) {
    throw new SchemaVersionError(
      `${job} needs the ORA table(s) ${missing.join(', ')}, which ${db.path} does not have although it records schema version ${status.version}; restore a backup or recreate them (see 'ora-db schema')`,
      'NOT_ORA_SCHEMA',
    );
  }
}

/**
 * `assertOraSchema` on a read-only connection of its own, for a command about to open `path`
 * read-write: a refused database is then left byte for byte as it was (closing a read-write
 * connection would checkpoint its WAL into the main file).
 */
export function assertOraSchemaAt(
  path: string,
  job: string,
  options: { needs?: string[]; busyTimeoutMs?: number } = {},
): void {
  withDatabase(
    openDatabase(path, {
      readonly: true,
      ...(options.busyTimeoutMs === undefined ? {} : { busyTimeoutMs: options.busyTimeoutMs }),
    }),
    (probe) => {
      assertOraSchema(probe, job, options.needs);
    },
  );
}
