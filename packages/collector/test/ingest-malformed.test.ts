import crypto from 'node:crypto';
import { sealDump, type SealedDump } from '@jcs/protocol';
import { makeReport } from '../../../test-support/reports';
import { serveTestCollector, type ServedCollector } from './helpers/served';
import { rawRequest, type RawRequest } from './helpers/raw-http';
import { dayKeyFiles, ingestRowCounts, type RowCounts } from './helpers/ingest-rows';

/**
 * The table of malformed requests: every one gets its 4xx and error code (and, where a field is
 * at fault, that field's JSON pointer in `details`), stores nothing at all, and leaves the
 * collector healthy.
 */

let s: ServedCollector;
let empty: RowCounts;
let dump: SealedDump;

beforeAll(async () => {
  s = await serveTestCollector();
  empty = ingestRowCounts(s.collector.db);
  dump = sealDump(
    JSON.stringify({ client: 'Smith' }),
    s.collector.keyring.transport.publicKey,
    s.collector.keyring.transport.keyId,
  );
});
afterAll(() => s.stop());

/** A valid report with a valid sealed dump: each case breaks one thing of it. */
function base(): Record<string, any> {
  return JSON.parse(
    JSON.stringify(makeReport({ error: { code: 'Set rs = Nothing' }, repeats: 2, dump })),
  );
}

const b64 = (bytes: number) => crypto.randomBytes(bytes).toString('base64');

/** Sets (or, with `undefined`, deletes) the value at a slash path such as `error/line`. */
function withValue(path: string, value: unknown): Record<string, any> {
  const body = base();
  const keys = path.split('/');
  let at = body;
  for (const k of keys.slice(0, -1)) at = at[k];
  if (value === undefined) delete at[keys[keys.length - 1]];
  else at[keys[keys.length - 1]] = value;
  return body;
}

/** The JSON text of a valid report with raw JSON text spliced in after an object's `{`. */
function spliced(objectKey: string | null, insertion: string): string {
  const text = JSON.stringify(base());
  if (objectKey === null) return text.replace(/^\{/, `{${insertion},`);
  const marker = `"${objectKey}":{`;
  if (!text.includes(marker)) throw new Error(`no object ${objectKey}`);
  return text.replace(marker, `${marker}${insertion},`);
}

interface Case {
  name: string;
  status: number;
  code: string;
  /** a JSON pointer that must be among `details` */
  path?: string;
  /** what the message must say */
  message?: RegExp;
  /** a JSON body (serialised as it is) */
  body?: unknown;
  /** or the request exactly */
  raw?: () => Omit<RawRequest, 'path'>;
  /** the Authorization header; the ingest token when not given */
  auth?: (tokens: ServedCollector['tokens']) => string | undefined;
}

const json =
  (text: string | Buffer, headers: Record<string, string | undefined> = {}) =>
  () => ({
    body: text,
    headers: { 'Content-Type': 'application/json', ...headers },
  });

const cases: Case[] = [];
/** A 400 invalid_report case naming `path`; `body` is a value to serialise or JSON text. */
const invalid = (name: string, path: string, body: () => unknown) =>
  cases.push({
    name,
    status: 400,
    code: 'invalid_report',
    path,
    raw: () => {
      const b = body();
      return json(typeof b === 'string' ? b : JSON.stringify(b))();
    },
  });

// --- every field with a wrong type ---------------------------------------------------------
const WRONG_TYPES: [string, unknown[]][] = [
  ['schema', ['1', null, true, [1]]],
  ['id', [123, null, [crypto.randomUUID()], {}]],
  ['occurredAt', [1_700_000_000_000, null, {}]],
  ['app', ['JCS', [], null, 5]],
  ['app/name', [5, null, ['JCS']]],
  ['app/version', [5.2, null, {}]],
  ['license', [123, null, {}]],
  ['username', [42, null, [], false]],
  ['error', ['oops', [], null]],
  ['error/number', ['91', null, true, {}]],
  ['error/description', [5, null, {}]],
  ['error/module', [1, null]],
  ['error/procedure', [1, []]],
  ['error/line', ['120', null, false]],
  ['error/code', [1, {}, null]],
  ['repeats', ['3', null, []]],
  ['dump', ['sealed', [], null, 1]],
  ['dump/alg', [1, null]],
  ['dump/keyId', [1, null]],
  ['dump/epk', [1, null, []]],
  ['dump/nonce', [[], null]],
  ['dump/ciphertext', [1, null]],
];
for (const [path, values] of WRONG_TYPES) {
  for (const v of values) {
    invalid(`${path} as ${JSON.stringify(v)}`, `/${path}`, () => withValue(path, v));
  }
}
invalid('dumpWithheld as true (without dump)', '/dumpWithheld', () => ({
  ...withValue('dump', undefined),
  dumpWithheld: true,
}));
invalid('dumpWithheld as null (without dump)', '/dumpWithheld', () => ({
  ...withValue('dump', undefined),
  dumpWithheld: null,
}));
invalid('dumpWithheld not one of the three reasons', '/dumpWithheld', () => ({
  ...withValue('dump', undefined),
  dumpWithheld: 'user-said-no',
}));

// --- each bound crossed by one --------------------------------------------------------------
const over = (n: number) => 'x'.repeat(n);
const BOUNDS: [string, unknown][] = [
  ['schema', 0],
  ['schema', 2],
  ['app/name', ''],
  ['app/name', over(65)],
  ['app/version', ''],
  ['app/version', '1'.repeat(65)],
  ['license', ''],
  ['license', over(65)],
  ['username', over(257)],
  ['error/description', over(4097)],
  // 4097 code points, each two UTF-16 units: the bound counts code points
  ['error/description', '😀'.repeat(4097)],
  ['error/module', ''],
  ['error/module', over(257)],
  ['error/procedure', ''],
  ['error/procedure', over(257)],
  ['error/code', over(4097)],
  ['error/number', -2147483649],
  ['error/number', 2147483648],
  ['error/number', 91.5],
  ['error/line', -1],
  ['error/line', 2147483648],
  ['error/line', 120.5],
  ['repeats', -1],
  ['repeats', 2147483648],
  ['repeats', 0.5],
  ['dump/keyId', ''],
  ['dump/keyId', over(65)],
];
for (const [path, v] of BOUNDS) {
  const shown =
    typeof v === 'string' && v.length > 8 ? `${v.length} characters` : JSON.stringify(v);
  invalid(`${path} out of bounds: ${shown}`, `/${path}`, () => withValue(path, v));
}

// --- formats ---------------------------------------------------------------------------------
invalid('id in uppercase', '/id', () => withValue('id', crypto.randomUUID().toUpperCase()));
invalid('id without dashes', '/id', () => withValue('id', crypto.randomUUID().replace(/-/g, '')));
invalid('id with braces', '/id', () => withValue('id', `{${crypto.randomUUID()}}`));
invalid('occurredAt not a date-time', '/occurredAt', () => withValue('occurredAt', 'yesterday'));
invalid('occurredAt without a zone', '/occurredAt', () =>
  withValue('occurredAt', '2026-11-01T12:00:00'),
);
invalid('occurredAt with an offset without its colon', '/occurredAt', () =>
  withValue('occurredAt', '2026-11-01T12:00:00+0200'),
);
invalid('occurredAt with an hours-only offset', '/occurredAt', () =>
  withValue('occurredAt', '2026-11-01T12:00:00+02'),
);
invalid('occurredAt in month 13', '/occurredAt', () =>
  withValue('occurredAt', '2026-13-01T12:00:00Z'),
);
invalid('app.version not dotted numbers', '/app/version', () => withValue('app/version', '5.2.x'));
invalid('app.version with a trailing dot', '/app/version', () => withValue('app/version', '5.2.'));
invalid('dump.alg another algorithm', '/dump/alg', () => withValue('dump/alg', 'aes-256-gcm'));

// --- required fields missing ---------------------------------------------------------------
for (const path of [
  'schema',
  'id',
  'occurredAt',
  'app',
  'app/name',
  'app/version',
  'license',
  'error',
  'error/number',
  'error/description',
  'error/module',
  'error/procedure',
  'error/line',
  'dump/alg',
  'dump/keyId',
  'dump/epk',
  'dump/nonce',
  'dump/ciphertext',
]) {
  invalid(`${path} missing`, `/${path}`, () => withValue(path, undefined));
}

// --- unknown fields at each level ------------------------------------------------------------
invalid('an unknown top-level field', '/extra', () => ({ ...base(), extra: 1 }));
invalid('a misspelt top-level field (licence)', '/licence', () => ({
  ...base(),
  licence: 'JCS-1',
}));
invalid('an unknown field in app', '/app/build', () => withValue('app/build', '345'));
invalid('an unknown field in error', '/error/stack', () => withValue('error/stack', 'at x'));
invalid('an unknown field in dump', '/dump/tag', () => withValue('dump/tag', b64(16)));

// --- dump together with dumpWithheld ---------------------------------------------------------
invalid('dump together with dumpWithheld', '/dumpWithheld', () => ({
  ...base(),
  dumpWithheld: 'user-opt-out',
}));
invalid('dump together with dumpWithheld too-large', '/dumpWithheld', () => ({
  ...base(),
  dumpWithheld: 'too-large',
}));

// --- bad base64 and wrong key lengths --------------------------------------------------------
const B64_CASES: [string, string, string][] = [
  ['epk with a character outside base64', 'dump/epk', '!' + b64(32).slice(1)],
  ['epk in base64url', 'dump/epk', '-_' + b64(32).slice(2)],
  ['epk without padding', 'dump/epk', b64(32).replace(/=$/, '')],
  ['epk of 31 bytes', 'dump/epk', b64(31)],
  ['epk of 33 bytes', 'dump/epk', b64(33)],
  ['epk of 16 bytes', 'dump/epk', b64(16)],
  ['epk of 32 bytes with non-zero padding bits', 'dump/epk', b64(32).slice(0, 42) + 'B='],
  ['nonce of 23 bytes', 'dump/nonce', b64(23)],
  ['nonce of 25 bytes', 'dump/nonce', b64(25)],
  ['nonce of 12 bytes', 'dump/nonce', b64(12)],
  ['nonce with a space', 'dump/nonce', b64(24).slice(0, 31) + ' '],
  ['ciphertext not base64', 'dump/ciphertext', '%%%%' + b64(30)],
  ['ciphertext with a line break', 'dump/ciphertext', b64(30) + '\n' + b64(30)],
  ['ciphertext shorter than the authenticator', 'dump/ciphertext', b64(15)],
  ['ciphertext empty', 'dump/ciphertext', ''],
  ['ciphertext not a multiple of four', 'dump/ciphertext', b64(30) + 'AB'],
];
for (const [name, path, v] of B64_CASES) invalid(name, `/${path}`, () => withValue(path, v));

// --- __proto__ and constructor keys, refused and never merged --------------------------------
const PROTO_CASES: [string, string | null, string, string][] = [
  ['__proto__ at the top', null, '"__proto__":{"polluted":true}', '/__proto__'],
  ['__proto__ in app', 'app', '"__proto__":{"polluted":true}', '/app/__proto__'],
  ['__proto__ in error', 'error', '"__proto__":{"line":1}', '/error/__proto__'],
  ['__proto__ in dump', 'dump', '"__proto__":{}', '/dump/__proto__'],
  ['__proto__ as null', null, '"__proto__":null', '/__proto__'],
  ['constructor at the top', null, '"constructor":{"prototype":{"polluted":true}}', '/constructor'],
  ['constructor in error', 'error', '"constructor":"x"', '/error/constructor'],
  ['prototype at the top', null, '"prototype":{}', '/prototype'],
];
for (const [name, objectKey, insertion, path] of PROTO_CASES) {
  invalid(name, path, () => spliced(objectKey, insertion));
}

// --- deep nesting ----------------------------------------------------------------------------
const deepArray = (n: number) => '['.repeat(n) + ']'.repeat(n);
const deepObject = (n: number) => '{"a":'.repeat(n) + '1' + '}'.repeat(n);
invalid('100,000 nested arrays in an unknown field', '/deep', () =>
  spliced(null, `"deep":${deepArray(100_000)}`),
);
invalid('50,000 nested objects in an unknown field', '/deep', () =>
  spliced(null, `"deep":${deepObject(50_000)}`),
);
invalid('nested arrays in place of app.name', '/app/name', () =>
  JSON.stringify(base()).replace('"name":"JCS"', `"name":${deepArray(10_000)}`),
);
invalid('nested objects in place of the dump', '/dump/a', () =>
  JSON.stringify(base()).replace(/"dump":\{[^}]*\}/, `"dump":${deepObject(10_000)}`),
);
cases.push({
  name: 'a large body nested deep: refused before it is parsed, naming the field',
  status: 400,
  code: 'invalid_report',
  path: '/error/extra',
  message:
    /^The report nests deeper than 32 levels in \/error\/extra: no field of report schema 1 does\.$/,
  raw: () => json(spliced('error', `"extra":${deepArray(200_000)}`))(),
});
cases.push({
  name: 'a large body of small values nested just under the limit: refused before it is parsed',
  status: 400,
  code: 'invalid_report',
  path: '',
  message: /^The report holds more than 1024 values: a report of schema 1 has some 40\.$/,
  raw: () => json(spliced('error', `"extra":[${`${deepArray(28)},`.repeat(2000)}0]`))(),
});
cases.push({
  name: '200,000 nested arrays as the body',
  status: 400,
  code: 'invalid_report',
  path: '',
  raw: json(deepArray(200_000)),
});

// --- JSON that is not an object -------------------------------------------------------------
for (const text of ['[]', '1', '"report"', 'null', 'true', '[{"schema":1}]']) {
  cases.push({
    name: `JSON that is not an object: ${text}`,
    status: 400,
    code: 'invalid_report',
    path: '',
    message: /^The report must be a JSON object/,
    raw: json(text),
  });
}
cases.push({
  name: 'a report object of 40 fields: told as that, not as "not an object"',
  status: 400,
  code: 'invalid_report',
  path: '',
  message: /^The report has 40 fields: no object of report schema 1 has more than 10\.$/,
  body: { ...base(), ...Object.fromEntries(Array.from({ length: 32 }, (_, i) => [`x${i}`, i])) },
});
for (const [where, path, raw] of [
  ['a lone high surrogate in the description', '/error/description', '"\\ud800 Object variable"'],
  ['a lone low surrogate in the username', '/username', '"as\\udc00mith"'],
] as const) {
  cases.push({
    name: `${where} (UTF-8 cannot hold it: stored, it would read back altered)`,
    status: 400,
    code: 'invalid_report',
    path,
    raw: () => {
      const r = base();
      const text = JSON.stringify(r).replace(
        path === '/username'
          ? `"username":${JSON.stringify(r.username)}`
          : `"description":${JSON.stringify(r.error.description)}`,
        `"${path === '/username' ? 'username' : 'description'}":${raw}`,
      );
      return json(text)();
    },
  });
}
cases.push({
  name: 'a valid report inside an array',
  status: 400,
  code: 'invalid_report',
  path: '',
  raw: () => json(JSON.stringify([base()]))(),
});

// --- not JSON --------------------------------------------------------------------------------
const NOT_JSON: [string, string | Buffer][] = [
  ['plain text', 'hello'],
  ['an empty body', ''],
  ['a cut-off object', '{"schema": 1,'],
  ['a trailing comma', '{"schema": 1,}'],
  ['single quotes', "{'schema': 1}"],
  ['NaN', '{"schema": NaN}'],
  ['a comment', '{"schema": 1 /* one */}'],
  ['garbage after the object', '{"schema": 1} x'],
  ['two objects', '{}{}'],
  ['a byte-order mark', '\uFEFF{"schema": 1}'],
  ['bytes that are not UTF-8', Buffer.from([0x7b, 0x22, 0xff, 0xfe, 0x22, 0x3a, 0x31, 0x7d])],
  ['UTF-16 text', Buffer.from('{"schema": 1}', 'utf16le')],
  ['a lone surrogate escape cut off', '{"a": "\\ud8'],
];
for (const [name, text] of NOT_JSON) {
  cases.push({
    name: `not JSON: ${name}`,
    status: 400,
    code: 'invalid_json',
    path: '',
    raw: json(text),
  });
}
cases.push({
  name: 'not JSON: a valid report cut short',
  status: 400,
  code: 'invalid_json',
  path: '',
  raw: () => json(JSON.stringify(base()).slice(0, -1))(),
});

// --- wrong content type ----------------------------------------------------------------------
const CONTENT_TYPES: [string, Record<string, string | undefined>][] = [
  ['no Content-Type', { 'Content-Type': undefined }],
  ['text/plain', { 'Content-Type': 'text/plain' }],
  ['form data', { 'Content-Type': 'application/x-www-form-urlencoded' }],
  ['multipart', { 'Content-Type': 'multipart/form-data; boundary=x' }],
  ['application/jsonx', { 'Content-Type': 'application/jsonx' }],
  ['application/json-patch+json', { 'Content-Type': 'application/json-patch+json' }],
  ['text/json', { 'Content-Type': 'text/json' }],
  ['application/json in UTF-16', { 'Content-Type': 'application/json; charset=utf-16' }],
  ['application/json in Latin-1', { 'Content-Type': 'application/json; charset=iso-8859-1' }],
  ['gzip-coded JSON', { 'Content-Type': 'application/json', 'Content-Encoding': 'gzip' }],
  [
    'two charsets, UTF-8 first',
    { 'Content-Type': 'application/json; charset=utf-8; charset=latin1' },
  ],
  ['an empty Content-Type', { 'Content-Type': '' }],
];
for (const [name, headers] of CONTENT_TYPES) {
  cases.push({
    name: `wrong content type: ${name}`,
    status: 415,
    code: 'unsupported_media_type',
    raw: () => ({ body: JSON.stringify(base()), headers }),
  });
}

// --- oversize --------------------------------------------------------------------------------
const LIMIT = 512 * 1024;
/** A valid report padded with spaces to exactly `bytes` bytes. */
const padded = (bytes: number) => {
  const text = JSON.stringify(base());
  return text.slice(0, -1) + ' '.repeat(bytes - Buffer.byteLength(text)) + '}';
};
cases.push({
  name: 'oversize: one byte over 512 KiB, with its Content-Length',
  status: 413,
  code: 'payload_too_large',
  raw: () => json(padded(LIMIT + 1))(),
});
cases.push({
  name: 'oversize: a 600 KiB description',
  status: 413,
  code: 'payload_too_large',
  raw: () => json(JSON.stringify(withValue('error/description', over(600 * 1024))))(),
});
cases.push({
  name: 'oversize: 2 MiB chunked, without a Content-Length',
  status: 413,
  code: 'payload_too_large',
  raw: () => ({
    chunks: Array.from({ length: 32 }, () => Buffer.alloc(64 * 1024, 0x20)),
    headers: { 'Content-Type': 'application/json' },
  }),
});
cases.push({
  name: 'oversize: one byte over 512 KiB, chunked',
  status: 413,
  code: 'payload_too_large',
  raw: () => ({
    chunks: [Buffer.from(padded(LIMIT + 1).slice(0, LIMIT)), Buffer.from('}')],
    headers: { 'Content-Type': 'application/json' },
  }),
});

cases.push({
  name: 'oversize: a dump over 256 KiB of plaintext in a body under 512 KiB',
  status: 413,
  code: 'payload_too_large',
  path: '/dump/ciphertext',
  raw: () => json(JSON.stringify(withValue('dump/ciphertext', b64(256 * 1024 + 17))))(),
});

// --- tokens and roles (checked before the body is read) --------------------------------------
/** The token with its last character changed (to another one, always). */
const mistyped = (token: string) => token.slice(0, -1) + (token.endsWith('x') ? 'y' : 'x');
const AUTH_CASES: [string, number, string, Case['auth']][] = [
  ['no Authorization header', 401, 'unauthorized', () => undefined],
  ['Basic authentication', 401, 'unauthorized', () => 'Basic YXBwOnNlY3JldA=='],
  [
    'a bearer token with a bad checksum',
    401,
    'unauthorized',
    (t) => `Bearer ${mistyped(t.ingest)}`,
  ],
  ['an empty bearer token', 401, 'unauthorized', () => 'Bearer '],
  ['an engineer token', 403, 'forbidden', (t) => `Bearer ${t.engineer}`],
];
for (const [name, status, code, auth] of AUTH_CASES) {
  cases.push({ name, status, code, auth, raw: () => json(JSON.stringify(base()))() });
}

describe('POST /v1/reports refuses every malformed request, stores nothing, stays healthy', () => {
  it('has at least 100 cases', () => {
    expect(cases.length).toBeGreaterThanOrEqual(100);
    expect(new Set(cases.map((c) => c.name)).size).toBe(cases.length);
  });

  it.each(cases.map((c) => [c.name, c] as const))('%s', async (_name, c) => {
    const request = c.raw ? c.raw() : json(JSON.stringify(c.body))();
    const auth = c.auth ? c.auth(s.tokens) : `Bearer ${s.tokens.ingest}`;
    const answer = await rawRequest(s.url, {
      path: '/v1/reports',
      ...request,
      headers: { ...request.headers, Authorization: auth },
    });
    expect({ status: answer.status, code: answer.json?.error?.code }).toEqual({
      status: c.status,
      code: c.code,
    });
    expect(typeof answer.json.error.message).toBe('string');
    if (c.message) expect(answer.json.error.message).toMatch(c.message);
    expect(answer.json.error.message).not.toContain('(body)');
    expect(answer.text).not.toMatch(/node_modules|\/work\/|\.ts:\d+|at [A-Za-z.]+ \(/);
    if (c.path !== undefined) {
      expect(answer.json.error.details.map((d: { path: string }) => d.path)).toContain(c.path);
    }
    expect(ingestRowCounts(s.collector.db)).toEqual(empty);
    expect(dayKeyFiles(s.dataDir)).toEqual([]);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    const health = await rawRequest(s.url, { method: 'GET', path: '/v1/health' });
    expect(health.json).toEqual({ status: 'ok' });
  });

  it('logged no 5xx and no unexpected error for any of them', () => {
    expect(s.log.failures()).toEqual([]);
  });
});

describe('the bounds themselves are accepted (so the table above tests the edge)', () => {
  const accepted = (body: unknown, headers: Record<string, string> = {}) =>
    rawRequest(s.url, {
      path: '/v1/reports',
      body: typeof body === 'string' ? body : JSON.stringify(body),
      headers: {
        'Content-Type': 'application/json',
        Authorization: `Bearer ${s.tokens.ingest}`,
        ...headers,
      },
    });
  const fresh = (body: Record<string, any>) => ({ ...body, id: crypto.randomUUID() });

  it.each<[string, () => Record<string, any>]>([
    [
      'every string at its longest',
      () => {
        const r = base();
        r.app.name = over(64);
        r.app.version = '1'.repeat(64);
        r.license = over(64);
        r.username = over(256);
        r.error.description = '😀'.repeat(4096);
        r.error.module = over(256);
        r.error.procedure = over(256);
        r.error.code = over(4096);
        r.dump.keyId = over(64);
        return r;
      },
    ],
    [
      'every integer at its extremes',
      () => {
        const r = base();
        r.error.number = -2147483648;
        r.error.line = 2147483647;
        r.repeats = 2147483647;
        return r;
      },
    ],
    [
      'the optional strings empty',
      () => {
        const r = base();
        r.username = '';
        r.error.description = '';
        r.error.code = '';
        r.error.line = 0;
        r.repeats = 0;
        return r;
      },
    ],
    ['neither dump nor dumpWithheld', () => withValue('dump', undefined)],
    [
      'dumpWithheld alone',
      () => ({ ...withValue('dump', undefined), dumpWithheld: 'unserializable' }),
    ],
  ])('%s', async (_name, make) => {
    const answer = await accepted(fresh(make()));
    expect(answer.status).toBe(202);
  });

  it('a dump of exactly 256 KiB of plaintext (its box 16 bytes more)', async () => {
    const answer = await accepted(fresh(withValue('dump/ciphertext', b64(256 * 1024 + 16))));
    expect(answer.status).toBe(202);
  });

  it('a body of exactly 512 KiB', async () => {
    const text = padded(LIMIT);
    expect(Buffer.byteLength(text)).toBe(LIMIT);
    expect((await accepted(text)).status).toBe(202);
  });

  it.each([
    'application/json; charset=utf-8',
    'Application/JSON',
    'application/json;charset="UTF-8"',
  ])('Content-Type %s', async (type) => {
    expect((await accepted(fresh(base()), { 'Content-Type': type })).status).toBe(202);
  });
});
