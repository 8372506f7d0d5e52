import { LIMITS } from '@jcs/protocol';
import { TRUNCATION_MARKER } from '../normalize';
import { REDACTED, type Redactor } from './redact';
import { describeBinary } from './describe-binary';
import { record, shallowName, typeName, unboxed } from './object-kinds';
import {
  cannotFit,
  exhausted,
  overflow,
  OVERFLOW,
  safe,
  spend,
  type WalkState,
} from './walk-state';

/**
 * Bounds on a dump. Data within all three arrives exactly as given; `maxDepth` and `maxBreadth`
 * are caps (what lies beyond them is described, not walked), `maxBytes` is the UTF-8 size of the
 * JSON text, at most 256 KiB.
 */
export interface DumpLimits {
  /** nesting levels kept; deeper containers are described, not walked */
  maxDepth: number;
  /** keys or items kept per container */
  maxBreadth: number;
  maxBytes: number;
}

/**
 * 64 levels, and as many items as a 256 KiB JSON text can hold (`[0,0,...]`: two bytes an item),
 * so only the byte limit cuts ordinary data.
 */
export const DEFAULT_DUMP_LIMITS: Readonly<DumpLimits> = Object.freeze({
  maxDepth: 64,
  maxBreadth: LIMITS.dumpPlaintextBytes / 2,
  maxBytes: LIMITS.dumpPlaintextBytes,
});

/**
 * Where cutting starts for data over `maxBytes`: a few levels and items of everything reads better
 * than the first 256 KiB of one field. Tightened on each further attempt.
 */
const CUT_BOUNDS = { maxDepth: 10, maxBreadth: 200, maxString: 16 * 1024, nodes: 50_000 };

/** An object with more keys than this has its key list kept for the next attempt. */
const WIDE_OBJECT_KEYS = 1_000;

/** No cutting walk cuts a string shorter than this, however small `maxBytes` or the retries. */
const MIN_CUT_STRING = 64;

export type SerializedDump =
  | { ok: true; json: string; truncated: boolean }
  | { ok: false; withheld: 'too-large' | 'unserializable' };

/** Stands in for whatever the walk left out, so a reader sees the dump is not whole. */
export const CUT = TRUNCATION_MARKER;

interface Bounds {
  stopOnOverflow: boolean;
  maxDepth: number;
  maxBreadth: number;
  maxString: number;
  budget: number;
  nodes: number;
}

/**
 * Turns any value into the dump's JSON text, safely: cycles, BigInt, binary data, Dates, Maps and
 * Sets, class instances, throwing getters, functions and symbols are all described rather than
 * thrown on; keys on the redaction list and card numbers are replaced before the text exists, so
 * the plaintext never holds them.
 *
 * JSON data whose text fits `maxBytes` and whose nesting fits `maxDepth` comes out exactly as
 * `JSON.stringify` would write it (redaction aside). Over `maxBytes`, the walk starts again from
 * tighter bounds (10 levels, 200 items, strings of a sixteenth of `maxBytes`), tightening until
 * it fits; cut values carry a marker, and if even that does not fit, the dump is withheld as
 * `too-large`. A value that cannot be described at all (a revoked Proxy, say) is withheld as
 * `unserializable`; one deep inside that fails is replaced by a placeholder.
 *
 * @example
 * const r = serializeDump({ client: 'Smith', password: 'x' }, DEFAULT_DUMP_LIMITS, redactor);
 * // r.json === '{"client":"Smith","password":"[redacted]"}'
 */
export function serializeDump(
  value: unknown,
  limits: DumpLimits,
  redactor: Redactor,
): SerializedDump {
  // Whole, first: a JSON text of n bytes holds at most (n + 1) / 2 values, so this node budget
  // stops only data that cannot fit anyway.
  const keysOf = new WeakMap<object, string[]>();
  const whole = attempt(value, redactor, keysOf, {
    stopOnOverflow: true,
    maxDepth: limits.maxDepth,
    maxBreadth: limits.maxBreadth,
    maxString: limits.maxBytes,
    budget: limits.maxBytes,
    nodes: Math.ceil(limits.maxBytes / 2) + 1,
  });
  if (whole === null) return { ok: false, withheld: 'unserializable' };
  if (whole !== OVERFLOW && whole.bytes <= limits.maxBytes) {
    return { ok: true, json: whole.json, truncated: whole.truncated };
  }

  const bounds: Bounds = {
    stopOnOverflow: false,
    maxDepth: Math.min(limits.maxDepth, CUT_BOUNDS.maxDepth),
    maxBreadth: Math.min(limits.maxBreadth, CUT_BOUNDS.maxBreadth),
    // A string may take a sixteenth of the room (16 KiB of the default 256 KiB), so that under a
    // small maxBytes one long string does not crowd out everything after it.
    maxString: Math.min(
      CUT_BOUNDS.maxString,
      Math.max(MIN_CUT_STRING, Math.floor(limits.maxBytes / 16)),
    ),
    budget: limits.maxBytes,
    nodes: CUT_BOUNDS.nodes,
  };
  for (let n = 0; n < 6; n++) {
    const cut = attempt(value, redactor, keysOf, bounds);
    if (cut === null) return { ok: false, withheld: 'unserializable' };
    if (cut === OVERFLOW) break; // cannot happen: this attempt cuts instead
    // Cut to the marker alone, nothing of the data is left to send: withheld, and said so.
    if (cut.json === JSON.stringify(TRUNCATION_MARKER)) break;
    if (cut.bytes <= limits.maxBytes) return { ok: true, json: cut.json, truncated: true };
    // Multi-byte text and separators overshoot the character budget: shrink everything and walk
    // again, with the room scaled by how far over it came out, less a tenth (halving it each time
    // left a cut dump using a fifth of maxBytes).
    bounds.budget = Math.floor(((bounds.budget * limits.maxBytes) / cut.bytes) * 0.9);
    bounds.maxString = Math.max(MIN_CUT_STRING, Math.floor(bounds.maxString / 4));
    bounds.maxDepth = Math.max(1, bounds.maxDepth - 2);
    bounds.maxBreadth = Math.max(5, Math.floor(bounds.maxBreadth / 2));
  }
  return { ok: false, withheld: 'too-large' };
}

/**
 * One walk within `bounds`: the text, or null when the value as a whole cannot be described, or
 * OVERFLOW when it had to leave something out for room and `stopOnOverflow` is set.
 */
function attempt(
  value: unknown,
  redactor: Redactor,
  keysOf: WeakMap<object, string[]>,
  bounds: Bounds,
): { json: string; bytes: number; truncated: boolean } | null | typeof OVERFLOW {
  const state: WalkState = {
    redactor,
    ...bounds,
    truncated: false,
    rootFailed: false,
    ancestors: new Set(),
    keysOf,
  };
  let json: string;
  try {
    json = JSON.stringify(walk(value, 0, state)) ?? 'null';
  } catch (e) {
    return e === OVERFLOW ? OVERFLOW : null;
  }
  if (state.rootFailed) return null;
  return { json, bytes: Buffer.byteLength(json, 'utf8'), truncated: state.truncated };
}

/** The most characters a card number takes, grouped (19 digits and 18 separators), and one more. */
const CARD_SPAN = 38;

function walkString(text: string, state: WalkState): string {
  let s = text;
  if (s.length > state.maxString) {
    // Cut before the card scan so a 10 MB string costs what a short one does, but scan past the
    // cut by a card number's longest span first: a card number across the cut would otherwise
    // leave its first 15 digits behind, which the check digit completes.
    s = state.redactor.cleanString(s.slice(0, state.maxString + CARD_SPAN));
    s = s.slice(0, state.maxString);
    if (/[\ud800-\udbff]$/.test(s)) s = s.slice(0, -1);
    s += CUT;
    overflow(state);
  }
  s = state.redactor.cleanString(s);
  spend(state, s.length + 2);
  return s;
}

function walkNumberLike(text: string, state: WalkState): string | null {
  // A card number stored as a number is still a card number.
  const cleaned = state.redactor.cleanString(text);
  return cleaned === text ? null : cleaned;
}

// Every spend() is at most the length of the JSON text it stands for (separators are not
// counted), so data that fits never runs out of budget.
function walk(value: unknown, depth: number, state: WalkState): unknown {
  state.nodes--;
  if (state.nodes < 0 || state.budget <= 0) {
    overflow(state);
    return CUT;
  }
  switch (typeof value) {
    case 'string':
      return walkString(value, state);
    case 'number': {
      const text = String(value);
      if (!Number.isFinite(value)) {
        spend(state, text.length + 2);
        return text;
      }
      spend(state, text.length);
      if (Number.isInteger(value) && Math.abs(value) >= 1e12) {
        const cleaned = walkNumberLike(text, state);
        if (cleaned !== null) return cleaned;
      }
      return Object.is(value, -0) ? 0 : value;
    }
    case 'boolean':
      spend(state, value ? 4 : 5);
      return value;
    case 'undefined':
      spend(state, 13);
      return '[undefined]';
    case 'bigint': {
      const text = value.toString();
      spend(state, text.length + 3);
      return walkNumberLike(text, state) ?? `${text}n`;
    }
    case 'symbol':
      return walkString(
        safe(() => value.toString(), 'Symbol()'),
        state,
      );
    case 'function':
      return walkString(`[Function ${safe(() => value.name, '') || 'anonymous'}]`, state);
    default:
      if (value === null) {
        spend(state, 4);
        return null;
      }
      return walkObject(value as object, depth, state);
  }
}

function walkObject(obj: object, depth: number, state: WalkState): unknown {
  const primitive = unboxed(obj);
  if (primitive !== obj) {
    state.nodes++; // one value, counted once
    return walk(primitive, depth, state);
  }
  if (state.ancestors.has(obj)) {
    spend(state, 12);
    return '[Circular]';
  }
  if (depth >= state.maxDepth) {
    state.truncated = true;
    return walkString(shallowName(obj), state);
  }
  state.ancestors.add(obj);
  try {
    return describeObject(obj, depth, state);
  } catch (e) {
    if (e === OVERFLOW) throw e;
    // A revoked Proxy or a hostile object: describe it rather than fail the whole dump. The dump
    // itself failing is another matter: then there is nothing to send, and the report says so.
    if (depth === 0) state.rootFailed = true;
    return walkString('[unserializable]', state);
  } finally {
    state.ancestors.delete(obj);
  }
}

function describeObject(obj: object, depth: number, state: WalkState): unknown {
  if (obj instanceof Date) {
    const t = obj.getTime();
    return walkString(Number.isNaN(t) ? 'Invalid Date' : obj.toISOString(), state);
  }
  if (obj instanceof ArrayBuffer || ArrayBuffer.isView(obj)) return describeBinary(obj, state);
  if (typeof SharedArrayBuffer !== 'undefined' && obj instanceof SharedArrayBuffer) {
    return describeBinary(obj, state);
  }
  if (obj instanceof RegExp) return walkString(String(obj), state);
  if (obj instanceof Promise) return walkString('[Promise]', state);
  if (obj instanceof WeakMap || obj instanceof WeakSet || obj instanceof WeakRef) {
    return walkString(`[${obj.constructor.name}]`, state);
  }
  if (obj instanceof Map) return describeMap(obj, depth, state);
  if (obj instanceof Set) {
    const out = record();
    out.$type = 'Set';
    out.size = obj.size;
    out.values = walkItems(obj.values(), obj.size, depth, state);
    return out;
  }
  if (Array.isArray(obj)) return walkArray(obj, depth, state);

  const out = record();
  const name = typeName(obj);
  if (obj instanceof Error) {
    out.$type = safe(() => obj.name, 'Error');
    out.message = walk(
      safe(() => obj.message, ''),
      depth + 1,
      state,
    );
    // Not its stack: the frames name files by their paths, which hold the user's name on Windows
    // (C:\Users\asmith\...), and a report never carries paths.
    // Its cause and an AggregateError's errors are not enumerable, yet often the real story.
    const cause = safe(() => (Object.hasOwn(obj, 'cause') ? obj.cause : undefined), undefined);
    if (cause !== undefined) out.cause = walk(cause, depth + 1, state);
    if (obj instanceof AggregateError) {
      out.errors = walk(
        safe(() => obj.errors, []),
        depth + 1,
        state,
      );
    }
  } else {
    // As JSON.stringify does, for a class instance and a plain object alike.
    const toJSON = safe(() => (obj as { toJSON?: unknown }).toJSON, undefined);
    if (typeof toJSON === 'function') {
      const json = safe(() => toJSON.call(obj) as unknown, obj);
      if (json !== obj) return walk(json, depth, state);
    }
    if (name !== null) out.$type = name;
  }
  let keys = state.keysOf.get(obj);
  if (!keys) {
    keys = Object.keys(obj);
    // Only a wide object's listing costs enough to keep; most dumps are walked once anyway.
    if (keys.length > WIDE_OBJECT_KEYS) state.keysOf.set(obj, keys);
  }
  cannotFit(state, 5 * keys.length + 1); // {"":0,"a":0,...}
  let kept = 0;
  for (const key of keys) {
    if (kept >= state.maxBreadth || exhausted(state)) {
      out['…'] = `[${keys.length - kept} more keys]`;
      state.truncated = true;
      break;
    }
    if (out[key] !== undefined) continue;
    kept++;
    const name = keyName(obj, key, out, state);
    spend(state, name.length + 3);
    if (state.redactor.redactsKey(key)) {
      // The value is never read, so a secret cannot reach the text by any route.
      out[name] = REDACTED;
      continue;
    }
    let child: unknown;
    try {
      child = (obj as Record<string, unknown>)[key];
    } catch {
      out[name] = '[getter threw]';
      continue;
    }
    out[name] = walk(child, depth + 1, state);
  }
  return out;
}

/**
 * The key as the dump writes it: card numbers replaced, as in a value (a table of clients keyed
 * by card number). Two keys that come out as one text, or one that comes out as another key of
 * the object, are told apart by a count (`[redacted card number] (2)`), so that no value is lost.
 */
function keyName(obj: object, key: string, out: Record<string, unknown>, state: WalkState) {
  const cleaned = state.redactor.cleanString(key);
  if (cleaned === key) return key;
  let name = cleaned;
  for (let n = 2; out[name] !== undefined || safe(() => Object.hasOwn(obj, name), false); n++) {
    name = `${cleaned} (${n})`;
  }
  return name;
}

/** An index loop, not an iterator: a dump may hold 100,000 items, and each step counts. */
function walkArray(arr: unknown[], depth: number, state: WalkState): unknown[] {
  const out: unknown[] = [];
  const n = arr.length;
  cannotFit(state, 2 * n + 1); // [0,0,...]
  for (let i = 0; i < n; i++) {
    if (i >= state.maxBreadth || exhausted(state)) {
      out.push(`[… ${n - i} more items]`);
      state.truncated = true;
      break;
    }
    out.push(walk(arr[i], depth + 1, state));
  }
  return out;
}

function walkItems(
  items: Iterator<unknown>,
  size: number,
  depth: number,
  state: WalkState,
): unknown[] {
  const out: unknown[] = [];
  for (let r = items.next(); !r.done; r = items.next()) {
    if (out.length >= state.maxBreadth || exhausted(state)) {
      out.push(`[… ${size - out.length} more items]`);
      state.truncated = true;
      break;
    }
    out.push(walk(r.value, depth + 1, state));
  }
  return out;
}

function describeMap(map: Map<unknown, unknown>, depth: number, state: WalkState): unknown {
  const out = record();
  out.$type = 'Map';
  out.size = map.size;
  const entries: unknown[] = [];
  for (const [k, v] of map) {
    if (entries.length >= state.maxBreadth || exhausted(state)) {
      entries.push(`[… ${map.size - entries.length} more entries]`);
      state.truncated = true;
      break;
    }
    const key = walk(k, depth + 2, state);
    const redact = typeof k === 'string' && state.redactor.redactsKey(k);
    entries.push([key, redact ? REDACTED : walk(v, depth + 2, state)]);
  }
  out.entries = entries;
  return out;
}
