import { type ChildProcess, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { closeSync, mkdtempSync, openSync, readdirSync, readFileSync, rmSync, statSync, writeSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { migrate, openDatabase, seedDemoData } from '@ora/core';
import Database from 'better-sqlite3';

const require = createRequire(import.meta.url);

/** A fresh temp directory; `cleanup()` removes it. WAL needs real files, never `:memory:`. */
export function tempDir(prefix = 'ora-test-'): { dir: string; path: (name: string) => string; cleanup: () => void } {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  return { dir, path: (name) => join(dir, name), cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

/** Creates an ORA database at `path` with the schema and, if `orders` > 0, seeded demo data. */
export function createOraDatabase(path: string, orders = 0, seed = 1): void {
  const db = openDatabase(path, { create: true });
  try {
    migrate(db);
    if (orders > 0) seedDemoData(db, { orders, seed, days: 400, endDate: '2026-11-01' });
  } finally {
    db.close();
  }
}

/** Every file in `dir` with its size and SHA-256: compare before/after to prove nothing changed. */
export function snapshotDir(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const name of readdirSync(dir).sort()) {
    const p = join(dir, name);
    const s = statSync(p);
    out[name] = s.isFile()
      ? `${s.size}:${createHash('sha256').update(readFileSync(p)).digest('hex').slice(0, 16)}`
      : 'dir';
  }
  return out;
}

/** A hash of every row of every table (order-independent of page layout): the logical content. */
export function contentHash(path: string): string {
  const db = new Database(path, { readonly: true, fileMustExist: true });
  try {
    const hash = createHash('sha256');
    const tables = db
      .prepare("SELECT name FROM sqlite_schema WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name")
      .pluck()
      .all() as string[];
    for (const t of tables) {
      hash.update(t);
      for (const row of db.prepare(`SELECT * FROM "${t}" ORDER BY rowid`).raw().iterate()) {
        hash.update(JSON.stringify(row));
      }
    }
    return hash.digest('hex');
  } finally {
    db.close();
  }
}

/**
 * Starts a child process that opens `path` and holds a lock until killed: `write` holds the
 * write lock (BEGIN IMMEDIATE); `exclusive` holds an exclusive lock that also keeps readers out
 * (locking_mode=EXCLUSIVE plus a write). Resolves once the lock is held.
 */
export async function holdLock(
  path: string,
  kind: 'write' | 'exclusive',
): Promise<{ child: ChildProcess; release: () => Promise<void> }> {
  const script = `
    const Database = require(${JSON.stringify(require.resolve('better-sqlite3'))});
    const db = new Database(${JSON.stringify(path)}, { fileMustExist: true });
    ${kind === 'exclusive' ? "db.pragma('locking_mode = EXCLUSIVE'); db.exec('BEGIN EXCLUSIVE');" : "db.exec('BEGIN IMMEDIATE');"}
    process.stdout.write('locked\\n');
    setInterval(() => {}, 1000);
  `;
  const child = spawn(process.execPath, ['-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
  await new Promise<void>((resolve, reject) => {
    child.once('error', reject);
    child.once('exit', (code) => reject(new Error(`lock holder exited early with ${code}`)));
    child.stdout?.on('data', (d: Buffer) => {
      if (d.toString().includes('locked')) resolve();
    });
  });
  return {
    child,
    release: () =>
      new Promise<void>((resolve) => {
        child.removeAllListeners('exit');
        child.once('exit', () => resolve());
        child.kill('SIGKILL');
      }),
  };
}

/** Overwrites page `pageNumber` (1-based) of a database file with `byte` (checkpoint first). */
export function damagePage(path: string, pageNumber: number, byte = 0xff): void {
  const pageSize = readFileSync(path).readUInt16BE(16);
  const fd = openSync(path, 'r+');
  try {
    writeSync(fd, Buffer.alloc(pageSize, byte), 0, pageSize, (pageNumber - 1) * pageSize);
  } finally {
    closeSync(fd);
  }
}

/** Root page number of a table or index, to aim damage at it. */
export function rootPage(path: string, name: string): number {
  const db = new Database(path, { readonly: true, fileMustExist: true });
  try {
    return db.prepare('SELECT rootpage FROM sqlite_schema WHERE name = ?').pluck().get(name) as number;
  } finally {
    db.close();
  }
}
