import fc from 'fast-check';
import { DEFAULT_REDACT_KEYS, createRedactor } from '../src/dump/redact';
import { CUT, DEFAULT_DUMP_LIMITS, serializeDump, type DumpLimits } from '../src/dump/serialize';

const redactor = createRedactor({ keys: DEFAULT_REDACT_KEYS, cardNumbers: true });

function dump(value: unknown, limits: Partial<DumpLimits> = {}) {
  const r = serializeDump(value, { ...DEFAULT_DUMP_LIMITS, ...limits }, redactor);
  if (!r.ok) throw new Error(`withheld: ${r.withheld}`);
  return { value: JSON.parse(r.json), truncated: r.truncated, json: r.json };
}

describe('serializeDump', () => {
  it('keeps plain data as it is', () => {
    const data = { client: 'Smith £', balance: 1250.5, active: true, tags: ['a', 'b'], none: null };
    expect(dump(data)).toEqual({ value: data, truncated: false, json: JSON.stringify(data) });
  });

  it('handles cycles, shared references, BigInt, Dates, NaN and -0', () => {
    const shared = { n: 1 };
    const o: Record<string, unknown> = { a: shared, b: shared, big: 12345678901234567890n };
    o.self = o;
    o.when = new Date('2026-11-28T10:00:00Z');
    o.bad = new Date('nope');
    o.nan = NaN;
    o.negZero = -0;
    o.undef = undefined;
    expect(dump(o).value).toEqual({
      a: { n: 1 },
      b: { n: 1 },
      big: '12345678901234567890n',
      self: '[Circular]',
      when: '2026-11-28T10:00:00.000Z',
      bad: 'Invalid Date',
      nan: 'NaN',
      negZero: 0,
      undef: '[undefined]',
    });
  });

  it('describes binary data, Maps, Sets, functions, symbols and class instances', () => {
    class Client {
      constructor(
        public id: number,
        public name: string,
      ) {}
      greet() {
        return this.name;
      }
    }
    const value = dump({
      buf: Buffer.from('hello'),
      u8: new Uint8Array([1, 2]),
      f64: new Float64Array([1.5, 2.5]),
      big64: new BigInt64Array([3n]),
      ab: new ArrayBuffer(3),
      map: new Map<unknown, unknown>([
        ['x', 1],
        [{ k: 1 }, 'objkey'],
        ['password', 'hunter2'],
      ]),
      set: new Set([1, 'two']),
      fn: function namedFn() {},
      arrow: () => 1,
      sym: Symbol('s'),
      client: new Client(7, 'Ann'),
      err: Object.assign(new TypeError('bad'), { code: 'E_BAD' }),
      re: /ab+c/gi,
      promise: Promise.resolve(1),
    }).value;
    expect(value.buf).toEqual({ $type: 'Buffer', byteLength: 5, hex: '68656c6c6f' });
    expect(value.u8).toEqual({ $type: 'Uint8Array', byteLength: 2, hex: '0102' });
    expect(value.f64).toEqual({ $type: 'Float64Array', byteLength: 16, values: [1.5, 2.5] });
    expect(value.big64).toEqual({ $type: 'BigInt64Array', byteLength: 8, values: ['3n'] });
    expect(value.ab).toEqual({ $type: 'ArrayBuffer', byteLength: 3, hex: '000000' });
    expect(value.map).toEqual({
      $type: 'Map',
      size: 3,
      entries: [
        ['x', 1],
        [{ k: 1 }, 'objkey'],
        ['password', '[redacted]'],
      ],
    });
    expect(value.set).toEqual({ $type: 'Set', size: 2, values: [1, 'two'] });
    expect(value.fn).toBe('[Function namedFn]');
    expect(value.arrow).toBe('[Function arrow]');
    expect(value.sym).toBe('Symbol(s)');
    expect(value.client).toEqual({ $type: 'Client', id: 7, name: 'Ann' });
    expect(value.err).toMatchObject({ $type: 'TypeError', message: 'bad', code: 'E_BAD' });
    // Its stack is left out: the frames' file paths may name the user.
    expect(value.err).not.toHaveProperty('stack');
    expect(value.re).toBe('/ab+c/gi');
    expect(value.promise).toBe('[Promise]');
  });

  it("keeps an error's cause and an AggregateError's errors, which are not enumerable", () => {
    const root = new RangeError('disk full');
    const outer = new Error('save failed', { cause: root });
    const loop = new Error('loops');
    (loop as { cause?: unknown }).cause = loop;
    const all = new AggregateError([new Error('a'), 'b'], 'two failed');
    const { value } = dump({ outer, loop, all, plain: new Error('none') });
    expect(value.outer).toEqual({
      $type: 'Error',
      message: 'save failed',
      cause: { $type: 'RangeError', message: 'disk full' },
    });
    expect(value.loop.cause).toBe('[Circular]');
    expect(value.all).toEqual({
      $type: 'AggregateError',
      message: 'two failed',
      errors: [{ $type: 'Error', message: 'a' }, 'b'],
    });
    expect(value.plain).toEqual({ $type: 'Error', message: 'none' });
  });

  it("honours a plain object's own toJSON, as JSON.stringify does", () => {
    const data = {
      custom: { secretShape: 1, toJSON: () => ({ replaced: true }) },
      bare: Object.assign(Object.create(null), { toJSON: () => 'from toJSON' }),
    };
    expect(dump(data).json).toBe(JSON.stringify(data));
    expect(dump(data).value).toEqual({ custom: { replaced: true }, bare: 'from toJSON' });
  });

  it('writes Number, Boolean and String objects as their values, as JSON.stringify does', () => {
    const data = {
      n: new Number(5),
      b: new Boolean(false),
      s: new String('hi'),
      nan: new Number(NaN),
      list: [new Number(-0), new String('')],
    };
    expect(dump(data).value).toEqual({ n: 5, b: false, s: 'hi', nan: 'NaN', list: [0, ''] });
    expect(dump({ n: data.n, b: data.b, s: data.s }).json).toBe('{"n":5,"b":false,"s":"hi"}');
    // A boxed String is a string: its card numbers redacted, and cut at the string limit.
    const card = dump({ s: new String('card 4111 1111 1111 1111') }).value;
    expect(card).toEqual({ s: 'card [redacted card number]' });
    const long = dump({ s: new String('x'.repeat(300_000)) });
    expect(long.truncated).toBe(true);
    expect(long.value.s.endsWith(CUT)).toBe(true);
    // A boxed BigInt is a BigInt; an own valueOf is not called (no host code runs in the walk).
    const sneaky = Object.assign(new Number(7), {
      valueOf() {
        throw new Error('host code');
      },
    });
    expect(dump({ big: Object(12n), sneaky }).value).toEqual({ big: '12n', sneaky: 7 });
    // one at the depth limit is a value, not a level
    expect(dump([[new String('deep')]], { maxDepth: 2 })).toMatchObject({
      value: [['deep']],
      truncated: false,
    });
  });

  it('survives throwing getters, revoked proxies and hostile toJSON', () => {
    const { proxy, revoke } = Proxy.revocable({}, {});
    revoke();
    class Hostile {
      toJSON() {
        throw new Error('no');
      }
    }
    const value = dump({
      get boom(): number {
        throw new Error('getter');
      },
      proxy,
      hostile: new Hostile(),
      ok: 1,
    }).value;
    expect(value).toEqual({
      boom: '[getter threw]',
      proxy: '[unserializable]',
      hostile: { $type: 'Hostile' },
      ok: 1,
    });
  });

  it('redacts keys without reading their values, and card numbers in values', () => {
    let read = false;
    const data = {
      get password() {
        read = true;
        return 'hunter2';
      },
      nested: { sort_code: '12-34-56', AccountNumber: 12345678, note: 'card 4111 1111 1111 1111' },
      cardAsNumber: 4111111111111111,
    };
    const { value, json } = dump(data);
    expect(read).toBe(false);
    expect(value).toEqual({
      password: '[redacted]',
      nested: {
        sort_code: '[redacted]',
        AccountNumber: '[redacted]',
        note: 'card [redacted card number]',
      },
      cardAsNumber: '[redacted card number]',
    });
    expect(json).not.toMatch(/hunter2|12-34-56|12345678|4111/);
  });

  it('redacts card numbers in keys, as in values, keeping every value when keys come out alike', () => {
    const data = {
      '4111111111111111': 'a',
      '5555 5555 5555 4444': 'b',
      // A key of the object that reads as the marker keeps that name (and, naming a card
      // number, has its value redacted): the card-number keys take the next free names.
      '[redacted card number]': 'c',
      'card 4111-1111-1111-1111 notes': { '378282246310005': 'd' },
      '1700000000004': 'a timestamp key, kept',
    };
    const { value, json } = dump(data);
    expect(value).toEqual({
      '1700000000004': 'a timestamp key, kept',
      '[redacted card number]': '[redacted]',
      '[redacted card number] (2)': 'a',
      '[redacted card number] (3)': 'b',
      'card [redacted card number] notes': { '[redacted card number]': 'd' },
    });
    expect(json).not.toMatch(/4111|5555|378282/);
    // with card scanning off, keys are left alone too
    const off = createRedactor({ keys: DEFAULT_REDACT_KEYS, cardNumbers: false });
    const kept = serializeDump(data, DEFAULT_DUMP_LIMITS, off);
    expect(kept.ok && JSON.parse(kept.json)).toEqual({
      ...data,
      '[redacted card number]': '[redacted]',
    });
  });

  it('withholds the bytes of binary data that hold a card number as text', () => {
    const record = Buffer.from('ACCT;Ann;4111 1111 1111 1111;12/29');
    // 60 bytes before it: the preview shows 64, the number runs across its end.
    const across = Buffer.concat([Buffer.alloc(60, 0x20), Buffer.from('5555555555554444')]);
    // spaced out as far as the scan takes it, starting late in the preview
    const spaced = Buffer.concat([
      Buffer.alloc(56, 0x20),
      Buffer.from('4 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1'),
    ]);
    const wide = Buffer.from('card 4111 1111 1111 1111', 'utf16le'); // a Windows string
    const data = {
      record,
      across,
      bytes: new Uint8Array(record),
      arrayBuffer: record.buffer.slice(record.byteOffset, record.byteOffset + record.length),
      timestamp: Buffer.from('t=1700000000004'),
      spaced,
      wide,
    };
    const { value, json } = dump(data);
    const withheld = '[redacted: holds a card number]';
    expect(value.record).toEqual({ $type: 'Buffer', byteLength: record.length, hex: withheld });
    expect(value.across).toEqual({ $type: 'Buffer', byteLength: 76, hex: withheld });
    expect(value.bytes.hex).toBe(withheld);
    expect(value.arrayBuffer.hex).toBe(withheld);
    expect(value.spaced.hex).toBe(withheld);
    expect(value.wide.hex).toBe(withheld);
    expect(value.timestamp.hex).toBe(Buffer.from('t=1700000000004').toString('hex'));
    expect(json).not.toContain(Buffer.from('4111').toString('hex'));
    expect(json).not.toContain(Buffer.from('5555').toString('hex'));
    // with card scanning off, the bytes go as they are
    const off = createRedactor({ keys: DEFAULT_REDACT_KEYS, cardNumbers: false });
    const kept = serializeDump({ record }, DEFAULT_DUMP_LIMITS, off);
    expect(kept.ok && JSON.parse(kept.json).record.hex).toBe(record.toString('hex'));
  });

  it('redacts a card number that a long string is cut across, wherever the cut falls', () => {
    // Over 256 KiB of card numbers, shifted by every offset of the unit: wherever the cutting
    // attempts cut the string, in some of these runs it is through a card number.
    const unit = 'card 4111 1111 1111 1111; ';
    for (let pad = 0; pad < unit.length; pad++) {
      const note = 'p'.repeat(pad) + unit.repeat(12_000);
      const { value } = dump({ note });
      expect(value.note.endsWith(CUT)).toBe(true);
      // Not even the first digits of one are left: the check digit would complete 15 of them.
      expect(value.note).not.toMatch(/4111|1111/);
    }
  });

  it('keeps millisecond timestamps, even the one in ten that passes the Luhn check', () => {
    const { value } = dump({ createdAt: 1700000000004, at: '1700000000004', when: new Date(0) });
    expect(value).toEqual({
      createdAt: 1700000000004,
      at: '1700000000004',
      when: '1970-01-01T00:00:00.000Z',
    });
  });

  it('bounds depth and breadth, marking what it cut', () => {
    let deep: Record<string, unknown> = { leaf: true };
    for (let i = 0; i < 20; i++) deep = { next: deep };
    const d = dump(deep, { maxDepth: 3 });
    expect(d.truncated).toBe(true);
    expect(d.value).toEqual({ next: { next: { next: '[Object]' } } });

    const wide = dump({ list: Array.from({ length: 500 }, (_, i) => i) }, { maxBreadth: 10 });
    expect(wide.value.list).toHaveLength(11);
    expect(wide.value.list[10]).toBe('[… 490 more items]');
    const keys = dump(Object.fromEntries(Array.from({ length: 50 }, (_, i) => [`k${i}`, i])), {
      maxBreadth: 5,
    });
    expect(Object.keys(keys.value)).toHaveLength(6);
    expect(keys.value['…']).toBe('[45 more keys]');
  });

  it('keeps the JSON within maxBytes, cutting with a marker', () => {
    const big = {
      text: 'é'.repeat(1_000_000),
      list: Array.from({ length: 5000 }, () => 'x'.repeat(200)),
    };
    const r = serializeDump(big, DEFAULT_DUMP_LIMITS, redactor);
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    expect(Buffer.byteLength(r.json)).toBeLessThanOrEqual(256 * 1024);
    expect(r.truncated).toBe(true);
    expect(r.json).toContain(CUT);
  });

  it('under a small maxBytes, cuts a long string rather than everything after it, and fills most of the room', () => {
    const data = {
      client: { name: 'Smith & Sons', id: 4411, notes: 'x'.repeat(500) },
      holdings: Array.from({ length: 50 }, (_, i) => ({ fund: `F${i}`, units: i * 10 })),
      memo: 'y'.repeat(300),
    };
    for (const maxBytes of [512, 1024, 2048]) {
      const r = serializeDump(data, { ...DEFAULT_DUMP_LIMITS, maxBytes }, redactor);
      expect(r.ok).toBe(true);
      if (!r.ok) return;
      const bytes = Buffer.byteLength(r.json);
      expect(bytes).toBeLessThanOrEqual(maxBytes);
      // The cut used to keep 91 of 512 bytes: each try after one that came out too long had
      // half the room.
      expect(bytes).toBeGreaterThan(maxBytes * 0.75);
      const value = JSON.parse(r.json);
      expect(value.client.name).toBe('Smith & Sons');
      expect(value.client.notes).toMatch(/^x+\[…truncated\]$/);
      // It used to spend the room on the 500-character string, leaving the holdings out.
      expect(value.holdings[0]).toEqual({ fund: 'F0', units: 0 });
    }
  });

  it('withholds as too-large what cannot fit at all', () => {
    const r = serializeDump(
      { a: 'x'.repeat(1000) },
      { ...DEFAULT_DUMP_LIMITS, maxBytes: 1 },
      redactor,
    );
    expect(r).toEqual({ ok: false, withheld: 'too-large' });
    // nor is a dump cut to the marker alone sent, though the marker itself would fit
    for (const maxBytes of [16, 20]) {
      const cut = serializeDump(
        { customer: { name: 'Smith', id: 42 } },
        { ...DEFAULT_DUMP_LIMITS, maxBytes },
        redactor,
      );
      expect(cut).toEqual({ ok: false, withheld: 'too-large' });
    }
    // a little more room keeps something of the data
    const some = serializeDump(
      { customer: { name: 'Smith', id: 42 } },
      { ...DEFAULT_DUMP_LIMITS, maxBytes: 30 },
      redactor,
    );
    expect(some.ok && some.json).toMatch(/^\{"customer"/);
  });

  it('cuts a 10 MB string to the limit', () => {
    // (How long it takes is the benchmark's business, not a unit test's.)
    const r = serializeDump({ s: 'y'.repeat(10 * 1024 * 1024) }, DEFAULT_DUMP_LIMITS, redactor);
    expect(r.ok && r.truncated).toBe(true);
    expect(r.ok && Buffer.byteLength(r.json)).toBeLessThanOrEqual(256 * 1024);
  });

  it("lists a wide object's keys once for all its attempts, not once each", () => {
    // V8 lists keys whole, some 0.3 us each: 2 million keys held the host for 0.6 s a listing.
    // Too wide for the whole-data walk, so a cutting walk follows it.
    const target = Object.fromEntries(Array.from({ length: 100_000 }, (_, i) => [`k${i}`, i]));
    let listings = 0;
    const wide = new Proxy(target, {
      ownKeys(t) {
        listings++;
        return Reflect.ownKeys(t);
      },
    });
    const { value, truncated } = dump({ wide });
    expect(truncated).toBe(true);
    expect(Object.keys(value.wide)).toHaveLength(201); // 200 kept, and the count of the rest
    expect(value.wide['…']).toBe('[99800 more keys]');
    expect(listings).toBe(1);
  });

  it('keeps a key named __proto__ as a plain key', () => {
    const data = JSON.parse('{"__proto__": {"polluted": 1}, "a": 1}');
    expect(dump(data).json).toBe('{"__proto__":{"polluted":1},"a":1}');
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });
});

describe('serializeDump: data within the limits', () => {
  // No redaction here: what is checked is that nothing else changes the data.
  const plain = createRedactor({ keys: [], cardNumbers: false });
  const whole = (value: unknown) =>
    expect(serializeDump(value, DEFAULT_DUMP_LIMITS, plain)).toEqual({
      ok: true,
      json: JSON.stringify(value),
      truncated: false,
    });

  function nestedArrays(levels: number): unknown {
    let value: unknown = ['bottom'];
    for (let i = 1; i < levels; i++) value = [i, value];
    return value;
  }

  it('comes out exactly as JSON.stringify writes it, up to 256 KiB and 64 levels', () => {
    whole(Array.from({ length: 1000 }, (_, i) => i));
    whole(Object.fromEntries(Array.from({ length: 1000 }, (_, i) => [`key${i}`, i])));
    whole(nestedArrays(64));
    // the most items 256 KiB of JSON can hold: [0,0,...] is 262,143 bytes
    whole(Array(131_071).fill(0));
    const rows = {
      rows: Array.from({ length: 2300 }, (_, i) => ({
        id: i,
        name: `client ${i}`,
        note: 'n'.repeat(70),
      })),
    };
    expect(JSON.stringify(rows).length).toBeGreaterThan(250_000); // just under 256 KiB
    whole(rows);
    whole({ letter: 'x'.repeat(200_000) });
    whole({ letter: 'é'.repeat(100_000) });
  });

  it('holds for any JSON value', () => {
    fc.assert(
      fc.property(fc.jsonValue({ maxDepth: 8 }), (value) => whole(value)),
      { numRuns: 300 },
    );
  });

  it('cuts the 65th level: the depth limit is 64', () => {
    const r = serializeDump(nestedArrays(65), DEFAULT_DUMP_LIMITS, plain);
    expect(r.ok && r.truncated).toBe(true);
    expect(r.ok && r.json).toContain('"[Array(1)]"');
  });

  it('over 256 KiB, cuts as before: 10 levels, 200 items, 16 KiB strings, then tighter', () => {
    let deep: Record<string, unknown> = { leaf: true };
    for (let i = 0; i < 20; i++) deep = { next: deep };
    const r = dump({ list: Array(200_000).fill(7), deep, letter: 'x'.repeat(100_000) });
    expect(r.truncated).toBe(true);
    expect(r.value.list).toHaveLength(201);
    expect(r.value.list[200]).toBe('[… 199800 more items]');
    // 10 levels from the top: the object holding `deep` is the first
    expect(JSON.stringify(r.value.deep).match(/next/g)).toHaveLength(9);
    expect(r.value.letter).toBe('x'.repeat(16 * 1024) + CUT);
  });

  it('bounds the work on huge data, even data that costs nothing per value', () => {
    // Counted, not timed: the values read from an array of two million.
    let reads = 0;
    const counted = new Proxy(
      Array.from({ length: 2_000_000 }, (_, i) => i),
      {
        get(target, key, receiver) {
          if (typeof key === 'string' && /^\d+$/.test(key)) reads++;
          return Reflect.get(target, key, receiver) as unknown;
        },
      },
    );
    const inner = Array(100_000).fill([]);
    const huge = [
      counted,
      new Float64Array(10_000_000),
      // 10^10 empty arrays if walked: only a limit on values walked stops this (an unbounded
      // walk would outlast the test's timeout)
      Array(100_000).fill(inner),
    ];
    for (const value of huge) {
      const r = serializeDump(value, DEFAULT_DUMP_LIMITS, plain);
      expect(r.ok && r.truncated).toBe(true);
      expect(r.ok && Buffer.byteLength(r.json)).toBeLessThanOrEqual(256 * 1024);
    }
    expect(reads).toBeGreaterThan(0);
    expect(reads).toBeLessThan(100_000);
  });
});

describe('serializeDump: data that cannot be serialised at all', () => {
  it('is withheld as unserializable, not sent as a placeholder', () => {
    const { proxy, revoke } = Proxy.revocable({}, {});
    revoke();
    const hostileKeys = new Proxy(
      {},
      {
        ownKeys() {
          throw new Error('no keys');
        },
      },
    );
    class Wrapper {
      toJSON() {
        return proxy;
      }
    }
    for (const value of [proxy, hostileKeys, new Wrapper()]) {
      expect(serializeDump(value, DEFAULT_DUMP_LIMITS, redactor)).toEqual({
        ok: false,
        withheld: 'unserializable',
      });
    }
    // inside something else, it is only a placeholder
    expect(dump([proxy, 1]).value).toEqual(['[unserializable]', 1]);
  });
});
