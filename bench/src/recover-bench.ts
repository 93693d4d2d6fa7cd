import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { DAMAGE_KINDS, DAMAGE_LABEL, type DamageKind, damageCopy } from './recover-damage.js';
import { fmt, type Summary, summarize } from './stats.js';

/** The sqlite3 version whose `.recover` is the anchor: the amalgamation the npm package `sqlite3` ships. */
const SQLITE3_PACKAGE = 'sqlite3@6.0.1';

export interface RecoverCase {
  kind: DamageKind;
  label: string;
  ours: Summary;
  pipeline: Summary | null;
  /** ours ÷ pipeline, medians (lower is better). */
  ratio: number | null;
  oursPeakRssMib: number;
  pipelinePeakRssMib: number | null;
  /** Rows equal to the original row of the same table and rowid. */
  rightTable: { ours: number; pipeline: number | null };
  lostAndFound: { ours: number; pipeline: number | null };
  originalRows: number;
}

export interface RecoverBenchResult {
  fixtureMib: number;
  sqlite3: string | null;
  cases: RecoverCase[];
  notes: string[];
}

/**
 * Builds (once, cached under bench/.cache) the sqlite3 shell with `.recover`: Debian's 3.40 lacks
 * `sqlite_dbpage`, so it is compiled from the sqlite-autoconf tarball inside the npm package
 * `sqlite3` (shell.c + sqlite3.c, -DSQLITE_ENABLE_DBPAGE_VTAB; about 30 s with gcc).
 */
export function sqlite3WithRecover(root: string): { path: string | null; note: string | null } {
  const dir = join(root, 'bench/.cache');
  const bin = join(dir, 'sqlite3-recover');
  if (existsSync(bin)) return { path: bin, note: null };
  if (spawnSync('sh', ['-c', 'command -v gcc && command -v npm && command -v tar']).status !== 0) {
    return { path: null, note: 'gcc, npm or tar missing: the sqlite3 .recover column was skipped' };
  }
  mkdirSync(dir, { recursive: true });
  const work = mkdtempSync(join(dir, 'build-'));
  console.error(`bench recover: building sqlite3 with .recover from ${SQLITE3_PACKAGE} (about 30 s)…`);
  const script = [
    `cd "${work}"`,
    `npm pack ${SQLITE3_PACKAGE} --silent >/dev/null`,
    'tar xzf sqlite3-*.tgz',
    'tar xzf package/deps/sqlite-autoconf-*.tar.gz',
    'cd sqlite-autoconf-*',
    `gcc -O2 -DSQLITE_ENABLE_DBPAGE_VTAB -DSQLITE_ENABLE_FTS5 -DSQLITE_ENABLE_FTS4 -DSQLITE_ENABLE_RTREE -DSQLITE_ENABLE_DBSTAT_VTAB -DSQLITE_THREADSAFE=0 shell.c sqlite3.c -lm -o "${bin}.building"`,
  ].join(' && ');
  const r = spawnSync('sh', ['-c', script], { stdio: ['ignore', 'ignore', 'pipe'] });
  rmSync(work, { recursive: true, force: true });
  if (r.status !== 0) return { path: null, note: `building sqlite3 failed: ${String(r.stderr).slice(0, 200)}` };
  renameSync(`${bin}.building`, bin);
  return { path: bin, note: null };
}

/** Runs a command under GNU time: wall milliseconds and peak resident set (the largest of its processes). */
function timed(cmd: string): { ms: number; peakKib: number } {
  const stats = join(tmpdir(), `ora-bench-time-${process.pid}`);
  const started = performance.now();
  const r = spawnSync('/usr/bin/time', ['-f', '%M', '-o', stats, 'sh', '-c', cmd], {
    stdio: ['ignore', 'ignore', 'pipe'],
    env: { ...process.env, ORA_LOG_LEVEL: 'warn' },
  });
  const ms = performance.now() - started;
  if (r.status !== 0 && r.status !== 1) throw new Error(`${cmd} failed (${r.status}): ${String(r.stderr).slice(-400)}`);
  const peakKib = Number(readFileSync(stats, 'utf8').trim().split('\n').at(-1));
  rmSync(stats, { force: true });
  return { ms, peakKib };
}

/** Rows of `out` equal (rowid and every column) to the original's row of the same table and rowid. */
function rightRows(original: string, out: string): { right: number; lost: number; originalRows: number } {
  const db = new Database(out, { readonly: true });
  try {
    db.exec(`ATTACH '${original.replaceAll("'", "''")}' AS orig`);
    const tables = db
      .prepare("SELECT name FROM orig.sqlite_schema WHERE type = 'table' AND name NOT LIKE 'sqlite_%'")
      .pluck()
      .all() as string[];
    let right = 0;
    let originalRows = 0;
    for (const t of tables) {
      const q = `"${t.replaceAll('"', '""')}"`;
      originalRows += db.prepare(`SELECT count(*) FROM orig.${q}`).pluck().get() as number;
      const exists = db.prepare("SELECT 1 FROM main.sqlite_schema WHERE type = 'table' AND name = ?").get(t);
      if (!exists) continue;
      const cols = db.prepare('SELECT name FROM pragma_table_info(?, ?)').pluck().all(t, 'orig') as string[];
      const same = cols.map((c) => `o."${c.replaceAll('"', '""')}" IS g."${c.replaceAll('"', '""')}"`).join(' AND ');
      right += db
        .prepare(`SELECT count(*) FROM main.${q} o JOIN orig.${q} g ON o.rowid = g.rowid WHERE ${same || '1'}`)
        .pluck()
        .get() as number;
    }
    const hasLost = db.prepare("SELECT 1 FROM main.sqlite_schema WHERE name = 'lost_and_found'").get();
    const lost = hasLost ? (db.prepare('SELECT count(*) FROM main.lost_and_found').pluck().get() as number) : 0;
    return { right, lost, originalRows };
  } finally {
    db.close();
  }
}

/**
 * `recover` against `sqlite3 DAMAGED .recover | sqlite3 OUT` on the same damaged copies, in
 * alternation, for each kind of damage: time, peak RSS, rows in the right table, rows in
 * lost_and_found.
 */
export async function benchRecover(root: string, db: string, runs: number): Promise<RecoverBenchResult> {
  const bundle = join(root, 'functions/recover/dist/index.mjs');
  const work = mkdtempSync(join(tmpdir(), 'ora-bench-recover-'));
  const notes: string[] = [];
  const shell = sqlite3WithRecover(root);
  if (shell.note) notes.push(shell.note);
  const cases: RecoverCase[] = [];
  try {
    for (const kind of DAMAGE_KINDS) {
      const damaged = join(work, `damaged-${kind}.db`);
      damageCopy(db, damaged, kind);
      const ours: number[] = [];
      const pipeline: number[] = [];
      let oursPeak = 0;
      let pipelinePeak = 0;
      let oursRows = { right: 0, lost: 0, originalRows: 0 };
      let pipelineRows: typeof oursRows | null = null;
      for (let i = 0; i < runs; i++) {
        const out = join(work, `ours-${kind}-${i}.db`);
        const o = timed(`node "${bundle}" --db "${damaged}" --out "${out}" --json >/dev/null`);
        ours.push(o.ms);
        oursPeak = Math.max(oursPeak, o.peakKib);
        if (i === 0) oursRows = rightRows(db, out);
        rmSync(out, { force: true });
        for (const f of readdirSync(work)) if (f.startsWith('ora_corrupted_')) rmSync(join(work, f), { force: true });
        if (shell.path) {
          const pout = join(work, `pipeline-${kind}-${i}.db`);
          const p = timed(`"${shell.path}" "${damaged}" .recover | "${shell.path}" "${pout}"`);
          pipeline.push(p.ms);
          pipelinePeak = Math.max(pipelinePeak, p.peakKib);
          if (i === 0) pipelineRows = rightRows(db, pout);
          rmSync(pout, { force: true });
        }
        console.error(
          `bench recover ${kind}: run ${i + 1}/${runs}: ours ${fmt(ours.at(-1) ?? 0)}${shell.path ? `, sqlite3 .recover ${fmt(pipeline.at(-1) ?? 0)}` : ''}`,
        );
      }
      const o = summarize(ours);
      const p = pipeline.length > 0 ? summarize(pipeline) : null;
      cases.push({
        kind,
        label: DAMAGE_LABEL[kind],
        ours: o,
        pipeline: p,
        ratio: p ? Math.round((o.median / p.median) * 100) / 100 : null,
        oursPeakRssMib: Math.round(oursPeak / 1024),
        pipelinePeakRssMib: shell.path ? Math.round(pipelinePeak / 1024) : null,
        rightTable: { ours: oursRows.right, pipeline: pipelineRows?.right ?? null },
        lostAndFound: { ours: oursRows.lost, pipeline: pipelineRows?.lost ?? null },
        originalRows: oursRows.originalRows,
      });
      rmSync(damaged, { force: true });
    }
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
  return { fixtureMib: Math.round(statSync(db).size / 1048576), sqlite3: shell.path, cases, notes };
}

/** The Markdown table of a recover run, with each target's status. */
export function recoverTable(r: RecoverBenchResult, runs: number, machine: string): string[] {
  const pass = (ok: boolean) => (ok ? 'met' : '**missed**');
  return [
    `## Recover (${r.fixtureMib} MiB ORA database, ${runs} run(s) each in alternation; ${machine})`,
    '',
    '| damage | ora-db recover | sqlite3 .recover \\| sqlite3 | ratio | peak RSS ours / sqlite3 | rows in the right table ours / sqlite3 (of all) | lost_and_found ours / sqlite3 | status (≤ 1.5x floor, ≤ 1.0x aim; RSS ≤ 256 MiB; rows ≥ sqlite3) |',
    '|---|---|---|---|---|---|---|---|',
    ...r.cases.map((c) => {
      const rowsOk = c.rightTable.pipeline === null || c.rightTable.ours >= c.rightTable.pipeline;
      const ok = (c.ratio === null || c.ratio <= 1.5) && c.oursPeakRssMib <= 256 && rowsOk;
      return `| ${c.label} | ${fmt(c.ours.median)} | ${c.pipeline ? fmt(c.pipeline.median) : 'n/a'} | ${c.ratio ?? 'n/a'}x | ${c.oursPeakRssMib} / ${c.pipelinePeakRssMib ?? 'n/a'} MiB | ${c.rightTable.ours} / ${c.rightTable.pipeline ?? 'n/a'} (${c.originalRows}) | ${c.lostAndFound.ours} / ${c.lostAndFound.pipeline ?? 'n/a'} | ${pass(ok)}${c.ratio !== null && c.ratio > 1 && ok ? ' (aim missed)' : ''} |`;
    }),
    ...r.notes.map((n) => `\nNote: ${n}`),
  ];
}
