import { Writable } from 'node:stream';
import { Worker } from 'node:worker_threads';
import type { Logger } from './logger.js';

/** Reports progress of long work. */
export interface Progress {
  /**
   * `done` of `total` units (`unit` names them: pages, rows, bytes; `bytes` is shown as KiB/MiB/GiB).
   * A new unit or total starts a new phase (its rate and ETA start afresh).
   */
  update(done: number, total: number, unit?: string): void;
  /**
   * Names the phase that follows (`snapshot`, `verify`). Work of unknown length shows the phase
   * and its elapsed time until an `update` gives figures.
   */
  phase?(name: string): void;
  /** Clears the bar (TTY) and logs the final figures of the run's phases. */
  finish(): void;
}

export interface ProgressOptions {
  logger: Logger;
  stderr: Writable;
  tty: boolean;
  label: string;
  /** Least time between two progress log lines when stderr is not a TTY (default 10 s). */
  logEveryMs?: number;
  /** Least time between two redraws on a TTY (default 100 ms). */
  drawEveryMs?: number;
  /** The clock (tests). */
  now?: () => number;
  /**
   * Without a TTY: the file descriptor (2, the real stderr) that a heartbeat thread writes a JSON
   * line to when no progress line came for `logEveryMs` — a single SQLite call (CREATE INDEX,
   * integrity_check of a large file) blocks the main thread, so its own lines cannot come then.
   */
  heartbeatFd?: number;
}

/** The renderer, plus what the harness needs to keep log lines and the bar apart on a terminal. */
export interface ProgressRenderer extends Progress {
  phase(name: string): void;
  /** Clears the bar so another line can be written; `redraw()` puts it back. */
  clear(): void;
  redraw(): void;
}

interface Phase {
  name: string;
  unit: string;
  total: number;
  done: number;
  startedAt: number;
  /** Whether any figures arrived (else the phase is of unknown length). */
  counted: boolean;
}

const ERASE_LINE = '\r\x1b[2K';

/** 1536 → "1.5 KiB"; counts of other units are grouped by thousands. */
export function formatAmount(n: number, unit: string): string {
  if (unit !== 'bytes') return `${Math.round(n).toLocaleString('en-US')}`;
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let v = n;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return i === 0 ? `${Math.round(v)} B` : `${v.toFixed(1)} ${units[i]}`;
}

/** 75 → "1:15", 3725 → "1:02:05". */
export function formatDuration(seconds: number): string {
  const s = Math.max(0, Math.round(seconds));
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const ss = String(s % 60).padStart(2, '0');
  return h > 0 ? `${h}:${String(m).padStart(2, '0')}:${ss}` : `${m}:${ss}`;
}

function rateOf(p: Phase, now: number): number | null {
  const seconds = (now - p.startedAt) / 1000;
  return p.counted && seconds >= 0.1 && p.done > 0 ? p.done / seconds : null;
}

function unitSuffix(unit: string): string {
  return unit === 'bytes' ? '' : ` ${unit}`;
}

/**
 * "compress 42% [#####.......] 120.5 MiB/305.2 MiB 45.1 MiB/s ETA 0:04", fitted to `columns`:
 * the bar narrows first, then goes.
 */
export function describePhase(p: Phase, now: number, columns = 100): string {
  const elapsed = formatDuration((now - p.startedAt) / 1000);
  if (!p.counted || p.total <= 0) return `${p.name} … ${elapsed} elapsed`;
  const fraction = Math.min(1, p.done / p.total);
  const pct = Math.floor(fraction * 100);
  const rate = rateOf(p, now);
  const rateText = rate === null ? '' : ` ${formatAmount(rate, p.unit)}${p.unit === 'bytes' ? '' : ` ${p.unit}`}/s`;
  const eta =
    rate === null
      ? 'ETA --:--'
      : p.done >= p.total
        ? `${elapsed} elapsed`
        : `ETA ${formatDuration((p.total - p.done) / rate)}`;
  const head = `${p.name} ${pct}%`;
  const tail = `${formatAmount(p.done, p.unit)}/${formatAmount(p.total, p.unit)}${unitSuffix(p.unit)}${rateText} ${eta}`;
  // Sized for the widest line of the phase (done as long as total, a rate, an ETA), so it stays put.
  const widest = `${p.name} 100%`.length + 2 * formatAmount(p.total, p.unit).length + unitSuffix(p.unit).length + 32;
  const width = Math.min(20, columns - widest);
  if (width < 5) return `${head} ${tail}`;
  const filled = Math.round(fraction * width);
  return `${head} [${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${tail}`;
}

function phaseRecord(p: Phase, now: number): Record<string, unknown> {
  const rate = rateOf(p, now);
  return {
    phase: p.name,
    ...(p.counted
      ? {
          done: p.done,
          total: p.total,
          unit: p.unit,
          pct: p.total > 0 ? Math.floor(Math.min(1, p.done / p.total) * 100) : null,
          ...(rate === null
            ? {}
            : { ratePerSec: Math.round(rate), etaSec: rate > 0 ? Math.round((p.total - p.done) / rate) : null }),
        }
      : {}),
    elapsedMs: Math.round(now - p.startedAt),
  };
}

/**
 * The heartbeat thread's code: it sleeps until `every` ms have passed since the last progress line
 * (shared memory, written by both threads), then writes one JSON line naming the phase and its
 * elapsed time, with `writeSync` on the descriptor, which needs nothing from the blocked main
 * thread. A lock word keeps its last line from following the final record.
 */
const HEARTBEAT = `
const { workerData } = require('node:worker_threads');
const { writeSync } = require('node:fs');
const { ctl, times, name, every, fd, label, pid } = workerData;
const c = new Int32Array(ctl);
const t = new Float64Array(times);
const bytes = new Uint8Array(name);
for (;;) {
  const wait = t[0] + every - Date.now();
  if (wait > 0) Atomics.wait(c, 0, 0, wait);
  if (Atomics.load(c, 0) !== 0) break;
  if (Date.now() - t[0] < every) continue;
  if (Atomics.compareExchange(c, 2, 0, 1) !== 0) break;
  if (Atomics.load(c, 0) === 0) {
    const now = Date.now();
    const phase = Buffer.from(bytes.subarray(0, Atomics.load(c, 1))).toString('utf8');
    const elapsedMs = Math.round(now - t[1]);
    const line = { level: 'info', time: new Date(now).toISOString(), pid, job: label, progress: { phase, elapsedMs },
      msg: label + ': ' + phase + ' still running (' + Math.round(elapsedMs / 1000) + ' s)' };
    try { writeSync(fd, JSON.stringify(line) + '\\n'); } catch {}
    t[0] = now;
  }
  Atomics.store(c, 2, 0);
}
`;

interface Heartbeat {
  /** A line was logged: the heartbeat waits `every` ms from now. */
  logged(): void;
  /** A phase started. */
  phase(name: string): void;
  /** Stops it; once this returns, it writes nothing more. */
  stop(): void;
}

function startHeartbeat(fd: number, every: number, label: string): Heartbeat | null {
  // ctl: [stop, name length, write lock]; times: [last line, phase start] (Date.now() ms).
  const ctl = new SharedArrayBuffer(12);
  const times = new SharedArrayBuffer(16);
  const name = new SharedArrayBuffer(256);
  const c = new Int32Array(ctl);
  const t = new Float64Array(times);
  t[0] = Date.now();
  t[1] = t[0];
  let worker: Worker;
  try {
    worker = new Worker(HEARTBEAT, {
      eval: true,
      workerData: { ctl, times, name, every, fd, label, pid: process.pid },
      stdout: true,
      stderr: true,
    });
  } catch {
    return null;
  }
  worker.unref();
  worker.on('error', () => {});
  return {
    logged: () => {
      t[0] = Date.now();
    },
    phase: (phase) => {
      const encoded = Buffer.from(phase, 'utf8').subarray(0, 256);
      new Uint8Array(name).set(encoded);
      Atomics.store(c, 1, encoded.length);
      t[1] = Date.now();
    },
    stop: () => {
      Atomics.store(c, 0, 1);
      Atomics.notify(c, 0);
      // Waits out a line being written (a second at most); the lock is never given back.
      for (let i = 0; i < 200 && Atomics.compareExchange(c, 2, 0, 1) !== 0; i++) Atomics.wait(c, 2, 1, 5);
    },
  };
}

/**
 * The one progress renderer of every long job. On a terminal: one line redrawn in place (cleared
 * first, `\r` + erase-line), with the phase, a bar, done/total (bytes in KiB/MiB/GiB), rate and
 * ETA; a phase of unknown length shows its elapsed time. Without a terminal: a JSON log line when
 * a phase starts and then at most every `logEveryMs` (10 s) while it moves, so cron and container
 * logs show that long work is moving without flooding. `finish()` logs one final record with every
 * phase's real figures and time.
 */
export function createProgress(options: ProgressOptions): ProgressRenderer {
  const every = options.logEveryMs ?? 10_000;
  const drawEvery = options.drawEveryMs ?? 100;
  const now = options.now ?? (() => performance.now());
  const phases: Phase[] = [];
  let current: Phase | null = null;
  let lastLog = Number.NEGATIVE_INFINITY;
  let lastDraw = Number.NEGATIVE_INFINITY;
  let drawn = false;
  let finished = false;
  let heartbeat: Heartbeat | null | undefined;
  const beat = (): Heartbeat | null => {
    if (heartbeat === undefined) {
      heartbeat =
        !options.tty && options.heartbeatFd !== undefined && options.logger.isLevelEnabled('info')
          ? startHeartbeat(options.heartbeatFd, every, options.label)
          : null;
    }
    return heartbeat;
  };

  const columns = () => (options.stderr as { columns?: number }).columns || 80;
  const line = () =>
    current ? `${options.label}: ${describePhase(current, now(), columns() - options.label.length - 2)}` : '';
  const draw = (force: boolean) => {
    if (!options.tty || !current || finished) return;
    const t = now();
    if (!force && t - lastDraw < drawEvery) return;
    lastDraw = t;
    const text = line();
    const room = columns() - 1;
    options.stderr.write(`${ERASE_LINE}${text.length > room ? `${text.slice(0, room - 1)}…` : text}`);
    drawn = true;
  };
  const log = (message: string) => {
    if (options.tty || !current) return;
    lastLog = now();
    options.logger.info({ progress: phaseRecord(current, lastLog) }, `${options.label}: ${message}`);
    heartbeat?.logged();
  };
  const start = (name: string, unit: string, total: number, counted: boolean) => {
    current = { name, unit, total, done: 0, startedAt: now(), counted };
    phases.push(current);
    lastLog = Number.NEGATIVE_INFINITY;
    if (!finished) beat()?.phase(name);
  };

  const renderer: ProgressRenderer = {
    phase(name) {
      start(name, 'items', 0, false);
      draw(true);
      log(`${name} started`);
    },
    update(done, total, unit = 'items') {
      const p = current as Phase | null;
      if (p && !p.counted) {
        // The phase named by phase() gets its first figures: it keeps its name and start time.
        p.unit = unit;
        p.total = total;
        p.counted = true;
      } else if (!p || p.unit !== unit) {
        start(unit, unit, total, true);
      } else {
        p.total = total;
      }
      const c = current as unknown as Phase;
      c.done = done;
      draw(done >= total);
      if (!options.tty && now() - lastLog >= every) {
        const pct = total > 0 ? Math.floor(Math.min(1, done / total) * 100) : 0;
        log(`${c.name} ${pct}% (${formatAmount(done, unit)}/${formatAmount(total, unit)}${unitSuffix(unit)})`);
      }
    },
    clear() {
      if (drawn) options.stderr.write(ERASE_LINE);
      drawn = false;
    },
    redraw() {
      draw(true);
    },
    finish() {
      if (finished) return;
      heartbeat?.stop();
      renderer.clear();
      finished = true;
      if (phases.length === 0) return;
      const t = now();
      const records = phases.map((p, i) => phaseRecord(p, (phases[i + 1]?.startedAt ?? t) as number));
      const text = phases
        .map((p, i) => {
          const end = (phases[i + 1]?.startedAt ?? t) as number;
          const seconds = ((end - p.startedAt) / 1000).toFixed(1);
          return p.counted && p.total > 0
            ? `${p.name} ${formatAmount(p.done, p.unit)}/${formatAmount(p.total, p.unit)}${unitSuffix(p.unit)} in ${seconds} s`
            : `${p.name} ${seconds} s`;
        })
        .join(', ');
      const message = `${options.label}: finished: ${text}`;
      // A person at a terminal reads the sentence; log collectors get the figures too.
      if (options.tty) options.logger.info(message);
      else {
        const elapsedMs = Math.round(t - (phases[0] as Phase).startedAt);
        options.logger.info({ progress: { phases: records, elapsedMs } }, message);
      }
    },
  };
  return renderer;
}

/**
 * A stream for the logger on a terminal: each log line first clears the progress bar, then the
 * bar is drawn again below it, so log lines and the bar never share a line.
 */
export function aboveProgress(stderr: Writable, progress: () => ProgressRenderer | null): Writable {
  return new Writable({
    write(chunk, _encoding, callback) {
      const p = progress();
      p?.clear();
      stderr.write(chunk);
      p?.redraw();
      callback();
    },
  });
}
