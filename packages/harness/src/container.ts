import { runProgram } from './cli.js';
import type { AnyJob } from './define-job.js';
import { processIo, routeProcessWarnings } from './io.js';

/**
 * The container entry of a job's bundle: `node dist/index.mjs [flags]` (or the event in
 * `ORA_EVENT`) runs the job and exits with its code. Flags, output, logs and exit codes are the
 * same as `ora-db <job>`.
 */
export async function runContainer(job: AnyJob, version = '0.1.0'): Promise<void> {
  routeProcessWarnings();
  const code = await runProgram(
    { scriptName: job.name, version, jobs: [job] },
    process.argv.slice(2),
    processIo(),
    true,
  );
  process.exitCode = code;
}
