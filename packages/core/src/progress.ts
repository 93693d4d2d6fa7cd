/**
 * Where core reports the progress of long work (the harness's renderer implements it): `phase`
 * names what follows, `update` gives figures (`unit` `bytes` is shown as KiB/MiB/GiB).
 */
export interface ProgressSink {
  phase?(name: string): void;
  update(done: number, total: number, unit?: string): void;
}
