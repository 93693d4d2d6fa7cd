import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { throwIfStopped } from '../errors/errors.js';

const require = createRequire(import.meta.url);

/** util-linux's setpriv: the child gets SIGKILL if this process dies (even by SIGKILL). */
const SETPRIV = '/usr/bin/setpriv';

export interface SqliteChildOptions {
  /** Aborted: the child is killed (SIGKILL) and the promise rejects with StoppedError. */
  signal?: AbortSignal;
  /** Called with the child's pid once it runs (to watch its files in /proc). */
  onSpawn?: (pid: number) => void;
}

/**
 * Runs `source` (CommonJS) in a child Node process for work that must be stoppable at once: it
 * receives `data` (plus `driver`, the path of better-sqlite3) as its first IPC message and answers
 * with one message, which this resolves with. A stop kills the child, so nothing it had not
 * committed survives (SQLite rolls it back); the child also dies with this process (setpriv
 * --pdeathsig, where util-linux is there), so it never outlives the job lock.
 */
export function runSqliteChild<T>(
  source: string,
  data: Record<string, unknown>,
  options: SqliteChildOptions = {},
): Promise<T> {
  return new Promise((resolve, reject) => {
    throwIfStopped(options.signal);
    const node = [process.execPath, '-e', source];
    const [command, ...args] = existsSync(SETPRIV) ? [SETPRIV, '--pdeathsig', 'KILL', '--', ...node] : node;
    const child = spawn(command as string, args, { stdio: ['ignore', 'ignore', 'pipe', 'ipc'] });
    let stderr = '';
    let answer: { value: T } | null = null;
    child.stderr?.on('data', (d) => {
      stderr = (stderr + d).slice(-2000);
    });
    const kill = () => child.kill('SIGKILL');
    const onAbort = () => kill();
    options.signal?.addEventListener('abort', onAbort, { once: true });
    process.once('exit', kill);
    child.once('spawn', () => {
      if (child.pid) options.onSpawn?.(child.pid);
      child.send({ ...data, driver: require.resolve('better-sqlite3') });
    });
    child.once('message', (message: T) => {
      answer = { value: message };
    });
    child.once('error', reject);
    child.once('exit', (code, signal) => {
      options.signal?.removeEventListener('abort', onAbort);
      process.off('exit', kill);
      if (answer) return resolve(answer.value);
      try {
        throwIfStopped(options.signal);
      } catch (error) {
        return reject(error);
      }
      reject(
        new Error(`the SQLite child process ended (${signal ?? `exit ${code}`}) without an answer: ${stderr.trim()}`),
      );
    });
  });
}
