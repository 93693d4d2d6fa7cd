import { CONFIG_VARIABLES, type Config, InvalidInputError } from '@ora/core';
import * as z from 'zod';

/** What yargs needs to know about one event key. */
export interface FlagSpec {
  key: string;
  flag: string;
  type: 'boolean' | 'string';
  /** A number (parsed as a string so zod can quote a bad value; shown as `[number]` in --help). */
  numeric: boolean;
  /** May be given more than once (`--dest A --dest B`): the event gets every value, in order. */
  repeatable: boolean;
  describe: string;
  choices?: readonly string[];
  /** Shown in --help: the schema default, or the environment variable that supplies it. */
  defaultDescription?: string;
}

export function kebab(key: string): string {
  return key.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);
}

/** Config key -> environment variable name, for messages and --help. */
const ENV_BY_KEY: Record<string, string> = Object.fromEntries(
  Object.entries(CONFIG_VARIABLES).map(([name, spec]) => [spec.key, name]),
);

interface JsonProperty {
  type?: string;
  anyOf?: JsonProperty[];
  description?: string;
  default?: unknown;
  enum?: string[];
  minimum?: number;
  maximum?: number;
}

/**
 * Derives the flags of a job from its zod event schema (via JSON Schema): booleans become
 * boolean flags, everything else a string flag that zod converts and checks, so a bad value gets
 * the same message from a flag, `ORA_EVENT` or the environment.
 */
export function flagsOf(event: z.ZodObject): FlagSpec[] {
  const schema = z.toJSONSchema(event, { io: 'output', unrepresentable: 'any' }) as {
    properties?: Record<string, JsonProperty>;
  };
  return Object.entries(schema.properties ?? {}).map(([key, p]) => {
    const env = ENV_BY_KEY[key];
    const range = p.minimum !== undefined && p.maximum !== undefined ? ` (${p.minimum}–${p.maximum})` : '';
    const spec: FlagSpec = {
      key,
      flag: kebab(key),
      type: p.type === 'boolean' ? 'boolean' : 'string',
      numeric: p.type === 'number' || p.type === 'integer',
      repeatable: p.type === 'array' || (p.anyOf ?? []).some((a) => a.type === 'array'),
      describe: `${p.description ?? ''}${range}${p.type === 'array' || (p.anyOf ?? []).some((a) => a.type === 'array') ? ' (may be given more than once)' : ''}`,
    };
    if (p.enum) spec.choices = p.enum;
    const defaults: string[] = [];
    if (env) defaults.push(`$${env}`);
    if (p.default !== undefined) defaults.push(JSON.stringify(p.default));
    else if (env && CONFIG_VARIABLES[env as keyof typeof CONFIG_VARIABLES].default !== '') {
      defaults.push(JSON.stringify(CONFIG_VARIABLES[env as keyof typeof CONFIG_VARIABLES].default));
    }
    if (defaults.length > 0) spec.defaultDescription = defaults.join(', else ');
    return spec;
  });
}

/** Parses `ORA_EVENT`: a JSON object, or bad input naming what is wrong with it. */
export function parseEventJson(text: string | undefined): Record<string, unknown> {
  if (text === undefined || text.trim() === '') return {};
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    throw new InvalidInputError(
      `ORA_EVENT is not valid JSON (${(error as Error).message}); pass an object such as ORA_EVENT='{"full":true}'`,
    );
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw new InvalidInputError(
      `ORA_EVENT must be a JSON object, got ${Array.isArray(value) ? 'an array' : typeof value === 'object' ? 'null' : typeof value}; pass e.g. ORA_EVENT='{"full":true}'`,
    );
  }
  return value as Record<string, unknown>;
}

export interface EventSources {
  config: Config;
  /** Parsed ORA_EVENT object. */
  eventJson: Record<string, unknown>;
  /** Flags and positionals given on the command line, by event key. */
  flags: Record<string, unknown>;
}

/**
 * Builds a job's event from, in rising precedence, the environment config, `ORA_EVENT`, and
 * flags, then validates it once. Every problem is reported together, each named as the user
 * wrote it: `--wal-warn-mb`, `ORA_EVENT.walWarnMb` or `ORA_WAL_WARN_MB`.
 */
export function resolveEvent<E extends z.ZodObject>(event: E, sources: EventSources): z.output<E> {
  const keys = Object.keys(event.shape);
  const raw: Record<string, unknown> = Object.create(null);
  const origin: Record<string, string> = {};
  for (const key of keys) {
    if (key in sources.config) {
      const value = (sources.config as Record<string, unknown>)[key];
      if (value !== undefined) {
        raw[key] = value;
        origin[key] = ENV_BY_KEY[key] ?? key;
      }
    }
  }
  for (const key of Object.keys(sources.eventJson)) {
    raw[key] = sources.eventJson[key];
    origin[key] = `ORA_EVENT.${key}`;
  }
  for (const [key, value] of Object.entries(sources.flags)) {
    if (value === undefined) continue;
    raw[key] = value;
    origin[key] = `--${kebab(key)}`;
  }
  const parsed = event.strict().safeParse({ ...raw });
  if (parsed.success) return parsed.data as z.output<E>;
  const problems = parsed.error.issues.map((issue) => {
    if (issue.code === 'unrecognized_keys') {
      return `ORA_EVENT has unknown field${issue.keys.length > 1 ? 's' : ''} ${issue.keys.map((k) => `'${k}'`).join(', ')} (allowed: ${keys.join(', ')})`;
    }
    const key = String(issue.path[0] ?? '');
    const where = origin[key] ?? `--${kebab(key)}`;
    // One bad value of a repeatable flag is named alone: `--dest="…"`, not the whole list.
    const index = issue.path[1];
    const value = typeof index === 'number' && Array.isArray(raw[key]) ? (raw[key] as unknown[])[index] : raw[key];
    const given = key in raw ? `=${shorten(JSON.stringify(value) ?? String(value))}` : ' is required';
    return `${where}${given}: ${issue.message}`;
  });
  // One line per problem: a value failing two checks with the same message is reported once.
  throw new InvalidInputError(`invalid input: ${[...new Set(problems)].join('; ')}`);
}

/** Keeps messages one readable line when the bad value is huge. */
function shorten(text: string, max = 80): string {
  return text.length > max ? `${text.slice(0, max)}…(${text.length} chars)` : text;
}
