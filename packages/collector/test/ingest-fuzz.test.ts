import http from 'node:http';
import fc from 'fast-check';
import { validateReport } from '@jcs/protocol';
import { makeReport } from '../../../test-support/reports';
import { serveTestCollector, type ServedCollector } from './helpers/served';
import { rawRequest, type RawAnswer } from './helpers/raw-http';
import { ingestRowCounts } from './helpers/ingest-rows';

/**
 * Fuzzing of bodies, headers and paths. The oracle: never a 5xx; an answer 202 exactly when the
 * validator accepts the body; a refused body stores no row in any table.
 */

let s: ServedCollector;
beforeAll(async () => (s = await serveTestCollector()));
afterAll(() => s.stop());

// JCS_FUZZ_SCALE multiplies the runs of every property for a longer hunt
// (JCS_FUZZ_SCALE=100 npx jest ingest-fuzz).
const SCALE = Number(process.env.JCS_FUZZ_SCALE) || 1;
const RUNS = 60 * SCALE;
// A property still running when its test times out would go on storing reports under the next one.
jest.setTimeout(30_000 * SCALE);
const stored = () => ingestRowCounts(s.collector.db);

function post(body: string | Buffer, headers: Record<string, string> = {}): Promise<RawAnswer> {
  return rawRequest(s.url, {
    path: '/v1/reports',
    body,
    headers: {
      'Content-Type': 'application/json',
      Authorization: `Bearer ${s.tokens.ingest}`,
      ...headers,
    },
  });
}

/** Posts a body that must be refused: a 4xx, and not one row more anywhere. */
async function refused(body: string | Buffer, headers?: Record<string, string>): Promise<void> {
  const before = stored();
  const answer = await post(body, headers);
  expect(answer.status).toBeGreaterThanOrEqual(400);
  expect(answer.status).toBeLessThan(500);
  expect(stored()).toEqual(before);
}

/** Every place in a report a fuzzed value can go, including new keys at each level. */
const PATHS = [
  'schema',
  'id',
  'occurredAt',
  'app',
  'app/name',
  'app/version',
  'app/extra',
  'license',
  'username',
  'error',
  'error/number',
  'error/description',
  'error/module',
  'error/procedure',
  'error/line',
  'error/code',
  'error/extra',
  'repeats',
  'dump',
  'dumpWithheld',
  'extra',
];

const anyValue = fc.oneof(
  fc.jsonValue({ maxDepth: 3 }),
  fc.string({ unit: 'binary', maxLength: 80 }),
  fc.integer(),
  fc.constantFrom(
    -2147483649,
    -2147483648,
    -1,
    0,
    2147483647,
    2147483648,
    0.5,
    1e300,
    '',
    'x'.repeat(257),
    'x'.repeat(4097),
    null,
    [],
    {},
    'user-opt-out',
    '5.2.1',
    '2026-11-01T12:00:00Z',
    undefined,
  ),
);

/** A copy of `body` with `value` at a slash path (made where missing); `undefined` deletes. */
function withValue(body: Record<string, any>, path: string, value: unknown): Record<string, any> {
  const copy = JSON.parse(JSON.stringify(body)) as Record<string, any>;
  const keys = path.split('/');
  let at = copy;
  for (const k of keys.slice(0, -1)) {
    if (typeof at[k] !== 'object' || at[k] === null) at[k] = {};
    at = at[k];
  }
  if (value === undefined) delete at[keys[keys.length - 1]];
  else at[keys[keys.length - 1]] = value;
  return copy;
}

describe('fuzzed bodies', () => {
  it('a report with one part replaced by anything: 202 exactly when valid, else 400 and nothing stored', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.tuple(fc.constantFrom(...PATHS), anyValue), { minLength: 1, maxLength: 3 }),
        async (changes) => {
          const body = changes.reduce(
            (b, [path, value]) => withValue(b, path, value),
            makeReport({ repeats: 1 }) as unknown as Record<string, any>,
          );
          const text = JSON.stringify(body);
          const valid = validateReport(JSON.parse(text)).ok;
          const before = stored();
          const answer = await post(text);
          if (valid) {
            expect(answer.status).toBe(202);
            expect(stored().reports).toBe(before.reports + 1);
          } else {
            expect(answer.status).toBe(400);
            expect(answer.json.error.code).toBe('invalid_report');
            expect(answer.json.error.details.length).toBeGreaterThan(0);
            expect(stored()).toEqual(before);
          }
        },
      ),
      { numRuns: RUNS * 2 },
    );
  });

  it('any JSON value: refused unless it is a report', async () => {
    await fc.assert(
      fc.asyncProperty(fc.jsonValue({ maxDepth: 5 }), async (value) => {
        fc.pre(!validateReport(value).ok);
        await refused(JSON.stringify(value));
      }),
      { numRuns: RUNS },
    );
  });

  it('any bytes and any text: refused', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.oneof(
          fc.uint8Array({ maxLength: 400 }).map((b) => Buffer.from(b)),
          fc.string({ unit: 'binary', maxLength: 200 }),
          fc.string({
            unit: fc.constantFrom(...'{}[]":,\\ 0123456789.eEtrufalsn-+'),
            maxLength: 60,
          }),
        ),
        async (body) => {
          let parsed: unknown;
          try {
            parsed = JSON.parse(Buffer.from(body).toString('utf8'));
          } catch {
            parsed = undefined;
          }
          fc.pre(!validateReport(parsed).ok);
          await refused(body);
        },
      ),
      { numRuns: RUNS },
    );
  });
});

/** Header names that change the framing of the request itself: left to the transport tests. */
const FRAMING = new Set([
  'content-length',
  'transfer-encoding',
  'host',
  'connection',
  'expect',
  'upgrade',
  'te',
  'trailer',
]);

function validHeader(name: string, value: string): boolean {
  try {
    http.validateHeaderName(name);
    http.validateHeaderValue(name, value);
    return !FRAMING.has(name.toLowerCase());
  } catch {
    return false;
  }
}

const headerValue = fc.oneof(
  fc.string({ maxLength: 60 }),
  fc.string({ unit: 'binary', maxLength: 30 }),
  fc.constantFrom('', ' ', 'application/json', 'gzip', 'identity', '0', '-1', 'Bearer'),
);

describe('fuzzed headers', () => {
  it('any Content-Type, Authorization, Content-Encoding and extra headers: never a 5xx', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.record({
          type: fc.oneof(
            fc.constantFrom(
              'application/json',
              'application/json; charset=utf-8',
              'application/json; charset=UTF-16',
              'text/plain',
              'application/json;;;',
              'application/json; charset',
            ),
            headerValue,
          ),
          auth: fc.oneof(
            fc.constant('ingest'),
            fc.constant('engineer'),
            headerValue,
            headerValue.map((v) => `Bearer ${v}`),
          ),
          extra: fc.dictionary(fc.stringMatching(/^[A-Za-z][A-Za-z0-9-]{0,20}$/), headerValue, {
            maxKeys: 4,
          }),
        }),
        async ({ type, auth, extra }) => {
          const authorization =
            auth === 'ingest' || auth === 'engineer' ? `Bearer ${s.tokens[auth]}` : auth;
          const headers: Record<string, string> = {
            ...extra,
            'Content-Type': type,
            Authorization: authorization,
          };
          fc.pre(Object.entries(headers).every(([k, v]) => validHeader(k, v)));
          const before = stored();
          const answer = await post(JSON.stringify(makeReport()), headers);
          expect(answer.status).toBeLessThan(500);
          if (answer.status !== 202) expect(stored()).toEqual(before);
          else expect(stored().reports).toBe(before.reports + 1);
        },
      ),
      { numRuns: RUNS * 2 },
    );
  });
});

describe('fuzzed paths and queries', () => {
  it('any method, path and query on the API: never a 5xx', async () => {
    const segment = fc.oneof(
      fc.string({ maxLength: 20 }),
      fc.constantFrom(
        '%',
        '%E0%A4%A',
        '%ZZ',
        '%00',
        '..',
        '.',
        '%2F',
        'a%20b',
        '😀',
        '0'.repeat(12),
      ),
      fc.uuid(),
    );
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom('GET', 'PATCH', 'POST', 'PUT', 'DELETE', 'HEAD', 'OPTIONS'),
        fc.constantFrom('reports', 'groups', 'health', 'public-key', 'audit', 'status', 'erase'),
        fc.array(segment, { maxLength: 3 }),
        fc.array(fc.tuple(segment, segment), { maxLength: 4 }),
        fc.constantFrom('engineer', 'ingest', 'none'),
        async (method, root, segments, query, who) => {
          const q = query.map(([k, v]) => `${k}=${v}`).join('&');
          const path = `/v1/${[root, ...segments].join('/')}${q ? `?${q}` : ''}`;
          const before = stored();
          const answer = await rawRequest(s.url, {
            method,
            path,
            headers:
              who === 'none' ? {} : { Authorization: `Bearer ${s.tokens[who as 'engineer']}` },
          });
          expect(answer.status).toBeLessThan(500);
          expect(stored()).toEqual(before);
        },
      ),
      { numRuns: RUNS * 2 },
    );
  });
});

describe('after all of it', () => {
  it('logged no 5xx and no unexpected error, and is healthy', async () => {
    expect(s.log.failures()).toEqual([]);
    const health = await rawRequest(s.url, { method: 'GET', path: '/v1/health' });
    expect(health.json).toEqual({ status: 'ok' });
  });
});
