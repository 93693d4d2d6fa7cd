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
import { openRaw, withDatabase } from '../connection/connection.js';
import { checkDatabaseFile, fileSizeOrZero } from '../connection/file-checks.js';
import { processesHolding } from '../diagnostics/locks.js';
import {
  DatabaseCorruptError,
  DatabaseLockedError,
  InvalidInputError,
  IoError,
  NotADatabaseError,
  RestoreFailedError,
} from '../errors/errors.js';
import { fileStamp, fsyncDir, fsyncFile, publishExclusively, removeDeadTemps } from '../fs/files.js';
import { openPageSource } from './file-format.js';
import { buildRecovered, type RebuildReport } from './rebuild.js';

export interface RecoverOptions {
  path: string;
  /** Where the recovered database goes; must not exist. Default `ora_recovered_<ts>.db` beside. */
  outPath?: string;
  /** Swap the recovered database in once it verifies (the damaged one stays as the emergency copy). */
  replace: boolean;
  /** Recover even when quick_check finds nothing wrong. */
  force: boolean;
  /** Told the pages salvaged so far, at most every few thousand pages. */
  onProgress?: (done: number, total: number, unit: string) => void;
  /** Told each phase as it starts: copy, plan, salvage, indexes, check. */
  onPhase?: (name: string) => void;
}

export interface RecoverReport extends Omit<RebuildReport, 'integrity' | 'foreignKeyViolations'> {
  healthy: boolean;
  emergencyCopy: string[];
  output: string | null;
  replaced: boolean;
  integrity: RebuildReport['integrity'] | null;
  foreignKeyViolations: number | null;
}

/**
 * Whether SQLite's quick_check passes. Opening a WAL-mode file read-only creates its `-wal` and
 * `-shm` when they are missing, and a read-only connection cannot remove them again: this removes
 * what the check itself created (an empty WAL and its index), unless another process has the
 * database open meanwhile.
 */
function quickCheckOk(path: string): boolean {
  const hadWal = existsSync(`${path}-wal`);
  const hadShm = existsSync(`${path}-shm`);
  try {
    return withDatabase(openRaw(path, { readonly: true }), (db) => db.pragma('quick_check') === 'ok');
  } catch {
    return false;
  } finally {
    const created = (!hadWal && existsSync(`${path}-wal`)) || (!hadShm && existsSync(`${path}-shm`));
    if (created && (processesHolding(path) ?? []).length === 0) {
      if (!hadWal && fileSizeOrZero(`${path}-wal`) === 0) rmSync(`${path}-wal`, { force: true });
      if (!hadShm && !existsSync(`${path}-wal`)) rmSync(`${path}-shm`, { force: true });
    }
  }
}

function removeFiles(base: string): void {
  for (const suffix of ['', '-wal', '-shm', '-journal']) rmSync(`${base}${suffix}`, { force: true });
}

/**
 * Salvages a damaged database (the guide's "Database Corruption Recovery", without its `.dump`,
 * which stops at the first bad page and ends in ROLLBACK):
 *
 * 1. an emergency copy of the file and its `-wal`/`-shm`, byte for byte, before anything else;
 * 2. every row on a readable page, read from the file format itself and streamed in bounded
 *    memory (`buildRecovered`), into a new database with the original schema; indexes are rebuilt
 *    from the rows; rows that fit no single damaged table go to `lost_and_found`;
 * 3. `integrity_check` and `foreign_key_check` of the result;
 * 4. with `replace`, and only if the result verifies and no process holds the database open, the
 *    recovered file takes the damaged one's place.
 */
export function recoverDatabase(options: RecoverOptions): RecoverReport {
  const path = resolve(options.path);
  checkRecoverable(path);
  const dir = dirname(path);
  // Named after the database and to the millisecond, and published without replacing anything:
  // recovers of two databases in one directory never take each other's names.
  const name = basename(path).replace(/\.(db|sqlite3?)$/, '');
  const out = options.outPath ? resolve(options.outPath) : null;
  if (out && (existsSync(out) || existsSync(`${out}-wal`))) {
    throw new InvalidInputError(`output ${out} already exists; choose another --out (recover never overwrites a file)`);
  }
  const healthy = quickCheckOk(path);
  const report = emptyReport(healthy);
  if (healthy && !options.force) return report;
  removeDeadTemps(dir, 'ora-recover');
  if (out && dirname(out) !== dir) removeDeadTemps(dirname(out), 'ora-recover');

  options.onPhase?.('copy');
  const copy = writeEmergencyCopy(path, `${healthy ? 'ora_before_recover' : 'ora_corrupted'}_${name}`);
  report.emergencyCopy = copy.files;
  const building = join(out ? dirname(out) : dir, `.ora-recover-${process.pid}-out.db`);
  Object.assign(report, salvage(copy.base, building, options));
  report.output = publishRecovered(building, out ?? { dir, base: `ora_recovered_${name}` });
  if (options.replace) {
    swapIn(path, report.output, report);
    report.replaced = true;
    report.output = path;
  }
  return report;
}

/**
 * Refuses a missing, empty or directory path (nothing to recover); a truncated file, or one
 * whose header is damaged, is what recover is for.
 */
function checkRecoverable(path: string): void {
  try {
    checkDatabaseFile(path, { allowEmpty: false });
  } catch (error) {
    if (!(error instanceof DatabaseCorruptError) && !(error instanceof NotADatabaseError)) throw error;
  }
}

function emptyReport(healthy: boolean): RecoverReport {
  return {
    healthy,
    emergencyCopy: [],
    output: null,
    replaced: false,
    schemaSource: 'file',
    tables: [],
    virtualTables: [],
    notRecreated: [],
    lostAndFound: 0,
    integrity: null,
    foreignKeyViolations: null,
    walPagesApplied: 0,
    pagesScanned: 0,
    freelistPages: 0,
    freelistComplete: true,
    phaseMs: { plan: 0, rows: 0, indexes: 0, check: 0 },
  };
}

/**
 * Step 1: the emergency copy, untouched: each file copied under a temp name and renamed once
 * complete, so a run killed half-way leaves no partial file that could pass for the copy. A name
 * already taken (a run earlier in the same millisecond) gets a counter. Returns the copy's path
 * (`base`) and every file written, the main file first.
 */
function writeEmergencyCopy(path: string, baseName: string): { base: string; files: string[] } {
  const dir = dirname(path);
  const partials: string[] = [];
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
    const base = publishExclusively(partials.at(-1) as string, dir, `${baseName}_${fileStamp()}`);
    const files = [base];
    for (const partial of partials.slice(0, -1)) {
      const suffix = partial.endsWith('-wal') ? '-wal' : '-shm';
      renameSync(partial, `${base}${suffix}`);
      files.push(`${base}${suffix}`);
    }
    fsyncDir(dir);
    return { base, files };
  } catch (error) {
    for (const partial of partials) rmSync(partial, { force: true });
    throw new IoError(
      `cannot write the emergency copy of ${path} in ${dir} (${(error as NodeJS.ErrnoException).code}); free space or fix permissions first — nothing else was done`,
      'IO_ERROR',
      { cause: error },
    );
  }
}

/**
 * Steps 2 and 3: salvages from the emergency copy (with its WAL), never from the live file,
 * streaming the rows into a new database at `building` (a temp name, renamed when complete: a run
 * killed half-way leaves no file that could pass for a recovered database), and checks it.
 */
function salvage(copyBase: string, building: string, options: RecoverOptions): RebuildReport {
  const source = openPageSource(copyBase);
  if (!source) throw new IoError(`cannot read ${copyBase}`, 'IO_ERROR');
  try {
    closeSync(openSync(building, 'wx', 0o600));
    return buildRecovered(source, building, options.onProgress, options.onPhase);
  } catch (error) {
    removeFiles(building);
    throw error;
  } finally {
    source.close();
  }
}

/**
 * Publishes the built database, fsynced: at `--out` (failing rather than replacing a file that
 * appeared meanwhile), or under a new name in the database's directory. Returns its path.
 */
function publishRecovered(building: string, to: string | { dir: string; base: string }): string {
  try {
    fsyncFile(building);
    let output: string;
    if (typeof to === 'string') {
      linkSync(building, to);
      unlinkSync(building);
      output = to;
    } else {
      output = publishExclusively(building, to.dir, `${to.base}_${fileStamp()}`);
    }
    fsyncDir(dirname(output));
    return output;
  } catch (error) {
    removeFiles(building);
    throw new IoError(
      `cannot move the recovered database to ${typeof to === 'string' ? to : to.dir} (${(error as NodeJS.ErrnoException).code})`,
      'IO_ERROR',
      { cause: error },
    );
  }
}

/**
 * Step 4: the swap, only when the result verifies, lacks nothing, and nobody holds the damaged
 * file open. The damaged file's `-wal`/`-shm` go (they are in the emergency copy); the recovered
 * file takes the database's mode, and its owner when run as root.
 */
function swapIn(path: string, output: string, report: RecoverReport): void {
  if (!report.integrity?.ok) {
    throw new RestoreFailedError(
      `the recovered database ${output} fails integrity_check; the damaged database was left in place`,
    );
  }
  const missing = [
    ...report.notRecreated,
    ...report.virtualTables.filter((v) => v.status === 'failed').map((v) => `virtual table ${v.name} (${v.detail})`),
  ];
  if (missing.length > 0) {
    throw new RestoreFailedError(
      `the recovered database ${output} lacks ${missing.join(', ')}; the damaged database was left in place — look at ${output}, fix what is missing there, and swap it in yourself`,
    );
  }
  const holders = processesHolding(path) ?? [];
  if (holders.length > 0) {
    throw new DatabaseLockedError(
      `refusing to replace ${path}: ${holders.map((h) => `pid ${h.pid} (${h.command.slice(0, 60)})`).join(', ')} still has it open; stop them, then run recover --replace again (the recovered copy is ${output})`,
    );
  }
  const dir = dirname(path);
  for (const suffix of ['-wal', '-shm']) {
    if (existsSync(`${path}${suffix}`)) unlinkSync(`${path}${suffix}`);
  }
  const original = statSync(path);
  chmodSync(output, original.mode & 0o7777);
  if (process.getuid?.() === 0) chownSync(output, original.uid, original.gid);
  renameSync(output, path);
  fsyncDir(dir);
}
