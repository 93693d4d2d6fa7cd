import {
  chmodSync,
  chownSync,
  closeSync,
  constants,
  copyFileSync,
  existsSync,
  linkSync,
  openSync,
  renameSync,
  rmSync,
  statSync,
  unlinkSync,
} from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import Database from 'better-sqlite3';
import { fsyncDir, fsyncFile, publishExclusively, removeDeadTemps } from '../backup/files.js';
import { checkDatabaseFile } from '../connection/file-checks.js';
import { processesHolding } from '../diagnostics/locks.js';
import {
  DatabaseCorruptError,
  DatabaseLockedError,
  InvalidInputError,
  IoError,
  NotADatabaseError,
  RestoreFailedError,
} from '../errors/errors.js';
import { quoteIdentifier } from '../metrics/table-stats.js';
import { openPageSource } from './file-format.js';
import { type SalvageResult, salvage, tableShapes } from './salvage.js';

export interface RecoverOptions {
  path: string;
  /** Where the recovered database goes; must not exist. Default `ora_recovered_<ts>.db` beside. */
  outPath?: string;
  /** Swap the recovered database in once it verifies (the damaged one stays as the emergency copy). */
  replace: boolean;
  /** Recover even when quick_check finds nothing wrong. */
  force: boolean;
}

export interface RecoverReport {
  healthy: boolean;
  emergencyCopy: string[];
  output: string | null;
  replaced: boolean;
  schemaSource: SalvageResult['schemaSource'];
  tables: {
    name: string;
    recovered: number;
    fromTree: number;
    fromScan: number;
    unreadablePages: number;
    unreadableCells: number;
    rejected: number;
  }[];
  lostAndFound: number;
  integrity: { ok: boolean; problems: string[] } | null;
  foreignKeyViolations: number | null;
  walPagesApplied: number;
}

const stamp = () => new Date().toISOString().replace(/[-:.]/g, '').replace('T', '_').slice(0, 18); // to the millisecond

function quickCheckOk(path: string): boolean {
  try {
    const db = new Database(path, { readonly: true, fileMustExist: true });
    try {
      return db.pragma('quick_check', { simple: true }) === 'ok';
    } finally {
      db.close();
    }
  } catch {
    return false;
  }
}

/**
 * Salvages a damaged database (the guide's "Database Corruption Recovery", without its `.dump`,
 * which stops at the first bad page and ends in ROLLBACK):
 *
 * 1. an emergency copy of the file and its `-wal`/`-shm`, byte for byte, before anything else;
 * 2. every row on a readable page, read from the file format itself (`salvage`), into a new
 *    database with the original schema; indexes are rebuilt from the rows; rows that fit no
 *    single table go to `lost_and_found`;
 * 3. `integrity_check` and `foreign_key_check` of the result;
 * 4. with `replace`, and only if the result verifies and no process holds the database open, the
 *    recovered file takes the damaged one's place.
 */
function removeFiles(base: string): void {
  for (const suffix of ['', '-wal', '-shm', '-journal']) rmSync(`${base}${suffix}`, { force: true });
}

export function recoverDatabase(options: RecoverOptions): RecoverReport {
  const path = resolve(options.path);
  try {
    checkDatabaseFile(path, { allowEmpty: false });
  } catch (error) {
    // A truncated file, or one whose header is damaged, is what recover is for; a missing, empty
    // or directory path is not.
    if (!(error instanceof DatabaseCorruptError) && !(error instanceof NotADatabaseError)) throw error;
  }
  const dir = dirname(path);
  // Named after the database and to the millisecond, and published without replacing anything:
  // recovers of two databases in one directory never take each other's names.
  const name = basename(path).replace(/\.(db|sqlite3?)$/, '');
  const out = options.outPath ? resolve(options.outPath) : null;
  if (out && (existsSync(out) || existsSync(`${out}-wal`))) {
    throw new InvalidInputError(`output ${out} already exists; choose another --out (recover never overwrites a file)`);
  }
  const healthy = quickCheckOk(path);
  const report: RecoverReport = {
    healthy,
    emergencyCopy: [],
    output: null,
    replaced: false,
    schemaSource: 'file',
    tables: [],
    lostAndFound: 0,
    integrity: null,
    foreignKeyViolations: null,
    walPagesApplied: 0,
  };
  if (healthy && !options.force) return report;
  removeDeadTemps(dir, 'ora-recover');
  if (out && dirname(out) !== dir) removeDeadTemps(dirname(out), 'ora-recover');

  // 1. The emergency copy, untouched: each file copied under a temp name and renamed once
  // complete, so a run killed half-way leaves no partial file that could pass for the copy. A
  // name already taken (a run earlier in the same second) gets a counter.
  const partials: string[] = [];
  let copyBase = '';
  try {
    // Companions first, the main file last: its name is the one that has to be unique.
    for (const suffix of ['-wal', '-shm', '']) {
      if (!existsSync(`${path}${suffix}`)) continue;
      const partial = join(dir, `.ora-recover-${process.pid}-copy${suffix}`);
      copyFileSync(`${path}${suffix}`, partial, constants.COPYFILE_EXCL);
      chmodSync(partial, 0o600);
      fsyncFile(partial);
      partials.push(partial);
    }
    const main = partials.at(-1) as string;
    copyBase = publishExclusively(main, dir, `ora_corrupted_${name}_${stamp()}`);
    for (const partial of partials.slice(0, -1)) {
      const suffix = partial.endsWith('-wal') ? '-wal' : '-shm';
      renameSync(partial, `${copyBase}${suffix}`);
      report.emergencyCopy.push(`${copyBase}${suffix}`);
    }
    report.emergencyCopy.unshift(copyBase);
    fsyncDir(dir);
  } catch (error) {
    for (const partial of partials) rmSync(partial, { force: true });
    throw new IoError(
      `cannot write the emergency copy of ${path} in ${dir} (${(error as NodeJS.ErrnoException).code}); free space or fix permissions first — nothing else was done`,
      'IO_ERROR',
      { cause: error },
    );
  }

  // 2. Salvage from the emergency copy (with its WAL), never from the live file.
  const source = openPageSource(copyBase);
  if (!source) throw new IoError(`cannot read ${copyBase}`, 'IO_ERROR');
  let result: SalvageResult;
  try {
    result = salvage(source);
    report.walPagesApplied = source.walPages;
  } finally {
    source.close();
  }
  report.schemaSource = result.schemaSource;

  // Built under a temp name and renamed when complete: a run killed half-way leaves no file at
  // `out` that could pass for a recovered database. Temps of dead runs are removed first.
  const building = join(out ? dirname(out) : dir, `.ora-recover-${process.pid}-out.db`);
  closeSync(openSync(building, 'wx', 0o600));
  const db = new Database(building);
  try {
    db.pragma('journal_mode = WAL');
    db.pragma('foreign_keys = OFF');
    const shapes = new Map(tableShapes(result.schema).map((s) => [s.name, s]));
    db.transaction(() => {
      for (const e of result.schema) if (e.type === 'table' && e.sql && !e.name.startsWith('sqlite_')) db.exec(e.sql);
      db.exec(
        'CREATE TABLE IF NOT EXISTS lost_and_found (id INTEGER PRIMARY KEY, source_page INTEGER, source_rowid INTEGER, source_table TEXT, column_count INTEGER, values_json TEXT)',
      );
      const lost = db.prepare(
        'INSERT INTO lost_and_found (source_page, source_rowid, source_table, column_count, values_json) VALUES (?, ?, ?, ?, ?)',
      );
      const json = (values: unknown[]) =>
        JSON.stringify(values, (_k, v) =>
          typeof v === 'bigint' ? v.toString() : Buffer.isBuffer(v) ? { blob: v.toString('hex') } : v,
        );
      for (const t of result.tables) {
        const shape = shapes.get(t.name);
        if (!shape) continue;
        let rejected = 0;
        for (const row of [...t.fromTree, ...t.fromScan]) {
          const cols = shape.columns.slice(0, row.values.length);
          const sql = `INSERT INTO ${quoteIdentifier(t.name)} (rowid, ${cols.map((c) => quoteIdentifier(c.name)).join(', ')}) VALUES (?, ${cols.map(() => '?').join(', ')})`;
          try {
            db.prepare(sql).run(row.rowid, ...row.values.map((v, i) => (cols[i]?.ipk ? row.rowid : v)));
          } catch {
            rejected++;
            lost.run(null, row.rowid, t.name, row.values.length, json(row.values));
          }
        }
        report.tables.push({
          name: t.name,
          recovered: t.fromTree.length + t.fromScan.length - rejected,
          fromTree: t.fromTree.length,
          fromScan: t.fromScan.length,
          unreadablePages: t.unreadablePages.length,
          unreadableCells: t.unreadableCells,
          rejected,
        });
      }
      for (const l of result.lostAndFound) lost.run(l.page, l.rowid, null, l.values.length, json(l.values));
      report.lostAndFound = result.lostAndFound.length + report.tables.reduce((s, t) => s + t.rejected, 0);
      // Indexes last: built once from the recovered rows.
      for (const e of result.schema) {
        if (e.type !== 'index' || !e.sql) continue;
        try {
          db.exec(e.sql);
        } catch {
          // A unique index the salvaged rows violate: the rows stay, the index is reported by integrity_check.
        }
      }
      db.pragma(`user_version = ${Number.isInteger(source.userVersion) ? source.userVersion : 0}`);
    })();
    if (report.lostAndFound === 0) db.exec('DROP TABLE lost_and_found');
    const rows = db.prepare('PRAGMA integrity_check(100)').pluck().all() as string[];
    report.integrity = { ok: rows.length === 1 && rows[0] === 'ok', problems: rows[0] === 'ok' ? [] : rows };
    report.foreignKeyViolations = (db.pragma('foreign_key_check') as unknown[]).length;
    db.pragma('journal_mode = DELETE'); // one self-contained file to rename
  } catch (error) {
    db.close();
    removeFiles(building);
    throw error;
  }
  db.close();
  let output: string;
  try {
    fsyncFile(building);
    if (out) {
      linkSync(building, out); // fails rather than replace a file that appeared meanwhile
      unlinkSync(building);
      output = out;
    } else {
      output = publishExclusively(building, dir, `ora_recovered_${name}_${stamp()}`);
    }
    fsyncDir(dirname(output));
  } catch (error) {
    removeFiles(building);
    throw new IoError(
      `cannot move the recovered database to ${out ?? dir} (${(error as NodeJS.ErrnoException).code})`,
      'IO_ERROR',
      {
        cause: error,
      },
    );
  }
  report.output = output;

  // 4. The swap, only when the result verifies and nobody holds the damaged file open.
  if (options.replace) {
    if (!report.integrity?.ok) {
      throw new RestoreFailedError(
        `the recovered database ${output} fails integrity_check; the damaged database was left in place`,
      );
    }
    const holders = processesHolding(path) ?? [];
    if (holders.length > 0) {
      throw new DatabaseLockedError(
        `refusing to replace ${path}: ${holders.map((h) => `pid ${h.pid} (${h.command.slice(0, 60)})`).join(', ')} still has it open; stop them, then run recover --replace again (the recovered copy is ${output})`,
      );
    }
    for (const suffix of ['-wal', '-shm']) {
      if (existsSync(`${path}${suffix}`)) unlinkSync(`${path}${suffix}`); // belonged to the damaged file; kept in the emergency copy
    }
    // The database keeps its own mode, and its owner when we can set it (recover run as root).
    const original = statSync(path);
    chmodSync(output, original.mode & 0o7777);
    if (process.getuid?.() === 0) chownSync(output, original.uid, original.gid);
    renameSync(output, path);
    fsyncDir(dir);
    report.replaced = true;
    report.output = path;
  }
  return report;
}
