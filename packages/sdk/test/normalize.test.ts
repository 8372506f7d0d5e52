import { LIMITS, validateReport } from '@jcs/protocol';
import {
  TRUNCATION_MARKER,
  coerceErrorNumber,
  normalizeError,
  resolveUsername,
  truncate,
} from '../src/normalize';
import { CUT } from '../src/dump/serialize';
import { describeError } from '../src/diagnostics';

const codePoints = (s: string) => [...s].length;

describe('truncate', () => {
  it('leaves strings within the bound alone', () => {
    expect(truncate('abc', 3)).toBe('abc');
    expect(truncate('😀😀😀', 3)).toBe('😀😀😀'); // 6 UTF-16 units, 3 code points
  });

  it('cuts by code points, never splitting a surrogate pair, and shows the marker', () => {
    const cut = truncate('😀'.repeat(100), 20);
    expect(codePoints(cut)).toBe(20);
    expect(cut.endsWith(TRUNCATION_MARKER)).toBe(true);
    expect(cut.startsWith('😀'.repeat(20 - codePoints(TRUNCATION_MARKER)))).toBe(true);
    expect(cut).not.toMatch(/[\ud800-\udbff](?![\udc00-\udfff])/);
  });

  it('ends a cut field with the same marker as a string cut in the dump', () => {
    expect(truncate('x'.repeat(100), 20)).toBe('x'.repeat(8) + '[…truncated]');
    expect(TRUNCATION_MARKER).toBe(CUT);
  });

  it('walks only the code points it keeps of a 10 MB string, not the whole string', () => {
    const big = 'x'.repeat(10 * 1024 * 1024);
    // Counted rather than timed: spreading 10 MB into code points would read every one of them.
    const read = jest.spyOn(String.prototype, 'codePointAt');
    try {
      const cut = truncate(big, LIMITS.description.max);
      expect(codePoints(cut)).toBe(LIMITS.description.max);
      // truncate() reads code points with codePointAt, one call each, and stops at the bound.
      expect(read.mock.calls.length).toBeGreaterThan(LIMITS.description.max / 2);
      expect(read.mock.calls.length).toBeLessThanOrEqual(LIMITS.description.max);
    } finally {
      read.mockRestore();
    }
  });
});

describe('coerceErrorNumber', () => {
  it.each([
    [91, 91],
    [-2147221504, -2147221504],
    ['91', 91],
    ['0x800A01AD', -2146827859], // VB's "ActiveX component can't create object"
    [0x800a01ad, -2146827859], // an HRESULT given unsigned, as .NET often does
    [1e12, 2147483647],
    [-1e12, -2147483648],
    [12.7, 12],
    [-0, 0],
    [10n, 10],
    [NaN, null],
    [Infinity, null],
    ['abc', null],
    [{}, null],
  ])('%p -> %p', (input, expected) => {
    expect(coerceErrorNumber(input)).toBe(expected);
  });
});

describe('normalizeError', () => {
  const asReport = (error: ReturnType<typeof normalizeError>) =>
    validateReport({
      schema: 1,
      id: '3f2b8c1e-9a4d-4e6f-8b2a-1c3d5e7f9a0b',
      occurredAt: '2026-11-28T10:15:00Z',
      app: { name: 'JCS', version: '1' },
      license: 'L',
      error,
    });

  it('keeps a well-formed input as it is, without notes', () => {
    const notes: string[] = [];
    const e = normalizeError(
      { number: 91, description: 'd', module: 'm', procedure: 'p', line: 3, code: 'c' },
      notes,
    );
    expect(e).toEqual({
      number: 91,
      description: 'd',
      module: 'm',
      procedure: 'p',
      line: 3,
      code: 'c',
    });
    expect(notes).toEqual([]);
  });

  it('fills missing fields: (unknown) module and procedure, 0 line and number', () => {
    const notes: string[] = [];
    const e = normalizeError({}, notes);
    expect(e).toEqual({
      number: 0,
      description: '',
      module: '(unknown)',
      procedure: '(unknown)',
      line: 0,
    });
    expect(asReport(e).ok).toBe(true);
    expect(notes).toEqual([
      'input: none of number, description, message, module, procedure, line, code, data was given',
    ]);
  });

  it('replaces a lone surrogate, which JSON cannot carry to the collector, and says so', () => {
    const notes: string[] = [];
    const e = normalizeError(
      { description: 'bad \ud800 text', module: 'm', procedure: 'p' },
      notes,
    );
    expect(e.description).toBe('bad \ufffd text');
    expect(notes).toEqual(['description: a lone surrogate was replaced with U+FFFD']);
  });

  it('takes a boxed value as its value, and notes inputs that carry no report field', () => {
    const boxed: string[] = [];
    expect(normalizeError(new String('Disk full'), boxed).description).toBe('Disk full');
    expect(boxed).toEqual(['input: a string was given; used as the description']);
    const number: string[] = [];
    normalizeError(new Number(7), number);
    expect(number).toEqual(['input: not an object']);
    const list: string[] = [];
    expect(normalizeError([{ description: 'in an array' }], list).description).toBe('');
    expect(list).toEqual(['input: an array, not a report object; none of it was used']);
    for (const empty of [new Date(0), () => 1, Object.create(null) as object]) {
      const notes: string[] = [];
      normalizeError(empty, notes);
      expect(notes).toHaveLength(1);
      expect(notes[0]).toMatch(/^input: none of number, description/);
    }
    // one field is enough: data alone is a report of its dump
    const dataOnly: string[] = [];
    normalizeError({ data: { a: 1 } }, dataOnly);
    expect(dataOnly).toEqual([]);
  });

  it('mends every wrong type and writes a note per field, without values', () => {
    const notes: string[] = [];
    const secret = 'SECRET-VALUE';
    const e = normalizeError(
      {
        number: 'nope',
        description: { secret },
        module: '',
        procedure: 42,
        line: -5,
        code: 'x'.repeat(5000),
      },
      notes,
    );
    expect(e.number).toBe(0);
    expect(e.description).toBe('');
    expect(e.module).toBe('(unknown)');
    expect(e.procedure).toBe('42');
    expect(e.line).toBe(0);
    expect(codePoints(e.code!)).toBe(LIMITS.code.max);
    expect(asReport(e).ok).toBe(true);
    expect(notes.join(' ')).toMatch(/number.*line.*description.*code/);
    expect(notes.join(' ')).not.toContain(secret);
  });

  it('says what it changed: text made of a number, an empty module, a clamped line, a typo', () => {
    const notes: string[] = [];
    const e = normalizeError(
      { number: 91, description: 123, module: ' ', procedure: 'p', line: 2 ** 31, procedur: 'x' },
      notes,
    );
    expect(e).toMatchObject({ description: '123', module: '(unknown)', line: 2147483647 });
    expect(notes).toEqual([
      'line: over 2147483647; set to it',
      'description: a number; sent as text',
      'module: empty; set to (unknown)',
      'input: procedur: not a field; left out',
    ]);
    const more: string[] = [];
    normalizeError({ line: 1.5, a: 1, b: 2, c: 3, d: 4, e: 5, f: 6, g: 7 }, more);
    expect(more).toEqual([
      'line: not a whole number; its fraction dropped',
      'input: a, b, c, d, e, and 2 more: not a field; left out',
    ]);
    // A name that is no programmer's (an e-mail address, a phone number, words) may be a value
    // put where a name goes: counted, never shown.
    const values: string[] = [];
    const odd = {
      'anna@example.com': 1,
      '07700 900123': 2,
      'Anna Smith': 3,
      ['x'.repeat(41)]: 4,
      QQ123456C: 5,
      '07700900123': 6,
    };
    normalizeError({ description: 'd', procedur: 'p', ...odd }, values);
    expect(values).toEqual(['input: procedur, and 6 more: not a field; left out']);
    const onlyOdd: string[] = [];
    normalizeError({ description: 'd', 'anna@example.com': 1 }, onlyOdd);
    expect(onlyOdd).toEqual(['input: 1 more: not a field; left out']);
    // a logged error parsed back to a plain object is no typo either
    const parsed: string[] = [];
    normalizeError({ name: 'TypeError', message: 'm', stack: 's', description: 'd' }, parsed);
    expect(parsed).toEqual([]);
    // a revoked Proxy is read as far as it can be, and still makes a report
    const { proxy, revoke } = Proxy.revocable({ description: 'd' }, {});
    revoke();
    const revoked: string[] = [];
    expect(asReport(normalizeError(proxy, revoked)).ok).toBe(true);
    expect(revoked).toContain('number: reading it threw');
    // an Error's own extras (errno, syscall) are no typo
    const err = Object.assign(new Error('gone'), { errno: -2, syscall: 'open' });
    const fromError: string[] = [];
    normalizeError(err, fromError);
    expect(fromError).toEqual(['description: none given; the message was used']);
  });

  it('survives throwing getters, strings and non-objects', () => {
    const hostile = {
      get number(): number {
        throw new Error('boom');
      },
      description: 'ok',
    };
    const notes: string[] = [];
    expect(normalizeError(hostile, notes)).toMatchObject({ number: 0, description: 'ok' });
    expect(notes).toContain('number: reading it threw');
    expect(normalizeError('just text', []).description).toBe('just text');
    for (const weird of [undefined, null, 42, Symbol('s'), () => 1]) {
      expect(asReport(normalizeError(weird, [])).ok).toBe(true);
    }
  });

  it('does not read the data field', () => {
    let touched = false;
    const input = {
      description: 'x',
      get data() {
        touched = true;
        return 1;
      },
    };
    normalizeError(input, []);
    expect(touched).toBe(false);
  });
});

describe('resolveUsername', () => {
  it('an empty or only-spaces name is none, not one more user (said to no one: nothing is wrong)', () => {
    const failures: string[] = [];
    for (const blank of ['', ' ', '\t \n', () => '   ']) {
      expect(resolveUsername(blank, (w) => failures.push(w))).toBeUndefined();
    }
    expect(failures).toEqual([]);
    expect(resolveUsername(' bob ', (w) => failures.push(w))).toBe(' bob ');
  });

  it('takes a string or a function; a throwing function gives none', () => {
    const failures: string[] = [];
    expect(resolveUsername('bob', (w) => failures.push(w))).toBe('bob');
    expect(
      resolveUsername(
        () => 'ann',
        (w) => failures.push(w),
      ),
    ).toBe('ann');
    expect(
      resolveUsername(
        () => {
          throw new Error('no session');
        },
        (w) => failures.push(w),
      ),
    ).toBeUndefined();
    expect(resolveUsername((() => 7) as never, (w) => failures.push(w))).toBeUndefined();
    expect(failures).toHaveLength(2);
    expect(codePoints(resolveUsername('u'.repeat(300), () => undefined)!)).toBe(256);
  });
});

describe('describeError', () => {
  it("names a system error's code, never a host's own code, which may be data", () => {
    expect(describeError(Object.assign(new Error('x'), { code: 'ENOENT' }))).toBe('Error ENOENT');
    expect(describeError(Object.assign(new TypeError('x'), { code: 'ERR_INVALID_ARG' }))).toBe(
      'TypeError ERR_INVALID_ARG',
    );
    for (const code of ['CLIENT-QQ123456C', 'asmith', 'Account 12345678', 42]) {
      expect(describeError(Object.assign(new Error('x'), { code }))).toBe('Error');
    }
    expect(describeError('a thrown string')).toBe('string');
  });
});
