import { readdirSync, readFileSync, readlinkSync, realpathSync } from 'node:fs';
import { join } from 'node:path';
import type { OraDatabase } from '../connection/connection.js';
import { type CheckpointResult, checkpoint, withBusyTimeout } from '../maintenance/checkpoint.js';

export interface FileHolder {
  pid: number;
  command: string;
  /** Which of the database's files it has open: `db`, `wal`, `shm`. */
  files: ('db' | 'wal' | 'shm')[];
}

export interface LockDiagnosis {
  writeLock: { available: boolean; waitedMs: number; message: string };
  checkpoint: CheckpointResult;
  /** Processes with the database files open (Linux /proc); null where /proc is not available. */
  holders: FileHolder[] | null;
}

function resolved(path: string): string | null {
  try {
    return realpathSync(path);
  } catch {
    return null;
  }
}

/**
 * Which processes hold `path`, `path-wal` or `path-shm` open, read from `/proc/<pid>/fd` (the
 * guide's `ps aux | grep python`, done properly). Processes we may not inspect are skipped.
 */
export function processesHolding(path: string): FileHolder[] | null {
  let pids: string[];
  try {
    pids = readdirSync('/proc').filter((d) => /^\d+$/.test(d));
  } catch {
    return null;
  }
  const targets = new Map<string, 'db' | 'wal' | 'shm'>();
  for (const [suffix, kind] of [
    ['', 'db'],
    ['-wal', 'wal'],
    ['-shm', 'shm'],
  ] as const) {
    const r = resolved(`${path}${suffix}`);
    if (r) targets.set(r, kind);
  }
  const holders: FileHolder[] = [];
  for (const pid of pids) {
    if (Number(pid) === process.pid) continue;
    let fds: string[];
    try {
      fds = readdirSync(join('/proc', pid, 'fd'));
    } catch {
      continue;
    }
    const files = new Set<'db' | 'wal' | 'shm'>();
    for (const fd of fds) {
      try {
        const kind = targets.get(readlinkSync(join('/proc', pid, 'fd', fd)));
        if (kind) files.add(kind);
      } catch {
        // fd closed meanwhile
      }
    }
    if (files.size === 0) continue;
    let command = '';
    try {
      command = readFileSync(join('/proc', pid, 'cmdline'), 'utf8')
        .replace(/\0+$/, '')
        .replace(/[\0\s]+/g, ' '); // one line: arguments (a node -e script, say) may hold newlines
    } catch {
      command = '(unknown)';
    }
    holders.push({ pid: Number(pid), command: command.slice(0, 300), files: [...files].sort() });
  }
  return holders;
}

/**
 * The guide's "Database Locked Errors" diagnosis as one report: can a write lock be taken within
 * `waitMs` (taken and released at once, nothing written), what a PASSIVE checkpoint reports, and
 * which processes hold the database files open.
 */
export function diagnoseLocks(db: OraDatabase, waitMs: number): LockDiagnosis {
  const started = performance.now();
  let available = true;
  let message = `write lock taken and released within ${waitMs} ms`;
  withBusyTimeout(db, waitMs, () => {
    try {
      db.exec('BEGIN IMMEDIATE');
      db.exec('ROLLBACK');
    } catch (error) {
      available = false;
      message = `no write lock within ${waitMs} ms: another connection is writing (${(error as { code?: string }).code ?? (error as Error).message})`;
    }
  });
  const waitedMs = Math.round(performance.now() - started);
  const passive = withBusyTimeout(db, 0, () => checkpoint(db, 'PASSIVE'));
  return { writeLock: { available, waitedMs, message }, checkpoint: passive, holders: processesHolding(db.path) };
}
