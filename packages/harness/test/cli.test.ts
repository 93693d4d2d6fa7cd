import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { hostname } from 'node:os';
import { choiceField, DatabaseLockedError, integerField, textField } from '@ora/core';
import { captureIo, tempDir } from '@ora/testkit';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import * as z from 'zod';
import { defineJob, type Program, pushgatewayGroupUrl, runProgram } from '../src/index.js';

const echo = defineJob({
  name: 'echo',
  describe: 'Echo its input back',
  schedule: '0 1 * * *',
  event: z.object({
    db: textField('a database file path').describe('Database'),
    count: integerField(1, 10).default(1).describe('How many'),
    outcome: choiceField(['ok', 'warn', 'failed', 'locked', 'crash'] as const)
      .default('ok')
      .describe('What to do'),
  }),
  run(e) {
    if (e.outcome === 'locked') throw new DatabaseLockedError(`database is locked by another process: ${e.db}`);
    if (e.outcome === 'crash') throw new TypeError('cannot read properties of undefined');
    return { status: e.outcome, count: e.count };
  },
  summarize: (r) => `echo: ${r.status} x${r.count}`,
  metrics: (r) => [{ name: 'ora_echo_count', help: 'Count echoed', value: r.count }],
});
const program: Program = { scriptName: 'ora-db', version: '9.9.9', jobs: [echo] };
/** The labels of a run of echo on `db`: none is one a Prometheus scrape rewrites (job, instance). */
const L = (db: string) => `ora_job="echo",database="${db}",ora_host="${hostname()}"`;

let t: ReturnType<typeof tempDir>;
beforeEach(() => {
  t = tempDir();
});
afterEach(() => t.cleanup());

function logLines(text: string): Record<string, unknown>[] {
  return text
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as Record<string, unknown>);
}

describe('runProgram', () => {
  it('prints the result as one JSON document with the fields every result has', async () => {
    const io = captureIo();
    expect(await runProgram(program, ['echo', '--db', 'x.db', '--count', '3', '--json'], io)).toBe(0);
    const result = JSON.parse(io.out());
    expect(result).toMatchObject({ job: 'echo', status: 'ok', database: 'x.db', count: 3 });
    expect(typeof result.durationMs).toBe('number');
    expect(Number.isNaN(Date.parse(result.startedAt))).toBe(false);
  });

  it('prints a human summary without --json, and logs JSON lines on stderr', async () => {
    const io = captureIo();
    expect(await runProgram(program, ['echo', '--db', 'x.db'], io)).toBe(0);
    expect(io.out()).toBe('echo: ok x1\n');
    const lines = logLines(io.err());
    expect(lines.at(-1)).toMatchObject({ level: 'info', job: 'echo', msg: 'echo: ok x1' });
  });

  it('maps statuses and errors to SPEC exit codes', async () => {
    expect(await runProgram(program, ['echo', '--outcome', 'warn'], captureIo())).toBe(0);
    expect(await runProgram(program, ['echo', '--outcome', 'failed'], captureIo())).toBe(1);
    const locked = captureIo();
    expect(await runProgram(program, ['echo', '--outcome', 'locked', '--db', 'a.db', '--json'], locked)).toBe(3);
    expect(JSON.parse(locked.out())).toMatchObject({
      status: 'failed',
      error: { code: 'DATABASE_LOCKED', message: 'database is locked by another process: a.db', exitStatus: 3 },
    });
  });

  it('reports an unexpected error in one line, with the stack only under --verbose', async () => {
    const quiet = captureIo();
    expect(await runProgram(program, ['echo', '--outcome', 'crash'], quiet)).toBe(1);
    const lines = logLines(quiet.err());
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatchObject({
      code: 'UNEXPECTED',
      msg: 'unexpected error: cannot read properties of undefined',
    });
    expect(lines[0]?.stack).toBeUndefined();
    const verbose = captureIo();
    await runProgram(program, ['echo', '--outcome', 'crash', '--verbose'], verbose);
    expect(logLines(verbose.err()).at(-1)?.stack).toMatch(/TypeError/);
  });

  it.each([
    [['echo', '--bogus'], "invalid command line: unknown flag --bogus; see 'ora-db echo --help'"],
    [['nope'], "invalid command line: unknown command 'nope'; see 'ora-db --help'"],
    [['ecko', '--db', 'x'], "invalid command line: unknown command 'ecko' (did you mean 'echo'?); see 'ora-db --help'"],
    [
      ['echo', '--cont', '2'],
      "invalid command line: unknown flag --cont (did you mean --count?); see 'ora-db echo --help'",
    ],
    [[], "invalid command line: name a command; see 'ora-db --help'"],
    [['echo', '--count', '11'], 'invalid input: --count="11": expected a whole number from 1 to 10'],
    [['echo', '--count', ''], 'invalid input: --count="": expected a whole number from 1 to 10'],
    [
      ['echo', '--outcome', 'maybe'],
      'invalid input: --outcome="maybe": expected one of: ok, warn, failed, locked, crash',
    ],
    [['echo', '--ping-url', 'ftp://x'], 'invalid input: --ping-url: expected an http:// or https:// URL'],
    [
      ['echo', '--log-level', 'loud'],
      'invalid input: --log-level: expected one of: trace, debug, info, warn, error, fatal, silent',
    ],
  ])('refuses %j with exit 2 and one clear line', async (args, message) => {
    const io = captureIo();
    expect(await runProgram(program, args, io)).toBe(2);
    const lines = logLines(io.err());
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatchObject({ level: 'error', code: 'INVALID_INPUT', msg: message });
    expect(io.out()).toBe('');
  });

  it('refuses bad ORA_EVENT and bad configuration with exit 2', async () => {
    const badJson = captureIo({ ORA_EVENT: '{nope' });
    expect(await runProgram(program, ['echo'], badJson)).toBe(2);
    expect(logLines(badJson.err())[0]?.msg).toMatch(/^ORA_EVENT is not valid JSON/);
    const badEnv = captureIo({ ORA_BUSY_TIMEOUT_MS: '-1', ORA_LOG_LEVEL: 'x' });
    expect(await runProgram(program, ['echo'], badEnv)).toBe(2);
    expect(logLines(badEnv.err())[0]?.msg).toMatch(/^invalid configuration \(2 problems\): ORA_BUSY_TIMEOUT_MS="-1"/);
  });

  it('shows --help and --version on stdout with exit 0', async () => {
    const help = captureIo();
    expect(await runProgram(program, ['echo', '--help'], help)).toBe(0);
    expect(help.out()).toContain('--count');
    expect(help.out()).toContain('How many');
    const version = captureIo();
    expect(await runProgram(program, ['--version'], version)).toBe(0);
    expect(version.out().trim()).toBe('9.9.9');
  });

  it('runs as a container entry: one job, flags without a subcommand', async () => {
    const io = captureIo({ ORA_EVENT: '{"count":4}' });
    expect(await runProgram({ ...program, scriptName: 'echo' }, ['--json'], io, true)).toBe(0);
    expect(JSON.parse(io.out())).toMatchObject({ job: 'echo', count: 4 });
  });
});

describe('--metrics-file', () => {
  it('writes Prometheus text atomically, with the job gauges', async () => {
    const file = t.path('echo.prom');
    expect(
      await runProgram(program, ['echo', '--db', 'x.db', '--count', '2', '--metrics-file', file], captureIo()),
    ).toBe(0);
    const text = readFileSync(file, 'utf8');
    expect(text).toContain(`ora_job_status{${L('x.db')},status="ok"} 1`);
    expect(text).toContain(`ora_job_status{${L('x.db')},status="failed"} 0`);
    expect(text).toContain(`ora_job_exit_code{${L('x.db')}} 0`);
    expect(text).toContain(`ora_echo_count{${L('x.db')}} 2`);
    expect(text).toMatch(/^ora_job_duration_seconds\{ora_job="echo",database="x.db",ora_host="[^"]+"\} \d/m);
    expect(text).not.toMatch(/[{,](job|instance)=/);
    expect(readdirSync(t.dir)).toEqual(['echo.prom']);
  });

  it('carries the last success over a failed run, so "last success too old" alerts work', async () => {
    const file = t.path('echo.prom');
    expect(await runProgram(program, ['echo', '--metrics-file', file], captureIo())).toBe(0);
    const success = /ora_job_last_success_timestamp_seconds\{[^}]*\} (\S+)/.exec(readFileSync(file, 'utf8'))?.[1];
    expect(Number(success)).toBeGreaterThan(1.7e9);
    expect(await runProgram(program, ['echo', '--outcome', 'failed', '--metrics-file', file], captureIo())).toBe(1);
    const text = readFileSync(file, 'utf8');
    expect(text).toContain(`ora_job_status{${L('ora.db')},status="failed"} 1`);
    expect(/ora_job_last_success_timestamp_seconds\{[^}]*\} (\S+)/.exec(text)?.[1]).toBe(success);
  });

  it('records failures too', async () => {
    const file = t.path('echo.prom');
    expect(await runProgram(program, ['echo', '--outcome', 'locked', '--metrics-file', file], captureIo())).toBe(3);
    expect(readFileSync(file, 'utf8')).toContain(`ora_job_exit_code{${L('ora.db')}} 3`);
  });

  it('fails with exit 3 when the metrics directory does not exist', async () => {
    const io = captureIo();
    expect(await runProgram(program, ['echo', '--metrics-file', t.path('no/such/dir/m.prom')], io)).toBe(3);
    expect(logLines(io.err()).at(-1)?.msg).toMatch(/^cannot write metrics file .*m\.prom \(ENOENT\)/);
    expect(existsSync(t.path('no'))).toBe(false);
  });
});

describe('--ping-url', () => {
  let server: Server;
  let hits: { path: string; body: string }[];
  let base: string;
  beforeEach(async () => {
    hits = [];
    server = createServer((req, res) => {
      let body = '';
      req.on('data', (d) => {
        body += d;
      });
      req.on('end', () => {
        hits.push({ path: req.url ?? '', body });
        res.end('OK');
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterEach(() => new Promise<void>((r) => server.close(() => r())));

  it('pings /start then success, and never logs the secret path', async () => {
    const secret = 'ping/5f3c-SECRET-TOKEN-91ab';
    const io = captureIo();
    const dir = tempDir();
    const metrics = dir.path('echo.prom');
    expect(
      await runProgram(
        program,
        ['echo', '--ping-url', `${base}/${secret}`, '--verbose', '--json', '--metrics-file', metrics],
        io,
      ),
    ).toBe(0);
    expect(hits.map((h) => h.path)).toEqual([`/${secret}/start`, `/${secret}`]);
    expect(io.err()).not.toContain('SECRET');
    expect(io.out()).not.toContain('SECRET');
    expect(readFileSync(metrics, 'utf8')).toMatch(/^ora_/m);
    expect(readFileSync(metrics, 'utf8')).not.toContain('SECRET');
    dir.cleanup();
  });

  it('pings /fail with the summary when the job fails', async () => {
    const io = captureIo({ ORA_PING_URL: `${base}/abc` });
    expect(await runProgram(program, ['echo', '--outcome', 'failed'], io)).toBe(1);
    expect(hits.map((h) => h.path)).toEqual(['/abc/start', '/abc/fail']);
    expect(hits[1]?.body).toBe('exit 1: echo: failed x1');
  });

  it('retries a ping the server answers with 5xx', async () => {
    let calls = 0;
    const flaky = createServer((_req, res) => {
      calls++;
      res.statusCode = calls < 2 ? 503 : 200;
      res.end();
    });
    await new Promise<void>((r) => flaky.listen(0, '127.0.0.1', r));
    const url = `http://127.0.0.1:${(flaky.address() as AddressInfo).port}/x`;
    try {
      expect(await runProgram(program, ['echo', '--ping-url', url], captureIo())).toBe(0);
      expect(calls).toBe(3); // /start failed once then succeeded; success ping once
    } finally {
      await new Promise<void>((r) => flaky.close(() => r()));
    }
  });

  it('pushes the run to a Pushgateway, and a failed push never changes the exit code', async () => {
    const io = captureIo();
    expect(await runProgram(program, ['echo', '--count', '4', '--pushgateway', base], io)).toBe(0);
    const push = hits.find((h) => h.path.startsWith('/metrics/job/ora-db'));
    // Grouped by job, database and host; a value with a slash (a database path) goes base64.
    expect(push?.path).toBe(`/metrics/job/ora-db/ora_job/echo/database/ora.db/ora_host/${hostname()}`);
    expect(push?.body).toContain(`ora_echo_count{${L('ora.db')}} 4`);
    expect(push?.body).toContain(`ora_job_last_success_timestamp_seconds{${L('ora.db')}}`);
    const down = captureIo();
    expect(await runProgram(program, ['echo', '--pushgateway', 'http://127.0.0.1:9/'], down)).toBe(0);
    expect(logLines(down.err()).some((l) => l.msg === 'push to the Pushgateway failed')).toBe(true);
  });

  it('base64-encodes grouping values with a slash or none (the Pushgateway rule), under any base path', () => {
    expect(
      pushgatewayGroupUrl('http://gw:9091/push/', {
        ora_job: 'backup',
        database: '/var/lib/ora/ora.db',
        ora_host: 'h 1',
      }),
    ).toBe(
      'http://gw:9091/push/metrics/job/ora-db/ora_job/backup/database@base64/L3Zhci9saWIvb3JhL29yYS5kYg/ora_host/h%201',
    );
    expect(pushgatewayGroupUrl('http://gw:9091', { ora_job: 'x', database: '', ora_host: 'h' })).toBe(
      'http://gw:9091/metrics/job/ora-db/ora_job/x/database@base64/=/ora_host/h',
    );
  });

  it('logs a push the Pushgateway refuses, with its status, and keeps the exit code', async () => {
    const refusing = createServer((_req, res) => {
      res.statusCode = 400;
      res.end('pushed metrics are invalid or inconsistent with existing metrics');
    });
    await new Promise<void>((r) => refusing.listen(0, '127.0.0.1', r));
    try {
      const io = captureIo();
      const url = `http://127.0.0.1:${(refusing.address() as AddressInfo).port}`;
      expect(await runProgram(program, ['echo', '--pushgateway', url], io)).toBe(0);
      const warning = logLines(io.err()).find((l) => l.msg === 'push to the Pushgateway failed');
      expect(warning?.reason).toMatch(/^push failed with HTTP 400: pushed metrics are invalid/);
    } finally {
      await new Promise<void>((r) => refusing.close(() => r()));
    }
  });

  it('keeps the exit code when the ping endpoint is down', async () => {
    const io = captureIo();
    expect(await runProgram(program, ['echo', '--ping-url', 'http://127.0.0.1:9/x'], io)).toBe(0);
    expect(logLines(io.err()).filter((l) => l.msg === 'ping failed')).toHaveLength(2);
    expect(statSync(t.dir).isDirectory()).toBe(true);
  });
});
