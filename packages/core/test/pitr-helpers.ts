import { type ChildProcess, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type OraDatabase, openDatabase, openRaw, withDatabase } from '../src/connection/connection.js';
import { type PointManifest, pointPacks } from '../src/pitr/store.js';

const here = dirname(fileURLToPath(import.meta.url));
const repo = resolve(here, '../../..');

/** The names of the packs point `p` of the store at `dir` (or an S3 store's cache) lists. */
export function packNames(dir: string, p: PointManifest): string[] {
  return pointPacks(dir, p).map((q) => q.name);
}

/** A fresh temp directory; removed by `cleanup`. */
export function tempDir(prefix: string): { dir: string; cleanup: () => void } {
  const dir = mkdtempSync(join(tmpdir(), `${prefix}-`));
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

/** A temp directory (its cleanup pushed to `cleanups`) with `live.db` of `rows` items and a store path. */
export function pointFixture(cleanups: (() => void)[], prefix: string, rows = 3000) {
  const t = tempDir(prefix);
  cleanups.push(t.cleanup);
  const db = join(t.dir, 'live.db');
  makeDatabase(db, rows);
  return { root: t.dir, db, store: join(t.dir, 'points') };
}

/** A WAL database with two tables and an index, `rows` rows of ~400 bytes each. */
export function makeDatabase(path: string, rows: number): void {
  withDatabase(openDatabase(path, { create: true }), (db) => {
    db.exec(`CREATE TABLE items (id INTEGER PRIMARY KEY, name TEXT NOT NULL, payload BLOB);
             CREATE INDEX items_name ON items(name);
             CREATE TABLE counter (id INTEGER PRIMARY KEY CHECK (id = 1), n INTEGER NOT NULL);
             INSERT INTO counter VALUES (1, 0);`);
    insertItems(db, 1, rows);
  });
}

export function insertItems(db: OraDatabase, from: number, count: number): void {
  const insert = db.prepare('INSERT INTO items (id, name, payload) VALUES (?, ?, randomblob(400))');
  db.transaction(() => {
    for (let i = from; i < from + count; i++) insert.run(i, `item-${(i * 7919) % 100000}`);
  });
}

/**
 * Every table's full content (schema and user_version included), row by row, as a SHA-256 plus
 * the row counts: equal results mean equal content.
 */
export function dumpDatabase(path: string): string {
  return withDatabase(openRaw(path, { readonly: true }), (db) => {
    const hash = createHash('sha256');
    const tables = db.values<string>(
      "SELECT name FROM sqlite_schema WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name",
    );
    hash.update(
      JSON.stringify([db.all('SELECT type, name, sql FROM sqlite_schema ORDER BY name'), db.pragma('user_version')]),
    );
    const counts: string[] = [];
    for (const t of tables) {
      let n = 0;
      for (const r of db
        .prepare(`SELECT * FROM "${t.replaceAll('"', '""')}" ORDER BY 1`)
        .raw()
        .iterate()) {
        hash.update(JSON.stringify(r.map((v) => (Buffer.isBuffer(v) ? v.toString('hex') : v))));
        n++;
      }
      counts.push(`${t}:${n}`);
    }
    return `${counts.join(' ')} ${hash.digest('hex')}`;
  });
}

/** Runs pitr-child.ts with `args`; once it says it is ready, SIGKILLs it after `killAfterMs`. Resolves when it is gone. */
export function runAndKill(args: string[], killAfterMs: number): Promise<{ killed: boolean; out: string }> {
  return new Promise((done, fail) => {
    const child: ChildProcess = spawn(process.execPath, ['--import', 'tsx', join(here, 'pitr-child.ts'), ...args], {
      cwd: repo,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    let timer: NodeJS.Timeout | undefined;
    child.stdout?.on('data', (d) => {
      out += d;
      if (!timer && out.includes('ready\n')) timer = setTimeout(() => child.kill('SIGKILL'), killAfterMs);
    });
    child.stderr?.on('data', (d) => {
      err += d;
    });
    child.on('error', fail);
    child.on('exit', (code, signal) => {
      clearTimeout(timer);
      if (signal === 'SIGKILL' || code === 0) done({ killed: signal === 'SIGKILL', out });
      else fail(new Error(`child exited ${code}: ${err}`));
    });
  });
}
