import {
  closeSync,
  constants,
  fsyncSync,
  linkSync,
  lstatSync,
  mkdirSync,
  openSync,
  readdirSync,
  realpathSync,
  renameSync,
  rmSync,
  statSync,
  unlinkSync,
  writeSync,
} from 'node:fs';
import { join } from 'node:path';
import { IoError } from '../errors/errors.js';

/** Translates a file-system error into the toolkit's I/O errors (disk full, permission, other). */
export function ioError(error: unknown, what: string): IoError {
  const code = (error as NodeJS.ErrnoException).code ?? '';
  if (code === 'ENOSPC' || code === 'EDQUOT') {
    return new IoError(
      `disk full while ${what}; free space on the filesystem holding it and retry (nothing partial was published)`,
      'DISK_FULL',
      {
        cause: error,
      },
    );
  }
  if (code === 'EACCES' || code === 'EPERM' || code === 'EROFS') {
    return new IoError(
      `permission denied while ${what} (${code}); check the directory's owner, mode and mount options${code === 'EROFS' ? ' (it is on a read-only filesystem)' : ''}`,
      'PERMISSION_DENIED',
      {
        cause: error,
      },
    );
  }
  return new IoError(`I/O error while ${what} (${code || (error as Error).message})`, 'IO_ERROR', { cause: error });
}

/** fsyncs a directory so a rename inside it survives a crash. */
export function fsyncDir(dir: string): void {
  const fd = openSync(dir, 'r');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

export function fsyncFile(path: string): void {
  const fd = openSync(path, 'r+');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

/** Creates `dir` (and parents) with mode 0700 when missing; refuses a path that is not a directory. */
export function ensurePrivateDir(dir: string): void {
  try {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
  } catch (error) {
    throw ioError(error, `creating the backup directory ${dir}`);
  }
  if (!statSync(dir).isDirectory()) {
    throw new IoError(
      `backup directory ${dir} is not a directory; point --backup-dir / BACKUP_DIR at a directory`,
      'IO_ERROR',
    );
  }
}

/** Removes a file if it is there; a file already gone (or never made) is not an error. */
export function removeQuietly(path: string): void {
  try {
    unlinkSync(path);
  } catch {
    // not there
  }
}

/** A timestamp for file names, to the millisecond, sortable: `20261201_235959123`. */
export function fileStamp(d = new Date()): string {
  return d.toISOString().replace(/[-:.]/g, '').replace('T', '_').slice(0, 18);
}

/** Writes `text` to `path` atomically and durably: exclusive temp file (0600), fsync, rename, fsync dir. */
export function writeFileDurably(path: string, text: string | Buffer, dir: string, tempName: string): void {
  const temp = `${dir}/${tempName}`;
  try {
    const fd = openSync(temp, 'wx', 0o600);
    try {
      writeSync(fd, typeof text === 'string' ? Buffer.from(text) : text);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(temp, path);
    fsyncDir(dir);
  } catch (error) {
    throw ioError(error, `writing ${path}`);
  }
}

/**
 * Appends `text` to `path` (created 0600), refusing to follow a symbolic link planted in its
 * place: a log or lock file must not become a way to write somewhere else.
 */
export function appendNoFollow(path: string, text: string, what: string): void {
  let fd: number;
  try {
    fd = openSync(path, constants.O_WRONLY | constants.O_APPEND | constants.O_CREAT | constants.O_NOFOLLOW, 0o600);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ELOOP') throw symlinkRefused(path, what, error);
    throw error;
  }
  try {
    if (text) writeSync(fd, text);
  } finally {
    closeSync(fd);
  }
}

function symlinkRefused(path: string, what: string, cause?: unknown): IoError {
  return new IoError(
    `refusing to use ${what} ${path}: it is a symbolic link; point it at the real file (links are not followed so that nothing is written or read elsewhere)`,
    'IO_ERROR',
    { cause },
  );
}

/** Throws when `path` exists and is a symbolic link (files inside the backup directory, archives). */
export function refuseSymlink(path: string, what: string): void {
  let link = false;
  try {
    link = lstatSync(path).isSymbolicLink();
  } catch {
    return; // not there
  }
  if (link) throw symlinkRefused(path, what);
}

/**
 * The real path of an existing directory, so that a symlinked backup or archive directory is
 * resolved once, deliberately, and reported as the place the files really go; `dir` itself when
 * it does not exist yet.
 */
export function realDir(dir: string): string {
  try {
    return realpathSync(dir);
  } catch {
    return dir;
  }
}

/**
 * Renames `temp` to `<base>.db` in `dir`, or `<base>_2.db`, `<base>_3.db`, … when the name is
 * taken: a hard link fails instead of replacing an existing file. Returns the final path.
 */
export function publishExclusively(temp: string, dir: string, base: string): string {
  for (let n = 1; ; n++) {
    const final = join(dir, `${base}${n === 1 ? '' : `_${n}`}.db`);
    try {
      linkSync(temp, final);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'EEXIST') continue;
      throw error;
    }
    unlinkSync(temp);
    return final;
  }
}

/** Whether a process with this pid exists (on this host). */
export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Removes the `.<prefix>-<pid>-…` temp files in `dir` that runs killed half-way left: those whose
 * process is gone, and those with our own pid, which can only be an earlier run's (a container's
 * process is pid 1 every time). Call it before creating this run's own temps.
 */
export function removeDeadTemps(dir: string, prefix: string): void {
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return; // no directory, no temps
  }
  for (const name of names) {
    if (!name.startsWith(`.${prefix}-`)) continue;
    const pid = Number(/^(\d+)-/.exec(name.slice(prefix.length + 2))?.[1]);
    if (pid && (pid === process.pid || !isAlive(pid))) rmSync(join(dir, name), { force: true });
  }
}
