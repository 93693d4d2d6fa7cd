/**
 * Where core reports the progress of long work (the harness's renderer implements it): `phase`
 * names what follows, `update` gives figures (`unit` `bytes` is shown as KiB/MiB/GiB).
 */
export interface ProgressSink {
  phase?(name: string): void;
  update(done: number, total: number, unit?: string): void;
}

/** A stopwatch for phase timings: each call returns the whole milliseconds since the last (or since `start`). */
export function lapTimer(start = performance.now()): () => number {
  let mark = start;
  return () => {
    const now = performance.now();
    const ms = Math.round(now - mark);
    mark = now;
    return ms;
  };
}
