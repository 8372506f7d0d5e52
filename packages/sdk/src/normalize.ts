import { types } from 'node:util';
import { LIMITS, toWellFormed, type Report } from '@jcs/protocol';
import { ignoreRejection } from './diagnostics';

/** What `report()` and `preview()` take. Every field is optional; anything else is coerced. */
export interface ReportInput {
  /** The error number (VB `Err.Number`, an HRESULT, ...). Coerced to a 32-bit integer, else 0. */
  number?: number | string | bigint;
  description?: string;
  /** Defaults to `(unknown)`. */
  module?: string;
  /** Defaults to `(unknown)`. */
  procedure?: string;
  /** 0 means unknown. */
  line?: number;
  /** The line of code that raised the error. */
  code?: string;
  /** Data values in use when the error occurred: serialised, redacted and sealed only with consent. */
  data?: unknown;
}

/** The `error` part of a schema 1 report. */
export type NormalizedError = Report['error'];

/**
 * Ends every text the SDK cut, a report field or a string in the dump, so nobody mistakes it for
 * the whole value. One marker for both: an engineer searching for it finds every cut.
 */
export const TRUNCATION_MARKER = '[…truncated]';

const UNKNOWN = '(unknown)';

const MARKER_CODE_POINTS = [...TRUNCATION_MARKER].length;

/**
 * Cuts `text` to at most `max` code points (the unit the schema counts), ending with the marker
 * when cut. Walks only the first `max` code points, so a 10 MB string costs no more than a short one.
 */
export function truncate(text: string, max: number): string {
  if (text.length <= max) return text;
  let kept = 0;
  let index = 0;
  const keep = Math.max(0, max - MARKER_CODE_POINTS);
  let cutAt = -1;
  while (index < text.length) {
    if (kept === keep) cutAt = index;
    if (kept === max) break;
    const cp = text.codePointAt(index)!;
    index += cp > 0xffff ? 2 : 1;
    kept++;
  }
  if (index >= text.length) return text;
  return text.slice(0, cutAt) + TRUNCATION_MARKER;
}

/** Reads a property without letting a throwing getter or Proxy trap escape. */
export function readProperty(target: unknown, key: string): { ok: boolean; value: unknown } {
  if ((typeof target !== 'object' && typeof target !== 'function') || target === null) {
    return { ok: true, value: undefined };
  }
  try {
    return { ok: true, value: (target as Record<string, unknown>)[key] };
  } catch {
    return { ok: false, value: undefined };
  }
}

const INT32_MIN = LIMITS.errorNumber.min;
const INT32_MAX = LIMITS.errorNumber.max;
const UINT32_SPAN = 2 ** 32;

const BOXED_VALUE_OF: ((this: object) => unknown)[] = [
  String.prototype.valueOf,
  Number.prototype.valueOf,
  Boolean.prototype.valueOf,
  BigInt.prototype.valueOf,
];

/**
 * The value inside a boxed primitive (`new String('text')`, `new Number(7)`), else the value
 * itself: a host's boxed description is its text, as a dump's is (dump/serialize.ts), not "not a
 * string". Read through the built-in valueOf, which checks the object's internal slot, so no
 * getter or Proxy trap of the host runs.
 *
 * @example
 * unboxed(new String('Disk full')); // 'Disk full'
 * unboxed({ valueOf: () => 1 }); // the object, as it was
 */
export function unboxed(value: unknown): unknown {
  // Asked of the engine first: trying each valueOf on a plain object threw four TypeErrors a
  // report, and their stack traces were half of report()'s time (2 us became 27).
  if (typeof value !== 'object' || value === null || !types.isBoxedPrimitive(value)) return value;
  for (const valueOf of BOXED_VALUE_OF) {
    try {
      return valueOf.call(value);
    } catch {
      // not a box of that kind
    }
  }
  return value;
}

function toFiniteNumber(value: unknown): number | null {
  if (typeof value === 'number') return Number.isFinite(value) ? value : null;
  if (typeof value === 'bigint') {
    if (value > BigInt(Number.MAX_SAFE_INTEGER)) return Number.MAX_SAFE_INTEGER;
    if (value < BigInt(Number.MIN_SAFE_INTEGER)) return Number.MIN_SAFE_INTEGER;
    return Number(value);
  }
  if (typeof value === 'string') {
    const trimmed = value.trim();
    if (trimmed === '' || trimmed.length > 40) return null;
    const n = /^[-+]?0x[0-9a-f]+$/i.test(trimmed)
      ? (trimmed.startsWith('-') ? -1 : 1) * Number.parseInt(trimmed.replace(/^[-+]/, ''), 16)
      : Number(trimmed);
    return Number.isFinite(n) ? n : null;
  }
  return null;
}

/**
 * An error number as the schema's signed 32-bit integer. HRESULTs often arrive unsigned from .NET
 * or hex (0x800A01AD): those are mapped to the negative value VB itself shows, so the same error
 * groups together whichever way the host spelt it. Anything else out of range is clamped.
 */
export function coerceErrorNumber(value: unknown): number | null {
  const n = toFiniteNumber(value);
  if (n === null) return null;
  const int = Math.trunc(n);
  if (int > INT32_MAX && int < UINT32_SPAN) return int - UINT32_SPAN;
  return Math.min(INT32_MAX, Math.max(INT32_MIN, int)) || 0;
}

/** A line number from 0 to 2,147,483,647; null when `value` is no number at all. */
export function coerceLine(value: unknown): number | null {
  const n = toFiniteNumber(value);
  if (n === null) return null;
  return Math.min(LIMITS.line.max, Math.max(0, Math.trunc(n))) || 0;
}

/** The text of a string, number, boolean or bigint; null for anything else. */
export function textOf(value: unknown): string | null {
  if (typeof value === 'string') return value;
  if (typeof value === 'number' || typeof value === 'boolean' || typeof value === 'bigint') {
    return String(value);
  }
  return null;
}

/**
 * Turns anything at all into the `error` part of a schema 1 report, writing a note (a field path
 * and what was done, never the value) for each thing it had to mend. The `data` field is not read
 * here: consent decides whether it is touched at all.
 */
export function normalizeError(input: unknown, notes: string[]): NormalizedError {
  // A boxed value counts as its value, as everywhere else: new String('Disk full') is a description.
  let source: unknown = unboxed(input);
  if (typeof source === 'string') {
    notes.push('input: a string was given; used as the description');
    source = { description: source };
  } else if ((typeof source !== 'object' && typeof source !== 'function') || source === null) {
    notes.push('input: not an object');
    source = {};
  } else if (isArraySafely(source)) {
    notes.push('input: an array, not a report object; none of it was used');
    source = {};
  } else if (!REPORT_FIELDS.some((key) => readsAsGiven(source, key))) {
    // {}, a Date, a function: an empty "(unknown)" report would otherwise go without a word.
    notes.push(`input: none of ${REPORT_FIELDS.join(', ')} was given`);
  }

  const field = (key: string): unknown => {
    const r = readProperty(source, key);
    if (!r.ok) notes.push(`${key}: reading it threw`);
    return unboxed(r.value);
  };

  const rawNumber = field('number');
  let number = 0;
  if (rawNumber !== undefined && rawNumber !== null) {
    const n = coerceErrorNumber(rawNumber);
    if (n === null) notes.push('number: not a number; set to 0');
    else {
      if (n !== rawNumber) notes.push('number: coerced to a 32-bit integer');
      number = n;
    }
  }

  const rawLine = field('line');
  let line = 0;
  if (rawLine !== undefined && rawLine !== null) {
    const n = coerceLine(rawLine);
    if (n === null) notes.push('line: not a number; set to 0');
    else {
      if (n !== rawLine) notes.push(lineNote(rawLine));
      line = n;
    }
  }

  const text = (
    key: string,
    max: number,
    required: boolean,
    fallback: string,
  ): string | undefined => {
    const raw = field(key);
    if (raw === undefined || raw === null) return required ? fallback : undefined;
    const t = textOf(raw);
    if (t === null) {
      notes.push(`${key}: not a string`);
      return required ? fallback : undefined;
    }
    if (typeof raw !== 'string') notes.push(`${key}: a ${typeof raw}; sent as text`);
    if (required && t.trim() === '') {
      if (t !== fallback) notes.push(`${key}: empty; set to ${fallback || 'empty text'}`);
      return fallback;
    }
    const cut = truncate(t, max);
    if (cut !== t) notes.push(`${key}: cut to ${max} characters`);
    const wellFormed = toWellFormed(cut);
    if (wellFormed !== cut) notes.push(`${key}: a lone surrogate was replaced with U+FFFD`);
    return wellFormed;
  };

  // An Error handed to report() has a message, not a description: its text is not dropped.
  const fromMessage =
    readProperty(source, 'description').value === undefined &&
    typeof unboxed(readProperty(source, 'message').value) === 'string';
  if (fromMessage) notes.push('description: none given; the message was used');
  const error: NormalizedError = {
    number,
    description: text(fromMessage ? 'message' : 'description', LIMITS.description.max, true, '')!,
    module: text('module', LIMITS.module.max, true, UNKNOWN)!,
    procedure: text('procedure', LIMITS.procedure.max, true, UNKNOWN)!,
    line,
  };
  const code = text('code', LIMITS.code.max, false, '');
  if (code !== undefined) error.code = code;
  noteUnknownFields(source, 'input', notes);
  return error;
}

/** Array.isArray throws on a revoked Proxy, which is no array. */
function isArraySafely(value: unknown): boolean {
  try {
    return Array.isArray(value);
  } catch {
    return false;
  }
}

/** A field that throws when read was given (and is noted as throwing), not left out. */
function readsAsGiven(source: unknown, key: string): boolean {
  const r = readProperty(source, key);
  return !r.ok || r.value !== undefined;
}

/** The fields report() reads; an input with none of them is noted. */
const REPORT_FIELDS = [
  'number',
  'description',
  'message',
  'module',
  'procedure',
  'line',
  'code',
  'data',
];

const FIELDS = new Set([
  ...REPORT_FIELDS,
  // An error's shape turned into a plain object (JSON.parse of a logged error): known, not typos.
  'name',
  'stack',
]);

/**
 * Notes the names (never the values) of a plain object's keys that report() and
 * captureException() do not take: a typo (`procedur`) would otherwise fall back to "(unknown)"
 * without a word. An Error's own extras (errno, syscall) are expected and not listed. At most
 * five, each cut to 40 characters. `where` names the argument (`input`, `extra`).
 *
 * @example
 * noteUnknownFields({ procedur: 'Load' }, 'input', notes); // notes: ['input: procedur: not a field; left out']
 */
export function noteUnknownFields(source: unknown, where: string, notes: string[]): void {
  if (typeof source !== 'object' || source === null) return;
  let keys: string[];
  try {
    const proto = Object.getPrototypeOf(source) as unknown;
    if (proto !== Object.prototype && proto !== null) return;
    keys = Object.keys(source);
  } catch {
    return; // a Proxy whose traps throw (or one revoked): its fields were read as far as they could be
  }
  const unknown = keys.filter((k) => !FIELDS.has(k));
  if (unknown.length === 0) return;
  const named = unknown.filter(isPlainName);
  const shown = named.slice(0, 5);
  const others = unknown.length - shown.length;
  if (others > 0) shown.push(`${shown.length > 0 ? 'and ' : ''}${others} more`);
  notes.push(`${where}: ${shown.join(', ')}: not a field; left out`);
}

/** A name a programmer gave a field (`procedur`), up to 40 characters. */
const PLAIN_NAME = /^[A-Za-z_$][A-Za-z0-9_$]{0,39}$/;

/**
 * True for a field name a diagnostic may show: one a programmer typed, a typo of a field. Any
 * other (`anna@example.com`, `07700 900123`, a name with spaces) may be a value put where a name
 * goes, so a diagnostic counts it instead: diagnostics go to the host's log, which must never
 * hold personal data.
 *
 * @example
 * isPlainName('procedur'); // true
 * isPlainName('anna@example.com'); // false
 * isPlainName('QQ123456C'); // false
 */
export function isPlainName(key: string): boolean {
  // Names have a digit or two (`address2`); QQ123456C or a phone number is data put as a key.
  return PLAIN_NAME.test(key) && (key.match(/\d/g)?.length ?? 0) <= 2;
}

/** What was done to a line number that was not a whole number from 0 to 2,147,483,647. */
function lineNote(raw: unknown): string {
  if (typeof raw !== 'number') return 'line: not a number type; coerced to a whole number';
  if (raw < 0) return 'line: negative; set to 0 (unknown)';
  if (raw > LIMITS.line.max) return `line: over ${LIMITS.line.max}; set to it`;
  return 'line: not a whole number; its fraction dropped';
}

/**
 * A username from the option, or undefined when there is none or the function failed. A function
 * must answer synchronously: a promise is no username (and its rejection is caught). `onMended`
 * is told when the name was mended: cut to its bound, or a lone surrogate replaced.
 */
export function resolveUsername(
  option: string | (() => string | null | undefined) | undefined,
  onFailure: (why: string) => void,
  onMended: (note: string) => void = () => undefined,
): string | undefined {
  if (option === undefined) return undefined;
  let value: unknown = option;
  if (typeof option === 'function') {
    try {
      value = option();
    } catch {
      onFailure('the username function threw');
      return undefined;
    }
    if (ignoreRejection(value)) {
      onFailure('the username function returned a promise; it must return a string synchronously');
      return undefined;
    }
  }
  if (value === undefined || value === null || value === '') return undefined;
  if (typeof value !== 'string') {
    onFailure('the username function returned something other than a string');
    return undefined;
  }
  // Only spaces is no name either: it would count as one more distinct user of every group.
  if (value.trim() === '') return undefined;
  const cut = truncate(value, LIMITS.username.max);
  const wellFormed = toWellFormed(cut);
  // One note for both mends, as for the other fields.
  const notes = [
    ...(cut !== value ? [`username: cut to ${LIMITS.username.max} characters`] : []),
    ...(wellFormed !== cut ? ['username: a lone surrogate was replaced with U+FFFD'] : []),
  ];
  if (notes.length > 0) onMended(notes.join('; '));
  return wellFormed;
}
