import { jsonPointer, reportSchema } from '@jcs/protocol';

/** Deeper than any report can be (its objects nest two levels), and still cheap to parse. */
export const MAX_REPORT_NESTING = 32;

/**
 * Below this many characters JSON.parse is cheap whatever the nesting: no scan is worth it.
 * JSON.parse took 137 ms over 512 KiB of brackets and 1.8 ms over a flat body of that size, all
 * on the event loop: a sender of ten such bodies a second held every other client for 1.3 s.
 */
const SCAN_FROM_CHARS = 4096;

const QUOTE = 0x22;
const BACKSLASH = 0x5c;

/**
 * Where a JSON text nests deeper than `maxDepth` containers, as the JSON pointer of the report
 * field it does so in (`/deep` for an unknown field, `/app/name` for a known one, `''` for the
 * body itself), or null when it does not (or is too short to matter, or not JSON at all: the
 * parser says so then). One pass, strings skipped with indexOf, no values built.
 *
 * @example
 * nestingTooDeep(`{"deep":${'['.repeat(100_000)}${']'.repeat(100_000)}}`); // '/deep'
 */
export function nestingTooDeep(text: string, maxDepth = MAX_REPORT_NESTING): string | null {
  if (text.length < SCAN_FROM_CHARS) return null;
  // For each open container: whether it is an object, and the raw text of its current key.
  const isObject: boolean[] = [];
  const keys: (string | null)[] = [];
  let expectKey = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === QUOTE) {
      const end = stringEnd(text, i);
      if (end < 0) return null;
      if (expectKey) keys[keys.length - 1] = text.slice(i + 1, end);
      i = end;
    } else if (c === 0x7b || c === 0x5b) {
      // { or [
      isObject.push(c === 0x7b);
      keys.push(null);
      if (isObject.length > maxDepth) return fieldOf(isObject, keys);
      expectKey = c === 0x7b;
    } else if (c === 0x7d || c === 0x5d) {
      isObject.pop();
      keys.pop();
      expectKey = false;
    } else if (c === 0x2c) {
      // ,
      expectKey = isObject[isObject.length - 1] === true;
    } else if (c === 0x3a) {
      // :
      expectKey = false;
    }
  }
  return null;
}

/**
 * More structural characters (`{ [ , :`) outside strings than any report has: a schema-1 report
 * has some 40 values, its dump's data a single string. Parsing a 512 KiB body of small values
 * nested just under the limit (`[[[…]]]` 31 deep, over and over) took 44 ms of the event loop,
 * against 3 ms for a flat body of that size; refused before JSON.parse, it costs a scan that
 * stops at the first value past the bound.
 */
export const MAX_REPORT_VALUES = 1024;

/**
 * Whether a JSON text holds more than `maxValues` structural characters outside its strings (or
 * is too short to matter). One pass, strings skipped with indexOf, stopping at the bound.
 *
 * @example
 * tooManyValues(`{"x":[${'0,'.repeat(5000)}0]}`); // true
 */
export function tooManyValues(text: string, maxValues = MAX_REPORT_VALUES): boolean {
  if (text.length < SCAN_FROM_CHARS) return false;
  let count = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === QUOTE) {
      const end = stringEnd(text, i);
      if (end < 0) return false;
      i = end;
    } else if (c === 0x7b || c === 0x5b || c === 0x2c || c === 0x3a) {
      if (++count > maxValues) return true;
    }
  }
  return false;
}

/** The index of the quote that ends the string starting at `start`, or -1. */
function stringEnd(text: string, start: number): number {
  let from = start + 1;
  for (;;) {
    const quote = text.indexOf('"', from);
    if (quote < 0) return -1;
    let slashes = 0;
    while (text.charCodeAt(quote - 1 - slashes) === BACKSLASH) slashes++;
    if (slashes % 2 === 0) return quote;
    from = quote + 1;
  }
}

interface SchemaNode {
  properties?: Record<string, SchemaNode>;
}

/**
 * The pointer a schema error would name: the report's own fields followed down as far as they
 * go, then the first key the schema does not know (the unknown field), or nothing more at an
 * array (no field of the schema is one).
 */
function fieldOf(isObject: boolean[], keys: (string | null)[]): string {
  const segments: string[] = [];
  let node: SchemaNode | undefined = reportSchema as SchemaNode;
  for (let level = 0; level < isObject.length - 1; level++) {
    const raw = keys[level];
    if (!isObject[level] || raw === null) break;
    const key = decodeKey(raw);
    segments.push(key);
    const known: Record<string, SchemaNode> | undefined = node?.properties;
    node = known !== undefined && Object.hasOwn(known, key) ? known[key] : undefined;
    if (node === undefined) break;
  }
  return jsonPointer(segments);
}

function decodeKey(raw: string): string {
  try {
    return JSON.parse(`"${raw}"`) as string;
  } catch {
    return raw;
  }
}
