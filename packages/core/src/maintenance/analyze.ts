import type { OraDatabase } from '../connection/connection.js';

export interface AnalyzeReport {
  analysisLimit: number;
  /** Wall time of ANALYZE, during which it holds the write lock. */
  analyzeMs: number;
  optimizeMs: number;
}

/**
 * `ANALYZE` bounded by `PRAGMA analysis_limit` (rows sampled per index, so it stays short on a
 * large database; 0 means unbounded), then `PRAGMA optimize`. ANALYZE writes `sqlite_stat1` and
 * so holds the write lock while it runs: the limit is what keeps writers from waiting long.
 */
export function analyzeDatabase(db: OraDatabase, analysisLimit: number): AnalyzeReport {
  db.pragma(`analysis_limit = ${analysisLimit}`);
  const a = performance.now();
  db.run(() => db.exec('ANALYZE'));
  const analyzeMs = Math.round(performance.now() - a);
  const o = performance.now();
  db.run(() => db.pragmaRows('optimize'));
  return { analysisLimit, analyzeMs, optimizeMs: Math.round(performance.now() - o) };
}
