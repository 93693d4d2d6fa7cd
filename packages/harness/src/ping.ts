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
 * `<url>/fail` on failure (the body says the exit code and the one-line summary). A ping is tried
 * up to three times with a short timeout; one that still fails is logged as a warning and never
 * changes the job's outcome or exit code.
 */
export async function ping(
  url: string,
  kind: PingKind,
  logger: Logger,
  body = '',
  options: { timeoutMs?: number; retries?: number } = {},
): Promise<void> {
  const target = kind === 'success' ? url : `${url.replace(/\/+$/, '')}/${kind}`;
  const retries = options.retries ?? 2;
  for (let attempt = 0; attempt <= retries; attempt++) {
    try {
      const response = await fetch(target, {
        method: 'POST',
        body: body.slice(0, 10_000),
        signal: AbortSignal.timeout(options.timeoutMs ?? 3000),
      });
      if (response.ok) return;
      if (response.status < 500 || attempt === retries) {
        logger.warn({ ping: kind, host: redactUrl(url), httpStatus: response.status }, 'ping was refused');
        return;
      }
    } catch (error) {
      if (attempt === retries) {
        logger.warn({ ping: kind, host: redactUrl(url), reason: (error as Error).name }, 'ping failed');
        return;
      }
    }
    await new Promise((r) => setTimeout(r, 200 * (attempt + 1)));
  }
}
