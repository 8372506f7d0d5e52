import {
  validateReport,
  sealDump,
  generateDumpKeyPair,
  hasLoneSurrogate,
  LIMITS,
  toWellFormed,
} from '../src';
import { spawnSync } from 'node:child_process';
import { validReport } from './fixtures';

type Mutate = (r: Record<string, any>) => void;

function check(mutate: Mutate) {
  const r: Record<string, any> = JSON.parse(JSON.stringify(validReport()));
  mutate(r);
  return validateReport(r);
}

function expectValid(mutate: Mutate) {
  const v = check(mutate);
  if (!v.ok) throw new Error(`expected valid, got ${JSON.stringify(v.errors)}`);
}

function expectInvalid(mutate: Mutate, path: string) {
  const v = check(mutate);
  expect(v.ok).toBe(false);
  if (!v.ok) expect(v.errors.map((e) => e.path)).toContain(path);
}

const s = (n: number) => 'x'.repeat(n);

describe('validateReport', () => {
  it('accepts a full report and a minimal one', () => {
    expectValid(() => {});
    expectValid((r) => {
      delete r.username;
      delete r.repeats;
      delete r.error.code;
    });
  });

  it('rejects what is not an object', () => {
    for (const body of [null, 1, 'x', [], true]) {
      const v = validateReport(body);
      expect(v.ok).toBe(false);
    }
  });

  const stringBounds: [string, (r: any, v: string) => void, { min: number; max: number }][] = [
    ['/app/name', (r, v) => (r.app.name = v), LIMITS.appName],
    ['/license', (r, v) => (r.license = v), LIMITS.license],
    ['/username', (r, v) => (r.username = v), LIMITS.username],
    ['/error/description', (r, v) => (r.error.description = v), LIMITS.description],
    ['/error/module', (r, v) => (r.error.module = v), LIMITS.module],
    ['/error/procedure', (r, v) => (r.error.procedure = v), LIMITS.procedure],
    ['/error/code', (r, v) => (r.error.code = v), LIMITS.code],
  ];
  it.each(stringBounds)('%s: bounds are inclusive at both edges', (path, set, b) => {
    expectValid((r) => set(r, s(b.min)));
    expectValid((r) => set(r, s(b.max)));
    expectInvalid((r) => set(r, s(b.max + 1)), path);
    if (b.min > 0) expectInvalid((r) => set(r, s(b.min - 1)), path);
    expectInvalid((r) => set(r, 5 as unknown as string), path);
  });

  it('counts code points, not UTF-16 units, for string bounds', () => {
    expectValid((r) => (r.app.name = '😀'.repeat(64)));
    expectInvalid((r) => (r.app.name = '😀'.repeat(65)), '/app/name');
  });

  it('/app/version: 1-64 dotted numbers', () => {
    expectValid((r) => (r.app.version = '5'));
    expectValid((r) => (r.app.version = '1.' + '2'.repeat(62)));
    expectInvalid((r) => (r.app.version = '1.' + '2'.repeat(63)), '/app/version');
    expectInvalid((r) => (r.app.version = ''), '/app/version');
    expectInvalid((r) => (r.app.version = '5.2-beta'), '/app/version');
  });

  const intBounds: [string, (r: any, v: unknown) => void, { min: number; max: number }][] = [
    ['/error/number', (r, v) => (r.error.number = v), LIMITS.errorNumber],
    ['/error/line', (r, v) => (r.error.line = v), LIMITS.line],
    ['/repeats', (r, v) => (r.repeats = v), LIMITS.repeats],
  ];
  it.each(intBounds)('%s: integer bounds at both edges', (path, set, b) => {
    expectValid((r) => set(r, b.min));
    expectValid((r) => set(r, b.max));
    expectInvalid((r) => set(r, b.min - 1), path);
    expectInvalid((r) => set(r, b.max + 1), path);
    expectInvalid((r) => set(r, 1.5), path);
    expectInvalid((r) => set(r, '1'), path);
  });

  it('accepts vbObjectError-based negative numbers', () => {
    expectValid((r) => (r.error.number = -2147221504 + 513));
  });

  it('requires each required field', () => {
    expectInvalid((r) => delete r.schema, '/schema');
    expectInvalid((r) => delete r.id, '/id');
    expectInvalid((r) => delete r.occurredAt, '/occurredAt');
    expectInvalid((r) => delete r.app.name, '/app/name');
    expectInvalid((r) => delete r.app.version, '/app/version');
    expectInvalid((r) => delete r.license, '/license');
    expectInvalid((r) => delete r.error.number, '/error/number');
    expectInvalid((r) => delete r.error.description, '/error/description');
    expectInvalid((r) => delete r.error.module, '/error/module');
    expectInvalid((r) => delete r.error.procedure, '/error/procedure');
    expectInvalid((r) => delete r.error.line, '/error/line');
  });

  it('checks schema, id and occurredAt formats', () => {
    expectInvalid((r) => (r.schema = 2), '/schema');
    expectInvalid((r) => (r.id = '3F2B8C1E-9A4D-4E6F-8B2A-1C3D5E7F9A0B'), '/id');
    expectInvalid((r) => (r.id = 'not-a-uuid'), '/id');
    expectInvalid((r) => (r.occurredAt = '2026-11-28'), '/occurredAt');
    expectInvalid((r) => (r.occurredAt = '2026-13-28T10:15:00Z'), '/occurredAt');
    expectValid((r) => (r.occurredAt = '2026-11-28T10:15:00.123+01:00'));
    // RFC 3339 writes an offset as +hh:mm; ISO 8601's +hh and +hhmm are not RFC 3339.
    expectInvalid((r) => (r.occurredAt = '2026-11-28T10:15:00+01'), '/occurredAt');
    expectInvalid((r) => (r.occurredAt = '2026-11-28T10:15:00+0100'), '/occurredAt');
    expectValid((r) => (r.occurredAt = '2026-11-28t10:15:00z'));
    expectValid((r) => (r.occurredAt = '2026-11-28 10:15:00Z'));
  });

  it('refuses unknown properties at every level', () => {
    expectInvalid((r) => (r.extra = 1), '/extra');
    expectInvalid((r) => (r.app.extra = 1), '/app/extra');
    expectInvalid((r) => (r.error.stack = 'x'), '/error/stack');
  });

  it('refuses __proto__ and constructor keys', () => {
    const v1 = validateReport(
      JSON.parse(JSON.stringify(validReport()).replace('{', '{"__proto__":{"x":1},')),
    );
    expect(v1.ok).toBe(false);
    if (!v1.ok) expect(v1.errors[0].path).toBe('/__proto__');
    expectInvalid((r) => (r.error.constructor = 'x'), '/error/constructor');
  });

  it('tells at most 20 problems, long keys cut short: a crafted body costs no more', () => {
    // A 100,000-character key holding objects that each hold __proto__ and constructor: answering
    // every problem with its full path once made a 138 KB body (a thousand of them) a 10 MB
    // answer and 9 s of work. A thousand is now one problem (too many fields); thirty are 60.
    const key = 'k'.repeat(100_000);
    const kids = Array.from({ length: 30 }, (_, i) => `"${i}":{"__proto__":1,"constructor":1}`);
    const v = validateReport(JSON.parse(`{"${key}":{${kids.join(',')}}}`));
    expect(v.ok).toBe(false);
    if (v.ok) return;
    expect(v.errors).toHaveLength(20);
    expect(v.errors[0]).toEqual({
      path: `/${'k'.repeat(64)}…/0/__proto__`,
      message: 'is a forbidden key',
    });
    for (const e of v.errors) expect(e.path.length).toBeLessThan(100);
    // An object with more fields than any of the schema's is one problem, not one per field.
    const wide = validateReport({
      ...validReport(),
      ...Object.fromEntries(Array.from({ length: 40_000 }, (_, i) => [`k${i}`, 1])),
    });
    expect(wide).toEqual({
      ok: false,
      errors: [
        { path: '', message: 'has 40008 fields: no object of report schema 1 has more than 10' },
      ],
    });
    // Unknown fields within that bound are each told, up to 20, their names cut as well.
    const many = check((r) => {
      for (let i = 10; i < 32; i++) r[`${i}${'x'.repeat(200)}`] = 1;
    });
    expect(many.ok).toBe(false);
    if (!many.ok) {
      expect(many.errors).toHaveLength(20);
      expect(many.errors[0]).toEqual({
        path: `/10${'x'.repeat(62)}…`,
        message: 'is not a field of report schema 1',
      });
    }
  });

  it('accepts a sealed dump, refuses one with bad key lengths, and refuses dump with dumpWithheld', () => {
    const { publicKey } = generateDumpKeyPair();
    const dump = sealDump('{"a":1}', publicKey, 'k1');
    expectValid((r) => (r.dump = dump));
    expectValid((r) => (r.dumpWithheld = 'user-opt-out'));
    expectInvalid((r) => (r.dumpWithheld = 'because'), '/dumpWithheld');
    expectInvalid((r) => ((r.dump = dump), (r.dumpWithheld = 'too-large')), '/dumpWithheld');
    expectInvalid((r) => (r.dump = { ...dump, epk: dump.nonce }), '/dump/epk');
    expectInvalid((r) => (r.dump = { ...dump, nonce: dump.epk }), '/dump/nonce');
    expectInvalid((r) => (r.dump = { ...dump, ciphertext: '***' }), '/dump/ciphertext');
    expectInvalid((r) => (r.dump = { ...dump, alg: 'aes' }), '/dump/alg');
    expectInvalid((r) => (r.dump = { ...dump, keyId: '' }), '/dump/keyId');
    expectInvalid((r) => (r.dump = { ...dump, extra: 1 }), '/dump/extra');
  });

  it('reports every failing field at once', () => {
    const v = check((r) => {
      r.error.line = -1;
      r.license = '';
    });
    expect(v.ok).toBe(false);
    if (!v.ok) expect(v.errors.map((e) => e.path).sort()).toEqual(['/error/line', '/license']);
  });

  it('says what is wrong in plain words, as the contract example does', () => {
    const v = check((r) => {
      r.error.line = 'x';
      r.username = null;
      r.app.name = '';
      r.license = s(65);
      r.repeats = -1;
      r.dump = 'sealed';
      delete r.dumpWithheld;
    });
    expect(v.ok).toBe(false);
    if (v.ok) return;
    expect(v.errors).toEqual(
      expect.arrayContaining([
        { path: '/error/line', message: 'must be an integer' },
        { path: '/username', message: 'must be a string' },
        { path: '/app/name', message: 'must not be empty' },
        { path: '/license', message: 'must be at most 64 characters' },
        { path: '/repeats', message: 'must be >= 0' },
        { path: '/dump', message: 'must be an object' },
      ]),
    );
  });
});

describe('lone surrogates', () => {
  it('are found, and mended to U+FFFD as UTF-8 would store them; pairs are left alone', () => {
    const pair = '\ud83d\ude00';
    for (const [text, lone, mended] of [
      ['plain', false, 'plain'],
      [`a${pair}b`, false, `a${pair}b`],
      ['a\ud800b', true, 'a\ufffdb'],
      ['\udc00x\ud83d', true, '\ufffdx\ufffd'],
      [`\ud800${pair}\udfff`, true, `\ufffd${pair}\ufffd`],
    ] as const) {
      expect(hasLoneSurrogate(text)).toBe(lone);
      expect(toWellFormed(text)).toBe(mended);
      expect(Buffer.from(toWellFormed(text), 'utf8').toString('utf8')).toBe(mended);
    }
  });
});

describe('in a program whose Object.prototype was polluted (a separate process)', () => {
  const dist = require.resolve('../dist/index.js');
  const run = (script: string) => {
    const r = spawnSync(
      process.execPath,
      ['-e', `const p = require(${JSON.stringify(dist)});\n${script}`],
      {
        encoding: 'utf8',
      },
    );
    return { status: r.status, out: r.stdout.trim(), err: r.stderr };
  };
  const report = JSON.stringify(validReport());

  it('validates an own-properties copy with any polluted value, and puts the prototype back exactly', () => {
    const r = run(`
      let reads = 0;
      Object.defineProperty(Object.prototype, 'viaGetter', { enumerable: true, configurable: true, get() { reads++; return true; } });
      Object.prototype.isAdmin = true;
      const own = (v) => { if (typeof v !== 'object' || v === null) return v; const c = Object.create(null); for (const k of Object.keys(v)) c[k] = own(v[k]); return c; };
      const good = JSON.parse(${JSON.stringify(report)});
      const results = [p.validateReport(own(good)).ok, p.validateReport(own({ ...good, email: 'x' })).ok];
      const d = Object.getOwnPropertyDescriptor(Object.prototype, 'viaGetter');
      console.log(JSON.stringify({ results, isAdmin: ({}).isAdmin, getter: typeof d.get, enumerable: d.enumerable, keys: Object.keys(Object.prototype) }));
    `);
    expect(r.err).toBe('');
    expect(JSON.parse(r.out)).toEqual({
      results: [true, false],
      isAdmin: true,
      getter: 'function',
      enumerable: true,
      keys: expect.arrayContaining(['viaGetter', 'isAdmin']),
    });
  });

  it('leaves a prototype that cannot take properties back as it was', () => {
    const r = run(`
      Object.prototype.isAdmin = true;
      Object.preventExtensions(Object.prototype);
      const tries = [];
      for (let i = 0; i < 2; i++) {
        try { p.validateReport({ schema: 1 }); tries.push('ok'); } catch { tries.push('threw'); }
      }
      console.log(JSON.stringify({ isAdmin: ({}).isAdmin, own: Object.keys(Object.prototype), tries }));
    `);
    // nothing taken off that could not be put back; the check fails, every time, without a crash
    expect(JSON.parse(r.out)).toEqual({
      isAdmin: true,
      own: ['isAdmin'],
      tries: ['threw', 'threw'],
    });
  });
});
