import { choiceField, EXIT, isOraError, LOG_LEVELS, pathField, urlField } from '@ora/core';
import { closest, distance } from 'fastest-levenshtein';
import yargs, { type Argv } from 'yargs';
import * as z from 'zod';
import type { AnyJob } from './define-job.js';
import { flagsOf, kebab } from './event.js';
import type { Io } from './io.js';
import { createLogger, loadPrettyLogs } from './logger.js';
import { type RunOptions, runJob } from './run-job.js';

export interface Program {
  /** `ora-db`, or the bundle's command line in a container. */
  scriptName: string;
  version: string;
  /** Jobs and commands; names with a space (`inventory receive`) become nested commands. */
  jobs: readonly AnyJob[];
  /** Shown at the end of the top-level --help. */
  epilogue?: string;
}

const runOptionsSchema = z.strictObject({
  json: z.boolean().optional(),
  verbose: z.boolean().optional(),
  logLevel: choiceField(LOG_LEVELS).optional(),
  metricsFile: pathField('a file path').optional(),
  pingUrl: urlField().optional(),
  pushgateway: urlField().optional(),
});

const GLOBAL_FLAGS = {
  json: { type: 'boolean', describe: 'Print the result as one JSON document on stdout' },
  verbose: { type: 'boolean', describe: 'Debug logs, and stack traces on errors' },
  'log-level': {
    type: 'string',
    describe: `Log level on stderr (${LOG_LEVELS.join(', ')}); default $ORA_LOG_LEVEL, else info`,
  },
  'metrics-file': {
    type: 'string',
    describe: 'Write Prometheus text metrics of the run to this file (atomically); default $ORA_METRICS_FILE',
  },
  pushgateway: {
    type: 'string',
    describe: "Also push the run's metrics to this Prometheus Pushgateway URL; default $ORA_PUSHGATEWAY_URL",
  },
  'ping-url': {
    type: 'string',
    describe:
      'Ping this healthchecks-style URL at start (/start), on success, and on failure (/fail); default $ORA_PING_URL',
  },
} as const;

interface Selection {
  job: AnyJob;
  argv: Record<string, unknown>;
}

function addJobOptions(y: Argv, job: AnyJob, scriptName: string): Argv {
  const positional = new Set(job.positional ?? []);
  for (const spec of flagsOf(job.event)) {
    // Choices are listed in the description but checked by zod, so a bad value gets the same
    // message from a flag as from ORA_EVENT.
    const describe = spec.choices ? `${spec.describe} (one of: ${spec.choices.join(', ')})` : spec.describe;
    if (positional.has(spec.key)) {
      y.positional(spec.key, { type: 'string', describe });
      continue;
    }
    y.option(spec.flag, {
      type: spec.type,
      describe,
      ...(spec.defaultDescription ? { defaultDescription: spec.defaultDescription } : {}),
    });
  }
  // Examples as a section of their own: each command on one line, what it does below it. (yargs
  // lays examples out in two columns and breaks a long command in the middle.)
  const examples = job.examples ?? [];
  if (examples.length > 0) {
    y.epilogue(
      [
        'Examples:',
        ...examples.map(([command, what]) => `  ${command.replace(/\$0/g, scriptName)}\n      ${what}`),
      ].join('\n'),
    );
  }
  return y;
}

/** The last of a flag given more than once (every flag but a repeatable one). */
function lastOf(value: unknown): unknown {
  return Array.isArray(value) ? value.at(-1) : value;
}

function commandString(job: AnyJob, leaf: string): string {
  const shape = job.event.shape as Record<string, { safeParse(v: unknown): { success: boolean } }>;
  // A positional whose schema accepts "absent" (optional or defaulted) is shown as [name].
  const words = (job.positional ?? []).map((p) => (shape[p]?.safeParse(undefined).success ? `[${p}]` : `<${p}>`));
  return [leaf, ...words].join(' ');
}

function buildParser(program: Program, select: (s: Selection) => void, container: boolean): Argv {
  const parser = yargs()
    .scriptName(program.scriptName)
    .version(program.version)
    .help('help')
    .alias('help', 'h')
    .strict()
    .exitProcess(false)
    .showHelpOnFail(false)
    // A repeated flag arrives as an array: a repeatable one (`--dest A --dest B`) keeps every
    // value, any other keeps the last (as in most CLIs; see `lastOf`).
    .parserConfiguration({
      'camel-case-expansion': true,
      'strip-dashed': true,
      'duplicate-arguments-array': true,
      'flatten-duplicate-arrays': true,
      // `--no-x` is not a way to say false here (`--x=false` is): a typo must not read as a negation.
      'boolean-negation': false,
    })
    .wrap(Math.min(110, process.stdout.columns || 100))
    .options(GLOBAL_FLAGS)
    .group(Object.keys(GLOBAL_FLAGS), 'Output and monitoring:');
  const handler = (job: AnyJob) => (argv: Record<string, unknown>) => select({ job, argv });
  if (container) {
    const job = program.jobs[0] as AnyJob;
    parser.command(
      commandString(job, '$0'),
      job.describe,
      (y) => addJobOptions(y, job, program.scriptName),
      handler(job),
    );
    return parser;
  }
  const groups = new Map<string, AnyJob[]>();
  for (const job of program.jobs) {
    const [head, ...rest] = job.name.split(' ');
    if (rest.length === 0) {
      if (program.jobs.some((j) => j.name.startsWith(`${job.name} `))) continue; // registered with its group
      parser.command(
        commandString(job, job.name),
        job.describe,
        (y) => addJobOptions(y, job, program.scriptName),
        handler(job),
      );
    } else {
      groups.set(head as string, [...(groups.get(head as string) ?? []), job]);
    }
  }
  for (const [head, jobs] of groups) {
    const names = jobs.map((j) => j.name.split(' ')[1]).join(', ');
    const addSubcommands = (y: Argv) => {
      for (const job of jobs) {
        const leaf = job.name.split(' ').slice(1).join(' ');
        y.command(
          commandString(job, leaf),
          job.describe,
          (yy) => addJobOptions(yy, job, program.scriptName),
          handler(job),
        );
      }
      return y;
    };
    const own = program.jobs.find((j) => j.name === head);
    if (own) {
      // A job that also heads a group (`backup`, `backup list`): its flags belong to its default
      // subcommand, so `backup list` shows and accepts only its own.
      parser.command(head, `${own.describe} (subcommands: ${names})`, (y) =>
        addSubcommands(
          y.command(
            commandString(own, '$0'),
            `Run ${own.name} itself, with the flags below`,
            (yy) => addJobOptions(yy, own, program.scriptName),
            handler(own),
          ),
        ),
      );
    } else {
      parser.command(`${head} <command>`, `${head} commands: ${names}`, (y) =>
        addSubcommands(y).demandCommand(1, `name one of the ${head} commands: ${names}`),
      );
    }
  }
  parser.demandCommand(1, 'name a command');
  if (program.epilogue) parser.epilogue(program.epilogue);
  return parser;
}

/**
 * Parses a command line and runs the selected job; returns the exit code. `--help` and
 * `--version` print to stdout and return 0; a command-line problem is one line on stderr and 2.
 * Used by `ora-db` (all jobs) and by each bundle's container entry (`container`: one job, no
 * subcommand).
 */
export async function runProgram(
  program: Program,
  args: readonly string[],
  io: Io,
  container = false,
): Promise<number> {
  if (io.stderrIsTTY) await loadPrettyLogs();
  let selection: Selection | undefined;
  let parseError: Error | undefined;
  let output = '';
  const parser = buildParser(
    program,
    (s) => {
      selection = s;
    },
    container,
  );
  parser.parse([...args], {}, (error: Error | null | undefined, _argv: unknown, text: string) => {
    if (error) parseError = error;
    output = text;
  });
  const badInput = (message: string, job?: AnyJob): number => {
    const logger = createLogger({
      level: 'error',
      destination: io.stderr,
      pretty: io.stderrIsTTY,
      bindings: { job: job?.name ?? program.scriptName },
    });
    logger.error({ code: 'INVALID_INPUT', exitCode: EXIT.badInput }, message);
    return EXIT.badInput;
  };
  if (parseError) {
    // The command the words name (`inventory receive`, `backup list`, `archive`), wherever it
    // stands: a flag's value before it (`--db /x.db backup`) is skipped, being no command.
    const words = args.filter((a) => !a.startsWith('-'));
    const isHead = (w: string) => program.jobs.some((j) => j.name === w || j.name.startsWith(`${w} `));
    const at = words.findIndex(isHead);
    const pair = at >= 0 ? `${words[at]} ${words[at + 1] ?? ''}` : '';
    const which = at < 0 ? '' : program.jobs.some((j) => j.name === pair) ? pair : (words[at] as string);
    const helpHint = container
      ? `${program.scriptName} --help`
      : `${program.scriptName}${which ? ` ${which}` : ''} --help`;
    const known = knownWords(program, container ? (program.jobs[0]?.name ?? '') : which);
    return badInput(`invalid command line: ${describeParseError(parseError.message, args, known)}; see '${helpHint}'`);
  }
  if (!selection) {
    // --help or --version was shown
    if (output) io.stdout.write(`${typeNumbers(output, program)}\n`);
    return EXIT.ok;
  }
  const { job, argv } = selection;
  const badBoolean = invalidBooleanValue(job, args);
  if (badBoolean) return badInput(`invalid input: ${badBoolean}: expected true or false`, job);
  const options = runOptionsSchema.safeParse({
    json: lastOf(argv.json),
    verbose: lastOf(argv.verbose),
    logLevel: lastOf(argv.logLevel),
    metricsFile: lastOf(argv.metricsFile),
    pingUrl: lastOf(argv.pingUrl),
    pushgateway: lastOf(argv.pushgateway),
  });
  if (!options.success) {
    const problems = options.error.issues.map((i) => `--${kebab(String(i.path[0]))}: ${i.message}`);
    return badInput(`invalid input: ${problems.join('; ')}`, job);
  }
  const flags: Record<string, unknown> = {};
  const repeatable = new Set(
    flagsOf(job.event)
      .filter((f) => f.repeatable)
      .map((f) => f.key),
  );
  for (const key of Object.keys(job.event.shape)) {
    const value = argv[key];
    if (value === undefined) continue;
    flags[key] = repeatable.has(key) ? (Array.isArray(value) ? value : [value]) : lastOf(value);
  }
  try {
    return await runJob({ job, flags, options: options.data as RunOptions, io });
  } catch (error) {
    // runJob handles job errors itself; this is for failures writing the output.
    if (isOraError(error)) return badInput(error.message, job);
    throw error;
  }
}

interface KnownWords {
  /** The command the command line named (`inventory`, `backup list`), or ''. */
  which: string;
  /** Whether the command line named a command (`which`). */
  command: boolean;
  /** Command words that could stand where an unknown one does. */
  commands: string[];
  /** Flags of the named command (or the global ones), without dashes. */
  flags: string[];
}

function knownWords(program: Program, which: string): KnownWords {
  const flags = ['help', 'version', ...Object.keys(GLOBAL_FLAGS)];
  const job = program.jobs.find((j) => j.name === which);
  if (job) flags.push(...flagsOf(job.event).map((f) => f.flag));
  const commands = which
    ? program.jobs.filter((j) => j.name.startsWith(`${which} `)).map((j) => j.name.slice(which.length + 1))
    : [...new Set(program.jobs.map((j) => j.name.split(' ')[0] as string))];
  return { which, command: which !== '', commands, flags };
}

/** The closest of `candidates` to a mistyped `word`, when it is close enough to be what was meant. */
export function didYouMean(word: string, candidates: readonly string[]): string | undefined {
  if (candidates.length === 0 || word.length < 2) return undefined;
  // A flag or command cut short (`--max-lock` for `--max-lock-ms`) is meant as its longer form.
  const longer = word.length >= 3 ? candidates.filter((c) => c.startsWith(word)) : [];
  if (longer.length === 1) return longer[0];
  const best = closest(word, [...candidates]);
  return distance(word, best) <= Math.max(2, Math.floor(word.length / 3)) ? best : undefined;
}

/**
 * Help types every flag yargs parses as a string `[string]`; numbers are parsed as strings too (so
 * zod can quote a bad value), but are shown as `[number]`.
 */
function typeNumbers(help: string, program: Program): string {
  const numeric = new Set<string>();
  const other = new Set<string>();
  for (const job of program.jobs) {
    for (const f of flagsOf(job.event)) (f.numeric ? numeric : other).add(f.flag);
  }
  let current = '';
  return help
    .split('\n')
    .map((line) => {
      const option = /^\s+(?:-\w, )?--([\w-]+)/.exec(line);
      if (option) current = option[1] as string;
      else if (!/^\s{6,}\S/.test(line)) current = '';
      return numeric.has(current) && !other.has(current) ? line.replace('[string]', '[number]') : line;
    })
    .join('\n');
}

/** Rewords yargs's "Unknown argument: x" as the flag or word the user typed, with a suggestion. */
function describeParseError(message: string, args: readonly string[], known: KnownWords): string {
  const missing = /^Not enough non-option arguments: got (\d+), need at least (\d+)$/.exec(message.trim());
  if (missing && known.commands.length > 0 && known.which) {
    return `name one of the ${known.which} commands: ${known.commands.join(', ')}`;
  }
  if (missing) return `missing arguments: this command takes ${missing[2]}, ${missing[1]} given`;
  const unknown = /^Unknown arguments?: (.+)$/s.exec(message);
  if (!unknown?.[1]) return message.replace(/\n+/g, ' ');
  const given = args.filter((a) => a.startsWith('-')).map((a) => a.replace(/=.*$/s, ''));
  // yargs names an unknown flag in camelCase (`--no-such-flag` → noSuchFlag): find what was typed.
  const camel = (flag: string) => flag.replace(/^-+/, '').replace(/-([a-z0-9])/g, (_m, c: string) => c.toUpperCase());
  const names = unknown[1].split(', ');
  const flagOf = (name: string) => given.find((f) => f === `--${name}` || f === `-${name}` || camel(f) === name);
  const words = names.filter((n) => !flagOf(n));
  if (!known.command && words.length > 0) {
    // No command was recognised: that is the problem, not the flags (whose command is unknown).
    const word = words[0] as string;
    const hint = didYouMean(word, known.commands);
    return `unknown command '${word}'${hint ? ` (did you mean '${hint}'?)` : ''}`;
  }
  return names
    .map((name) => {
      const flag = flagOf(name);
      if (flag) {
        const hint = didYouMean(flag.replace(/^-+/, ''), known.flags);
        return `unknown flag ${flag}${hint ? ` (did you mean --${hint}?)` : ''}`;
      }
      const hint = didYouMean(name, known.commands);
      return hint ? `unknown command '${name}' (did you mean '${hint}'?)` : `unexpected argument '${name}'`;
    })
    .join(', ');
}

/** yargs reads `--full=maybe` as false; a typo in a boolean must not silently mean "no". */
function invalidBooleanValue(job: AnyJob, args: readonly string[]): string | undefined {
  const booleans = new Set([
    'json',
    'verbose',
    ...flagsOf(job.event)
      .filter((f) => f.type === 'boolean')
      .map((f) => f.flag),
  ]);
  for (const arg of args) {
    const m = /^--(?:no-)?([^=]+)=(.*)$/s.exec(arg);
    if (m?.[1] && booleans.has(m[1]) && m[2] !== 'true' && m[2] !== 'false') {
      return `${arg.slice(0, arg.indexOf('='))}=${JSON.stringify(m[2])}`;
    }
  }
  return undefined;
}
