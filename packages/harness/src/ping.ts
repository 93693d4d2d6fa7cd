import type { Logger } from './logger.js';

export type PingKind = 'start' | 'success' | 'fail';

/** The part of a ping URL safe to log: its host. Paths of healthchecks-style URLs are secrets. */
export function redactUrl(url: string): string {
  try {
    return `${new URL(url).protocol}//${new URL(url).host}/…`;
  } catch {
    return '(invalid url)';
  }
}

/**
 * Pings a healthchecks.io-style URL: `<url>/start` when the run begins, `<url>` on success,
 * `<url>/fail` on failure (with the one-line summary as body). A ping that fails or times out
 * is logged as a warning and never changes the job's outcome or exit code.
 */
export async function ping(url: string, kind: PingKind, logger: Logger, body = '', timeoutMs = 5000): Promise<void> {
  const target = kind === 'success' ? url : `${url.replace(/\/+$/, '')}/${kind}`;
  try {
    const response = await fetch(target, {
      method: 'POST',
      body: body.slice(0, 10_000),
      signal: AbortSignal.timeout(timeoutMs),
    });
    if (!response.ok) {
      logger.warn({ ping: kind, host: redactUrl(url), httpStatus: response.status }, 'ping was refused');
    }
  } catch (error) {
    logger.warn({ ping: kind, host: redactUrl(url), reason: (error as Error).name }, 'ping failed');
  }
}
