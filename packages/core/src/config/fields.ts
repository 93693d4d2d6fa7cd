import * as z from 'zod';
import { parseWindow } from '../maintenance/window.js';

/**
 * Field schemas shared by the environment config and by job events/flags, so that a value is
 * validated, and its problem worded, the same way wherever it comes from.
 *
 * Strings from the environment or the command line are converted here; empty strings mean
 * "not set" (as t3-env does), so `DATABASE_PATH=` falls back to the default instead of opening "".
 */

function emptyToUndefined(value: unknown): unknown {
  return typeof value === 'string' && value.trim() === '' ? undefined : value;
}

function toNumber(value: unknown): unknown {
  const v = emptyToUndefined(value);
  return typeof v === 'string' ? Number(v) : v;
}

function toBoolean(value: unknown): unknown {
  const v = emptyToUndefined(value);
  if (typeof v !== 'string') return v;
  const lowered = v.trim().toLowerCase();
  if (['1', 'true', 'yes', 'on'].includes(lowered)) return true;
  if (['0', 'false', 'no', 'off'].includes(lowered)) return false;
  return v;
}

/** A whole number in [min, max]; `unit` is named in the error message. */
export function integerField(min: number, max: number, unit = '') {
  const message = `expected a whole number from ${min} to ${max}${unit ? ` (${unit})` : ''}`;
  return z.preprocess(
    toNumber,
    z.number({ error: message }).int({ error: message }).min(min, { error: message }).max(max, { error: message }),
  );
}

/** A finite number in [min, max]. */
export function numberField(min: number, max: number, unit = '') {
  const message = `expected a number from ${min} to ${max}${unit ? ` (${unit})` : ''}`;
  return z.preprocess(
    toNumber,
    z
      .number({ error: message })
      .refine(Number.isFinite, { error: message })
      .pipe(z.number().min(min, { error: message }).max(max, { error: message })),
  );
}

/** A non-empty string without NUL bytes or lone surrogates, at most `max` characters (names, data). */
export function textField(what: string, max = 4096) {
  return stringField(what, max, /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/);
}

/**
 * A file or directory path: a text field that also refuses U+FFFD. Node decodes bytes that are not
 * UTF-8 (in argv and the environment) to U+FFFD, so the name on disk would not be the one typed.
 */
export function pathField(what: string, max = 4096) {
  return stringField(what, max, /\uFFFD|[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/);
}

function stringField(what: string, max: number, invalidUnicode: RegExp) {
  const message = `expected ${what} (1 to ${max} characters, no NUL bytes)`;
  return z.preprocess(
    emptyToUndefined,
    z
      .string({ error: message })
      .min(1, { error: message })
      .max(max, { error: message })
      .refine((s) => !s.includes('\0'), { error: message })
      .refine((s) => !invalidUnicode.test(s), { error: `${message.slice(0, -1)}, valid UTF-8)` }),
  );
}

/** true/false, also accepting 1/0, yes/no, on/off from the environment. */
export function booleanField() {
  return z.preprocess(toBoolean, z.boolean({ error: 'expected true or false' }));
}

/** One of a fixed list of words. */
export function choiceField<const T extends readonly [string, ...string[]]>(choices: T) {
  return z.preprocess(emptyToUndefined, z.enum(choices, { error: `expected one of: ${choices.join(', ')}` }));
}

/** An http(s) URL (used for --ping-url). */
export function urlField() {
  const message = 'expected an http:// or https:// URL';
  return z.preprocess(
    emptyToUndefined,
    z
      .string({ error: message })
      .max(2048, { error: message })
      .refine(
        (s) => {
          try {
            const u = new URL(s);
            return u.protocol === 'http:' || u.protocol === 'https:';
          } catch {
            return false;
          }
        },
        { error: message },
      ),
  );
}

export const LOG_LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

/** A calendar date as YYYY-MM-DD that really exists (2025-02-30 is refused). */
export function isoDateField() {
  const message = 'expected a date as YYYY-MM-DD';
  return z.preprocess(
    emptyToUndefined,
    z
      .string({ error: message })
      .regex(/^\d{4}-\d{2}-\d{2}$/, { error: message })
      .refine(
        (s) => {
          const d = new Date(`${s}T00:00:00Z`);
          return !Number.isNaN(d.getTime()) && d.toISOString().slice(0, 10) === s;
        },
        { error: `${message} (a real calendar date)` },
      ),
  );
}

/** A daily local-time window `HH:MM-HH:MM` (may cross midnight, e.g. 22:00-04:00). */
export function windowField() {
  const message = 'expected a time window HH:MM-HH:MM in local time, e.g. 00:00-05:00';
  return z.preprocess(
    emptyToUndefined,
    z
      .string({ error: message })
      .max(20, { error: message })
      .refine((s) => parseWindow(s) !== null, { error: message }),
  );
}

/** An S3 destination, s3://bucket/prefix. */
export function s3UrlField() {
  const message = 'expected an s3://bucket/prefix URL (bucket: 3 to 63 lowercase letters, digits, dots, hyphens)';
  return z.preprocess(
    emptyToUndefined,
    z
      .string({ error: message })
      .max(1024, { error: message })
      .regex(/^s3:\/\/[a-z0-9][a-z0-9.-]{1,61}[a-z0-9](\/[A-Za-z0-9!_.*'()/-]*)?$/, { error: message })
      .refine(
        (s) =>
          !s
            .split('/')
            .slice(3)
            .some((p) => p === '..' || p === '.'),
        { error: message },
      ),
  );
}

/** A list field's input: an array as is, a string (the environment's form) split at commas; empty: absent. */
function commaList(v: unknown): unknown {
  if (typeof v !== 'string') return v;
  const parts = v
    .split(',')
    .map((p) => p.trim())
    .filter(Boolean);
  return parts.length === 0 ? undefined : parts;
}

/**
 * Where backups go, one or more: each an `s3://bucket/prefix` URL or a local directory path. One
 * value (or, from the environment, a comma-separated list) or an array; the output is the array.
 */
export function destinationsField() {
  const one = z.union(
    [s3UrlField(), pathField('a directory path').refine((s) => !s.includes('://') && !s.startsWith('s3:'))],
    {
      error:
        'expected an s3://bucket/prefix URL (bucket: 3 to 63 lowercase letters, digits, dots, hyphens) or a directory path',
    },
  );
  return z.preprocess(
    commaList,
    z
      .array(one, { error: 'expected one or more destinations' })
      .min(1)
      .max(8, { error: 'expected at most 8 destinations' })
      .refine((a) => new Set(a).size === a.length, { error: 'a destination is given twice' }),
  );
}

/**
 * Key files for encryption at rest, one or more (the first encrypts, all decrypt): one value
 * (from the environment, comma-separated) or an array, as `--encrypt-key-file` repeated.
 */
export function keyFilesField() {
  return z.preprocess(
    commaList,
    z
      .array(pathField('a key file path'), { error: 'expected one or more key file paths' })
      .min(1)
      .max(8, { error: 'expected at most 8 key files' }),
  );
}
