/**
 * Hand-written checks for the common case of repository input: plain objects whose values already
 * have the right types. Each check accepts a value only if the zod field schema it mirrors
 * (config/fields.ts) would accept it unchanged, so a value it accepts needs no zod parse.
 * Anything else (a value to coerce, such as the string "3" for a quantity, or a bad value) is left
 * to zod, which then either converts it or words the error. The checks never reject on their own,
 * so zod stays the single source of messages. repositories.test.ts runs both paths.
 *
 * Pure functions of their arguments: no module state (a cache of the last date accepted was
 * dropped; the repositories bench shows it bought nothing measurable).
 */

const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;
const DAYS = [0, 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];

/** A plain data object (object literal or JSON.parse output) with no key outside `keys`. */
export function isPlainWithKeys(value: unknown, keys: ReadonlySet<string>): value is Record<string, unknown> {
  if (typeof value !== 'object' || value === null) return false;
  const proto = Object.getPrototypeOf(value);
  if (proto !== Object.prototype && proto !== null) return false;
  for (const key in value) if (!keys.has(key)) return false;
  return true;
}

/** textField(what, max) would return `value` unchanged. */
export function isText(value: unknown, max: number): value is string {
  return (
    typeof value === 'string' &&
    value.length <= max &&
    value.trim() !== '' &&
    !value.includes('\0') &&
    !LONE_SURROGATE.test(value)
  );
}

/** `z.string().max(max).nullish()` would return `value` unchanged. */
export function isOptionalString(value: unknown, max: number): boolean {
  return value === undefined || value === null || (typeof value === 'string' && value.length <= max);
}

/** integerField(min, max) would return `value` unchanged. */
export function isWholeNumber(value: unknown, min: number, max: number): value is number {
  return typeof value === 'number' && Number.isInteger(value) && value >= min && value <= max;
}

/** The digit at `i` of `s` as a number, or NaN (digits only: no sign, space or dot gets through). */
function digit(s: string, i: number): number {
  const c = s.charCodeAt(i) - 48;
  return c >= 0 && c <= 9 ? c : Number.NaN;
}

/** isoDateField() would return `value` unchanged: YYYY-MM-DD and a real (proleptic Gregorian) date. */
export function isIsoDate(value: unknown): value is string {
  // Read digit by digit (no regex, no substrings): a batch checks one date per row.
  if (typeof value !== 'string' || value.length !== 10 || value[4] !== '-' || value[7] !== '-') return false;
  const y = digit(value, 0) * 1000 + digit(value, 1) * 100 + digit(value, 2) * 10 + digit(value, 3);
  const m = digit(value, 5) * 10 + digit(value, 6);
  const d = digit(value, 8) * 10 + digit(value, 9);
  // NaN fails every comparison below, so a non-digit anywhere is refused here.
  if (!(y >= 0 && m >= 1 && m <= 12 && d >= 1)) return false;
  const leap = y % 4 === 0 && (y % 100 !== 0 || y % 400 === 0);
  const days = m === 2 && leap ? 29 : (DAYS[m] as number);
  return d <= days;
}
