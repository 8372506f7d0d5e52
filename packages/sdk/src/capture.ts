import { coerceErrorNumber, coerceLine, readProperty, textOf, unboxed } from './normalize';
import type { CaptureExtra } from './api';
import { firstHostFrame, moduleName, parseStack, procedureName, type StackFrame } from './stack';

/** The fields of a report about a thrown value, before normalising, and where it was thrown. */
export interface CapturedFields {
  fields: {
    number: unknown;
    description: unknown;
    module: unknown;
    procedure: unknown;
    line: unknown;
    code: unknown;
  };
  /** the frame the source line may be read from: only when line and code were not given */
  sourceFrame?: StackFrame;
  /** what was mended (report()'s `invalid_input` notes): a field of `extra` that was no use */
  notes: string[];
}

/**
 * What `captureException` reports: each field from `extra` where given, else from the thrown
 * value (number, message) and its first stack frame outside the SDK (module, procedure, line).
 */
export function captureFields(
  thrown: unknown,
  extra: unknown,
  caughtAt?: () => string,
): CapturedFields {
  const given = (key: string) => unboxed(readProperty(extra, key).value) ?? undefined;
  const fromError = describeThrown(thrown);
  let frame = firstHostFrame(parseStack(fromError.stack ?? ''));
  // A thrown string has no stack: the place it was caught is the next best thing.
  if (!frame && caughtAt) frame = firstHostFrame(parseStack(caughtAt()));
  const notes: string[] = [];
  // Where a place in the code is given but is no use (a line that is no number, an empty module),
  // the stack's own beats the 0 or "(unknown)" report() would mend it to.
  const place = (key: 'module' | 'procedure' | 'line', usable: (value: unknown) => boolean) => {
    const value = given(key);
    // Without a frame, report()'s mending (and its note) is all there is.
    if (value === undefined || usable(value) || !frame) return value;
    notes.push(`${key}: not usable; the stack's was used`);
    return undefined;
  };
  const isText = (value: unknown) => (textOf(value) ?? '').trim() !== '';
  const line = place('line', (value) => coerceLine(value) !== null);
  const module = place('module', isText);
  const procedure = place('procedure', isText);
  const code = given('code');
  return {
    fields: {
      number: given('number') ?? fromError.number,
      description: given('description') ?? fromError.description,
      module: module ?? (frame ? moduleName(frame.file) : undefined),
      procedure: procedure ?? (frame ? procedureName(frame.func) : undefined),
      line: line ?? frame?.line,
      code,
    },
    sourceFrame: line === undefined && code === undefined ? frame : undefined,
    notes,
  };
}

/**
 * The report fields an Error handed to report() carries itself (a VB-style `description`, a
 * `module`, a `data` for the dump), as captureException's `extra`. Its `code` only where it reads
 * as a line of code: on a Node error it is an identifier (`ENOENT`, `ERR_INVALID_ARG_TYPE`), which
 * would take the place of the source line read from the stack (a numeric one is its number).
 */
export function reportFieldsOfError(error: Error): CaptureExtra {
  const extra: Record<string, unknown> = {};
  for (const key of ['description', 'module', 'procedure', 'line', 'code', 'data']) {
    const { ok, value } = readProperty(error, key);
    if (!ok || value === undefined) continue;
    if (key === 'code' && !(typeof value === 'string' && /[\s()=;]/.test(value))) continue;
    extra[key] = value;
  }
  return extra;
}

/** Number, description and stack of anything thrown, read without trusting it. */
function describeThrown(thrown: unknown): {
  number?: number;
  description: string;
  stack?: string;
} {
  if (typeof thrown === 'string') return { description: thrown };
  if ((typeof thrown !== 'object' && typeof thrown !== 'function') || thrown === null) {
    return { description: safeString(thrown) };
  }
  const get = (key: string) => readProperty(thrown, key).value;
  const message = get('message');
  const stack = get('stack');
  // VB's Err object, and errors modelled on it, carry `description` rather than `message`.
  const vb = get('description');
  let description: string;
  if (typeof message === 'string' && message !== '') description = message;
  else if (typeof vb === 'string') description = vb;
  else description = typeof message === 'string' ? message : safeString(thrown);
  return {
    number: errorNumberOf(get('number'), get('errno'), get('code')),
    description,
    stack: typeof stack === 'string' ? stack : undefined,
  };
}

/**
 * The first of the error's numbers that makes an error number. A number is passed on as it was,
 * so that report() notes where it had to change it (1.5, an unsigned HRESULT); a numeric string
 * (`code: '1205'`) or a bigint errno is the number it spells, which is no change worth a note.
 */
function errorNumberOf(number: unknown, errno: unknown, code: unknown): number | undefined {
  for (const candidate of [number, errno, code]) {
    if (typeof candidate === 'number') {
      if (coerceErrorNumber(candidate) !== null) return candidate;
    }
    if (typeof candidate === 'bigint') {
      const n = coerceErrorNumber(candidate);
      if (n !== null) return n;
    }
    if (typeof candidate === 'string' && /^[-+]?(?:\d+|0x[0-9a-f]+)$/i.test(candidate.trim())) {
      const n = coerceErrorNumber(candidate);
      if (n !== null) return n;
    }
  }
  return undefined;
}

function safeString(value: unknown): string {
  try {
    return String(value);
  } catch {
    return '(unprintable)';
  }
}
