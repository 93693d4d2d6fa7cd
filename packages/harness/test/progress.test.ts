import { spawnSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { Writable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { createLogger } from '../src/logger.js';
import { createProgress, formatAmount, formatDuration } from '../src/progress.js';

function setup(tty: boolean, logEveryMs = 10_000, columns = 100) {
  let clock = 0;
  let text = '';
  const stderr = new Writable({
    write(chunk, _e, cb) {
      text += chunk;
      cb();
    },
  });
  Object.assign(stderr, { columns });
  const logger = createLogger({ level: 'info', destination: stderr, pretty: false, bindings: { job: 'backup' } });
  const progress = createProgress({ logger, stderr, tty, label: 'backup', logEveryMs, now: () => clock });
  return {
    progress,
    tick: (ms: number) => {
      clock += ms;
    },
    text: () => text,
    logs: () =>
      text
        .split('\n')
        .filter(Boolean)
        .map((l) => JSON.parse(l) as { msg: string; progress?: Record<string, unknown> }),
  };
}

describe('progress on a terminal', () => {
  it('clears its line before each redraw and shows done/total in MiB, rate and ETA', () => {
    const s = setup(true);
    s.progress.phase('compress');
    s.tick(1000);
    s.progress.update(100 * 1048576, 300 * 1048576, 'bytes');
    const frames = s.text().split('\r\x1b[2K').filter(Boolean);
    expect(s.text().startsWith('\r\x1b[2K')).toBe(true);
    expect(frames.at(-1)).toBe('backup: compress 33% [#######.............] 100.0 MiB/300.0 MiB 100.0 MiB/s ETA 0:02');
    // No frame leaves the remains of a longer one: every frame starts on an erased line.
    expect(
      s
        .text()
        .split('\r')
        .every((f) => f === '' || f.startsWith('\x1b[2K')),
    ).toBe(true);
  });

  it('shows a phase of unknown length with its elapsed time, not 0/1', () => {
    const s = setup(true);
    s.progress.phase('snapshot');
    expect(s.text()).toBe('\r\x1b[2Kbackup: snapshot … 0:00 elapsed');
    expect(s.text()).not.toMatch(/0\/1/);
  });

  it('fits a narrow terminal: the bar goes before the figures do', () => {
    const wide = setup(true);
    const narrow = setup(true, 10_000, 60);
    for (const s of [wide, narrow]) {
      s.progress.phase('compress');
      s.tick(1000);
      s.progress.update(1, 4, 'pages');
    }
    expect(wide.text()).toMatch(/backup: compress 25% \[#+\.+\] 1\/4 pages 1 pages\/s ETA 0:03$/);
    expect(narrow.text().endsWith('\x1b[2Kbackup: compress 25% 1/4 pages 1 pages/s ETA 0:03')).toBe(true);
  });

  it('erases the bar when it finishes and writes the final record as one sentence', () => {
    const s = setup(true);
    s.progress.phase('snapshot');
    s.tick(1200);
    s.progress.update(10, 10, 'orders');
    s.tick(300);
    s.progress.finish();
    const last = s.text().split('\r\x1b[2K').at(-1) as string;
    expect(JSON.parse(last).msg).toBe('backup: finished: snapshot 10/10 orders in 1.5 s');
  });
});

describe('progress without a terminal', () => {
  it('logs when a phase starts, then at most every logEveryMs while it moves', () => {
    const s = setup(false, 10_000);
    s.progress.phase('compress');
    for (let i = 1; i <= 25; i++) {
      s.tick(1000);
      s.progress.update(i, 25, 'bytes');
    }
    const msgs = s.logs().map((l) => l.msg);
    expect(msgs).toEqual([
      'backup: compress started',
      'backup: compress 40% (10 B/25 B)',
      'backup: compress 80% (20 B/25 B)',
    ]);
    expect(s.text().includes('\r') || s.text().includes('\x1b')).toBe(false);
  });

  it('ends with one coherent record: each phase with its real figures, never a made-up 100%', () => {
    const s = setup(false);
    s.progress.phase('snapshot');
    s.tick(500);
    s.progress.phase('compress');
    s.progress.update(0, 2048, 'bytes');
    s.tick(1000);
    s.progress.update(2048, 2048, 'bytes');
    s.progress.phase('verify');
    s.tick(250);
    s.progress.finish();
    const last = s.logs().at(-1) as { msg: string; progress: { phases: Record<string, unknown>[] } };
    expect(last.msg).toBe('backup: finished: snapshot 0.5 s, compress 2.0 KiB/2.0 KiB in 1.0 s, verify 0.3 s');
    expect(last.progress.phases).toEqual([
      { phase: 'snapshot', elapsedMs: 500 },
      {
        phase: 'compress',
        done: 2048,
        total: 2048,
        unit: 'bytes',
        pct: 100,
        ratePerSec: 2048,
        etaSec: 0,
        elapsedMs: 1000,
      },
      { phase: 'verify', elapsedMs: 250 },
    ]);
    expect(JSON.stringify(s.logs())).not.toMatch(/"total":1\b/);
  });

  it('reports an unfinished phase as unfinished', () => {
    const s = setup(false);
    s.progress.update(3, 10, 'orders');
    s.tick(1000);
    s.progress.finish();
    const last = s.logs().at(-1) as { msg: string };
    expect(last.msg).toBe('backup: finished: orders 3/10 orders in 1.0 s');
  });
});

describe('units', () => {
  it.each([
    [512, 'bytes', '512 B'],
    [1536, 'bytes', '1.5 KiB'],
    [305 * 1048576, 'bytes', '305.0 MiB'],
    [3 * 1073741824, 'bytes', '3.0 GiB'],
    [1234567, 'rows', '1,234,567'],
  ])('%d %s → %s', (n, unit, text) => {
    expect(formatAmount(n, unit)).toBe(text);
  });

  it.each([
    [0, '0:00'],
    [75, '1:15'],
    [3725, '1:02:05'],
  ])('%d s → %s', (s, text) => {
    expect(formatDuration(s)).toBe(text);
  });
});

describe('progress without a terminal while the main thread is blocked', () => {
  it('a heartbeat thread logs the phase at least every logEveryMs, and nothing after the final record', () => {
    const child = join(dirname(fileURLToPath(import.meta.url)), 'heartbeat-child.ts');
    // 3 s blocked with a line due every 500 ms: about 5 heartbeat lines (at least 3 on a loaded machine).
    const r = spawnSync(process.execPath, ['--import', 'tsx', child, '3000', '500'], {
      encoding: 'utf8',
      timeout: 60_000,
    });
    expect(r.status, r.stderr).toBe(0);
    const logs = r.stderr
      .split('\n')
      .filter(Boolean)
      .map(
        (l) =>
          JSON.parse(l) as { msg: string; job: string; pid: number; progress: { phase?: string; elapsedMs?: number } },
      );
    const beats = logs.filter((l) => /^demo: check still running \(\d+ s\)$/.test(l.msg));
    expect(beats.length, r.stderr).toBeGreaterThanOrEqual(3);
    for (const b of beats) {
      expect(b.job).toBe('demo');
      expect(b.progress.phase).toBe('check');
      expect(b.progress.elapsedMs).toBeGreaterThanOrEqual(400);
    }
    expect(logs[0]?.msg).toBe('demo: check started');
    expect(logs.at(-1)?.msg).toMatch(/^demo: finished: check /);
  }, 60_000);
});
