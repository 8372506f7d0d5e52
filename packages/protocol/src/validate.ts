import Ajv, { type ErrorObject, type ValidateFunction } from 'ajv';
import addFormats from 'ajv-formats';
import { reportSchema } from './report-schema';
import type { Report } from './report';
import { MAX_DETAILS } from './errors';

/** One failing field: a JSON pointer into the body and a short reason. */
export interface FieldError {
  path: string;
  message: string;
}

export type Validation = { ok: true; report: Report } | { ok: false; errors: FieldError[] };

let compiled: ValidateFunction<Report> | undefined;

/**
 * Compiled once, on first use: validation is on the ingest hot path, while programs that only
 * import the protocol's types and helpers (the CLI) should not pay ajv's start-up cost.
 */
function compiledCheck(): ValidateFunction<Report> {
  // One that could not compile (a host's pollution that cannot be set aside) fails again at once,
  // rather than cost each check the compiling's tens of milliseconds.
  if (compileFailure !== undefined) throw compileFailure;
  if (!compiled) {
    try {
      compiled = compile(true);
    } catch (e) {
      // In a program whose Object.prototype was given an enumerable property (a vulnerable deep
      // merge in the desktop app that embeds the SDK), ajv takes it for a keyword of every schema
      // and option object and cannot compile. The schema is checked in strict mode wherever
      // nothing was polluted (the tests); here it is compiled with the pollution out of the way.
      if (!prototypeChanged()) throw e;
      try {
        compiled = withoutPrototypePollution(() => compile(false));
      } catch (again) {
        compileFailure = again;
        throw again;
      }
    }
  }
  return compiled;
}

let compileFailure: unknown;

/**
 * Compiles the report schema now, if it is not yet: for a program that would rather pay ajv's
 * start-up (some 35 ms) when it starts than on its first report, an error's path (the SDK, at
 * createReporter).
 *
 * @example
 * warmReportCheck(); // the next validateReport validates at once
 */
export function warmReportCheck(): void {
  compiledCheck();
}

/**
 * Runs `f` with Object.prototype's enumerable properties taken off and put back after, in the
 * same turn, so no other code sees them gone. One that cannot be taken off stays.
 */
function withoutPrototypePollution<T>(f: () => T): T {
  const proto = Object.prototype as Record<string, unknown>;
  // Frozen or sealed against additions: what is taken off could not be put back.
  if (!Object.isExtensible(proto)) return f();
  const taken: [string, PropertyDescriptor][] = [];
  for (const key of Object.keys(proto)) {
    const descriptor = Object.getOwnPropertyDescriptor(proto, key);
    if (descriptor?.configurable && delete proto[key]) taken.push([key, descriptor]);
  }
  try {
    return f();
  } finally {
    for (const [key, descriptor] of taken) {
      try {
        Object.defineProperty(proto, key, descriptor);
      } catch {
        // made non-extensible meanwhile by f (not by ajv): the others still go back
      }
    }
  }
}

function compile(strict: boolean): ValidateFunction<Report> {
  const ajv = new Ajv({
    // Never a line on the console of the program validating (the desktop app, for the SDK).
    logger: false,
    allErrors: true,
    strict,
    strictRequired: false,
    unicodeRegExp: false,
  });
  addFormats(ajv, ['date-time']);
  return ajv.compile<Report>(reportSchema);
}

/**
 * Whether `Object.prototype` has an enumerable property, which `for...in` over any object yields.
 *
 * @example
 * prototypeChanged(); // false, unless something set Object.prototype.x = ...
 */
export function prototypeChanged(): boolean {
  for (const key in {}) return key !== undefined;
  return false;
}

/** The one problem of a body that is JSON but not an object (its path is ''). */
export const NOT_AN_OBJECT = 'must be a JSON object';

const FORBIDDEN_KEYS = new Set(['__proto__', 'constructor', 'prototype']);

/**
 * Checks a parsed JSON body against report schema 1.
 *
 * @example
 * const v = validateReport(JSON.parse(body));
 * if (!v.ok) console.log(v.errors); // [{ path: '/error/line', message: 'must be an integer' }]
 */
export function validateReport(body: unknown): Validation {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    return { ok: false, errors: [{ path: '', message: NOT_AN_OBJECT }] };
  }
  const poisoned: FieldError[] = [];
  findForbiddenKeys(body, [], 0, poisoned);
  if (poisoned.length > 0) return { ok: false, errors: poisoned };
  const check = compiledCheck();
  if (check(body)) return { ok: true, report: body };
  return { ok: false, errors: toFieldErrors(check.errors ?? []) };
}

/** A UTF-16 surrogate without its other half: JSON allows it (`"\ud800"`), UTF-8 cannot hold it. */
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

/**
 * Whether `text` holds a UTF-16 surrogate without its other half. Such a string is stored (as
 * UTF-8) as U+FFFD, so it would stand for another string: refused wherever text is taken.
 *
 * @example
 * hasLoneSurrogate('\udfffbob'); // true: it would be hashed as '\ufffdbob'
 */
export function hasLoneSurrogate(text: string): boolean {
  return LONE_SURROGATE.test(text);
}

const LONE_SURROGATES = new RegExp(LONE_SURROGATE.source, 'g');

/**
 * `text` with each lone surrogate replaced by U+FFFD, as UTF-8 would store it: for a sender that
 * mends text rather than have it refused (the SDK).
 *
 * @example
 * toWellFormed('a\ud800b'); // 'a\ufffdb'
 */
export function toWellFormed(text: string): string {
  return text.replace(LONE_SURROGATES, '\ufffd');
}

/**
 * At most this many problems are told. A body crafted to have thousands (every one a forbidden
 * key under a 100,000-character name) then costs no more to answer than an honest mistake.
 */
const MAX_FIELD_ERRORS = MAX_DETAILS;
/** No object of report schema 1 has more than 10 fields; one with more than this is not walked. */
const MAX_FIELDS = 32;
/** A key longer than this is shown cut in a pointer: no field of the schema comes close. */
const MAX_KEY_CHARS = 64;

/**
 * `__proto__`, `constructor` and `prototype` keys are refused outright, at any depth, never
 * merged; so is a string holding a lone surrogate, which would be stored (as UTF-8) as something
 * other than was sent; and an object with more fields than any of the schema's, before ajv
 * reports each one.
 * Arrays are left to the schema, which has none.
 */
function findForbiddenKeys(
  value: unknown,
  segments: string[],
  depth: number,
  errors: FieldError[],
): void {
  if (errors.length >= MAX_FIELD_ERRORS) return;
  if (typeof value === 'string') {
    if (hasLoneSurrogate(value)) {
      errors.push({
        path: jsonPointer(segments),
        message: 'must be valid Unicode text (it holds a lone surrogate)',
      });
    }
    return;
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value) || depth > 8) return;
  const keys = Object.keys(value);
  if (keys.length > MAX_FIELDS) {
    errors.push({
      path: jsonPointer(segments),
      message: `has ${keys.length} fields: no object of report schema 1 has more than 10`,
    });
    return;
  }
  for (const key of keys) {
    if (errors.length >= MAX_FIELD_ERRORS) return;
    segments.push(key);
    if (FORBIDDEN_KEYS.has(key))
      errors.push({ path: jsonPointer(segments), message: 'is a forbidden key' });
    else findForbiddenKeys((value as Record<string, unknown>)[key], segments, depth + 1, errors);
    segments.pop();
  }
}

/**
 * The JSON pointer of a key path (`''` for the body itself), long keys cut short: how every
 * error's `details` names a field, a key holding `/` or `~` escaped as RFC 6901 says.
 *
 * @example
 * jsonPointer(['error', 'line']); // '/error/line'
 * jsonPointer(['a/b~c']); // '/a~1b~0c'
 */
export function jsonPointer(segments: string[]): string {
  return segments.map((key) => `/${escapePointer(key)}`).join('');
}

function escapePointer(key: string): string {
  const shown = key.length > MAX_KEY_CHARS ? `${key.slice(0, MAX_KEY_CHARS)}…` : key;
  return shown.replace(/~/g, '~0').replace(/\//g, '~1');
}

function toFieldErrors(errors: ErrorObject[]): FieldError[] {
  const seen = new Set<string>();
  const out: FieldError[] = [];
  for (const e of errors) {
    if (out.length >= MAX_FIELD_ERRORS) break;
    const { path, message } = describe(e);
    const key = `${path}\u0000${message}`;
    if (seen.has(key)) continue;
    seen.add(key);
    out.push({ path, message });
  }
  return out;
}

function describe(e: ErrorObject): FieldError {
  const p = e.params as Record<string, unknown>;
  switch (e.keyword) {
    case 'required':
      return {
        path: `${e.instancePath}/${escapePointer(String(p.missingProperty))}`,
        message: 'is required',
      };
    case 'additionalProperties':
      return {
        path: `${e.instancePath}/${escapePointer(String(p.additionalProperty))}`,
        message: 'is not a field of report schema 1',
      };
    case 'not':
      return { path: '/dumpWithheld', message: 'must not be present together with dump' };
    case 'pattern':
      return { path: e.instancePath, message: patternMessage(e.instancePath) };
    case 'format':
      return { path: e.instancePath, message: 'must be an RFC 3339 date-time' };
    case 'const':
      return { path: e.instancePath, message: `must be ${JSON.stringify(p.allowedValue)}` };
    case 'enum':
      return {
        path: e.instancePath,
        message: `must be one of ${(p.allowedValues as unknown[]).map((v) => JSON.stringify(v)).join(', ')}`,
      };
    case 'type':
      return { path: e.instancePath, message: `must be ${withArticle(String(p.type))}` };
    case 'minLength':
      return {
        path: e.instancePath,
        message: p.limit === 1 ? 'must not be empty' : `must be at least ${p.limit} characters`,
      };
    case 'maxLength':
      return { path: e.instancePath, message: `must be at most ${p.limit} characters` };
    case 'minimum':
    case 'maximum':
      return { path: e.instancePath, message: `must be ${p.comparison} ${p.limit}` };
    default:
      return { path: e.instancePath, message: e.message ?? 'is invalid' };
  }
}

/** ajv says "must be integer"; the contract's example, and English, say "must be an integer". */
function withArticle(type: string): string {
  return /^[aeiou]/.test(type) ? `an ${type}` : `a ${type}`;
}

function patternMessage(path: string): string {
  switch (path) {
    case '/id':
      return 'must be a lowercase UUID (8-4-4-4-12 hex)';
    case '/app/version':
      return 'must be dotted numbers such as 5.2.1.345';
    case '/dump/epk':
      return 'must be base64 of 32 bytes';
    case '/dump/nonce':
      return 'must be base64 of 24 bytes';
    case '/occurredAt':
      return 'must be an RFC 3339 date-time';
    default:
      return 'must be base64';
  }
}
