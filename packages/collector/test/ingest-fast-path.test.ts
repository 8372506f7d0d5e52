import path from 'node:path';
import Database from 'better-sqlite3';
import { ApiError, type Report } from '@jcs/protocol';
import { makeReport } from '../../../test-support/reports';
import { actorOf } from '../src/auth/middleware';
import { makeToken } from '../src/auth/tokens';
import { dataPaths } from '../src/paths';
import { serveTestCollector, type ServedCollector } from './helpers/served';
import { rawRequest, rawSocket, statuses, type RawAnswer } from './helpers/raw-http';
import { ingestRowCounts } from './helpers/ingest-rows';

/**
 * `POST /v1/reports` is answered by a fast path in front of Express (http/ingest-fast-path.ts).
 * Through a real socket: it is taken for the forms Express routes there, and every answer of the
 * ingest table (contract section 1) is still what it was under Express, with its log line.
 */

const JSON_TYPE = 'application/json; charset=utf-8';

let s: ServedCollector;
afterEach(() => s.stop());

const post = (
  body: string | Report,
  options: { token?: string | null; type?: string; path?: string } = {},
): Promise<RawAnswer> =>
  rawRequest(s.url, {
    path: options.path ?? '/v1/reports',
    body: typeof body === 'string' ? body : JSON.stringify(body),
    headers: {
      'Content-Type': options.type ?? 'application/json',
      Authorization:
        options.token === null ? undefined : `Bearer ${options.token ?? s.tokens.ingest}`,
    },
  });

/** The request-log lines so far. */
const requestLines = () => s.log.lines().filter((l) => l.msg === 'request');

/** Calls into Express's router (the app's `router.handle`), counted from now on. */
function expressCalls(): jest.SpyInstance {
  const router = (s.app as unknown as { router: { handle: () => void } }).router;
  return jest.spyOn(router, 'handle');
}

describe('which requests take the fast path', () => {
  beforeEach(async () => (s = await serveTestCollector()));

  it('every form of POST /v1/reports that Express routes there, and nothing else', async () => {
    const calls = expressCalls();
    for (const p of [
      '/v1/reports',
      '/v1/reports/',
      '/V1/Reports',
      '/v1/reports?x=1',
      '/v1/reports/?',
    ]) {
      expect((await post(makeReport(), { path: p })).status).toBe(202);
    }
    expect(calls).not.toHaveBeenCalled();
    expect((await rawRequest(s.url, { method: 'GET', path: '/v1/health' })).status).toBe(200);
    expect(calls).toHaveBeenCalledTimes(1);
  });

  it('takes an absolute URL by its path, and leaves a fragment to Express, whose table has the same route', async () => {
    const calls = expressCalls();
    for (const target of ['http://localhost/v1/reports', '/v1/reports#top']) {
      const body = JSON.stringify(makeReport());
      const raw = await rawSocket(
        s.url,
        [
          `POST ${target} HTTP/1.1`,
          'Host: localhost',
          `Authorization: Bearer ${s.tokens.ingest}`,
          'Content-Type: application/json',
          `Content-Length: ${Buffer.byteLength(body)}`,
          'Connection: close',
        ].join('\r\n') +
          '\r\n\r\n' +
          body,
      );
      expect(statuses(raw)).toEqual([202]);
    }
    // the absolute URL in origin form first (http/request-target.ts)
    expect(calls).toHaveBeenCalledTimes(1);
    expect(ingestRowCounts(s.collector.db).reports).toBe(2);
  });

  it('answers other methods and paths as Express does', async () => {
    const at = (method: string, p = '/v1/reports') => rawRequest(s.url, { method, path: p });
    for (const method of ['GET', 'PUT', 'DELETE', 'PATCH', 'OPTIONS']) {
      const a = await at(method);
      expect([method, a.status, a.json?.error.code]).toEqual([method, 404, 'not_found']);
    }
    const head = await at('HEAD');
    expect([head.status, head.text]).toEqual([404, '']);
    for (const p of ['/v1/reports//', '/v1//reports', '/v1/reports;x', '/v1/%72eports']) {
      expect([p, (await post(makeReport(), { path: p })).status]).toEqual([p, 404]);
    }
    expect(ingestRowCounts(s.collector.db).reports).toBe(0);
  });
});

describe('every answer of the ingest table, with its body and its log line', () => {
  beforeEach(async () => (s = await serveTestCollector()));

  const expectError = (a: RawAnswer, status: number, code: string) => {
    expect([a.status, a.json?.error?.code]).toEqual([status, code]);
    expect(a.headers['content-type']).toBe(JSON_TYPE);
    expect(Number(a.headers['content-length'])).toBe(Buffer.byteLength(a.text));
    expect(a.text).not.toMatch(/\/work|node_modules|at .*\.[jt]s|SQLITE/);
  };

  it('202 stored, then 200 for the same id, with {id, group}', async () => {
    const r = makeReport();
    const first = await post(r);
    expect(first.status).toBe(202);
    expect(first.headers['content-type']).toBe(JSON_TYPE);
    expect(first.json).toEqual({ id: r.id, group: expect.stringMatching(/^[0-9a-f]{12}$/) });
    const again = await post(r);
    expect([again.status, again.json]).toEqual([200, first.json]);
    expect(ingestRowCounts(s.collector.db).reports).toBe(1);
    expect(requestLines()).toEqual([
      expect.objectContaining({ method: 'POST', route: '/v1/reports', status: 202, actor: 'app' }),
      expect.objectContaining({ method: 'POST', route: '/v1/reports', status: 200, actor: 'app' }),
    ]);
    expect(requestLines()[0].ms).toEqual(expect.any(Number));
  });

  it('400 invalid_json and invalid_report, naming the fields', async () => {
    expectError(await post('{"schema": 1,'), 400, 'invalid_json');
    expectError(await post('[1, 2]'), 400, 'invalid_report');
    const bad = await post(makeReport({ license: '', error: { line: -1 } }));
    expectError(bad, 400, 'invalid_report');
    expect(bad.json.error.details.map((d: { path: string }) => d.path).sort()).toEqual([
      '/error/line',
      '/license',
    ]);
    const poisoned = await post('{"schema":1,"__proto__":{"x":1}}');
    expectError(poisoned, 400, 'invalid_report');
    expect(poisoned.json.error.details[0].path).toBe('/__proto__');
    expect(requestLines().map((l) => l.status)).toEqual([400, 400, 400, 400]);
  });

  it('401 without a valid token, 403 for a reading role, which the access log records', async () => {
    expectError(await post(makeReport(), { token: null }), 401, 'unauthorized');
    expectError(
      await post(makeReport(), { token: 'jcs_ing_' + 'a'.repeat(38) }),
      401,
      'unauthorized',
    );
    expectError(await post(makeReport(), { token: 'nonsense' }), 401, 'unauthorized');
    expectError(await post(makeReport(), { token: s.tokens.engineer }), 403, 'forbidden');
    expect(s.collector.audit.list({ limit: 10 })).toEqual([
      expect.objectContaining({
        actor: 'alice',
        action: 'POST /v1/reports',
        target: null,
        outcome: 'forbidden',
      }),
    ]);
    expect(requestLines().map((l) => [l.status, l.actor])).toEqual([
      [401, undefined],
      [401, undefined],
      [401, undefined],
      [403, 'alice'],
    ]);
    expect(ingestRowCounts(s.collector.db).reports).toBe(0);
  });

  it('a token revoked after use is refused on its next request', async () => {
    const token = s.collector.tokens.create('short-lived', 'ingest', s.clock());
    expect((await post(makeReport(), { token })).status).toBe(202);
    expect(s.collector.tokens.revoke('short-lived', s.clock())).toBe(true);
    expectError(await post(makeReport(), { token }), 401, 'unauthorized');
  });

  it('reports sent at once are each answered for their own token: live, revoked, unknown, engineer', async () => {
    // Look-ups of one turn of the event loop share a read transaction (TokenStore.authenticateSoon).
    const revoked = s.collector.tokens.create('gone', 'ingest', s.clock());
    expect(s.collector.tokens.revoke('gone', s.clock())).toBe(true);
    const tokens = [
      s.tokens.ingest,
      revoked,
      makeToken('ingest'),
      s.tokens.engineer,
      s.tokens.ingest,
    ];
    const answers = await Promise.all(tokens.map((token) => post(makeReport(), { token })));
    expect(answers.map((a) => a.status)).toEqual([202, 401, 401, 403, 202]);
    expect(ingestRowCounts(s.collector.db).reports).toBe(2);
  });

  it('a token revoked by another process (as `token revoke` does) is refused on its next report', async () => {
    const token = s.collector.tokens.create('cli-revoked', 'ingest', s.clock());
    expect((await post(makeReport(), { token })).status).toBe(202);
    const other = new Database(dataPaths(s.dataDir).db);
    try {
      other
        .prepare('UPDATE tokens SET revoked_at = ? WHERE name = ?')
        .run(s.clock(), 'cli-revoked');
    } finally {
      other.close();
    }
    expectError(await post(makeReport(), { token }), 401, 'unauthorized');
    expect(ingestRowCounts(s.collector.db).reports).toBe(1);
  });

  it('413 over the limit, declared or sent; 415 for another type, charset or coding', async () => {
    const big = makeReport({ error: { description: 'x'.repeat(600 * 1024) } });
    expectError(await post(big), 413, 'payload_too_large');
    const chunked = await rawRequest(s.url, {
      path: '/v1/reports',
      headers: { 'Content-Type': 'application/json', Authorization: `Bearer ${s.tokens.ingest}` },
      chunks: [JSON.stringify(big).slice(0, 300 * 1024), JSON.stringify(big).slice(300 * 1024)],
    });
    expectError(chunked, 413, 'payload_too_large');
    expectError(await post(makeReport(), { type: 'text/plain' }), 415, 'unsupported_media_type');
    const latin1 = await post(makeReport(), { type: 'application/json; charset=latin1' });
    expectError(latin1, 415, 'unsupported_media_type');
    const gzip = await rawRequest(s.url, {
      path: '/v1/reports',
      body: JSON.stringify(makeReport()),
      headers: {
        'Content-Type': 'application/json',
        'Content-Encoding': 'gzip',
        Authorization: `Bearer ${s.tokens.ingest}`,
      },
    });
    expectError(gzip, 415, 'unsupported_media_type');
    // The usual header in another case or with charset=utf-8 is still JSON.
    expect((await post(makeReport(), { type: 'Application/JSON; charset=UTF-8' })).status).toBe(
      202,
    );
    expect(ingestRowCounts(s.collector.db).reports).toBe(1);
  });

  it('503 unavailable with Retry-After while the storage cannot take it, nothing stored', async () => {
    const other = new Database(path.join(s.dataDir, 'collector.db'));
    s.collector.db.pragma('busy_timeout = 50');
    other.exec('BEGIN IMMEDIATE');
    try {
      const a = await post(makeReport());
      expectError(a, 503, 'unavailable');
      expect(a.headers['retry-after']).toBe('5');
    } finally {
      other.exec('ROLLBACK');
      other.close();
      s.collector.db.pragma('busy_timeout = 2000');
    }
    expect(ingestRowCounts(s.collector.db).reports).toBe(0);
    expect(s.log.lines()).toContainEqual(
      expect.objectContaining({ msg: 'storage refused a batch', code: 'SQLITE_BUSY' }),
    );
    expect(requestLines().map((l) => l.status)).toEqual([503]);
  });

  it("the same headers as Express's res.json(), and the same error body as an Express route", async () => {
    const names = (a: RawAnswer) => Object.keys(a.headers).sort();
    const accepted = await post(makeReport());
    const health = await rawRequest(s.url, { method: 'GET', path: '/v1/health' });
    expect(names(accepted)).toEqual(names(health));
    expect(accepted.headers['content-type']).toBe(health.headers['content-type']);
    const fast = await post(makeReport(), { token: null });
    const viaExpress = await rawRequest(s.url, { method: 'GET', path: '/v1/groups' });
    expect(fast.json).toEqual(viaExpress.json);
    expect(names(fast)).toEqual(names(viaExpress));
  });

  it('never logs a body, a path, a query or a token', async () => {
    const r = makeReport({ username: 'canary-user-7' });
    await post(r, { path: '/v1/reports?who=canary-query' });
    await post('{"username":"canary-user-8",', {});
    const text = JSON.stringify(s.log.lines());
    for (const secret of ['canary', s.tokens.ingest, r.error.description]) {
      expect(text).not.toContain(secret);
    }
  });
});

describe('rate limits and the ingest gate on the fast path', () => {
  it('429 with Retry-After per licence and per token', async () => {
    s = await serveTestCollector({
      app: { rateLimits: { licencePerMin: 1, licenceBurst: 1, tokenPerMin: 1, tokenBurst: 3 } },
    });
    expect((await post(makeReport({ license: 'JCS-A' }))).status).toBe(202);
    const licence = await post(makeReport({ license: 'JCS-A' }));
    expect([licence.status, licence.json.error.code]).toEqual([429, 'rate_limited']);
    expect(licence.json.error.message).toMatch(/licence/);
    expect(Number(licence.headers['retry-after'])).toBeGreaterThanOrEqual(1);
    expect((await post(makeReport({ license: 'JCS-B' }))).status).toBe(202);
    expect((await post(makeReport({ license: 'JCS-C' }))).status).toBe(202);
    const token = await post(makeReport({ license: 'JCS-D' }));
    expect([token.status, token.json.error.code]).toEqual([429, 'rate_limited']);
    expect(token.json.error.message).toMatch(/token/);
    expect(Number(token.headers['retry-after'])).toBeGreaterThanOrEqual(1);
    expect(ingestRowCounts(s.collector.db).reports).toBe(3);
    expect(requestLines().map((l) => l.status)).toEqual([202, 429, 202, 202, 429]);
  });

  it('the gate runs once the token is known, before the body; what it throws is the answer', async () => {
    const seen: (string | undefined)[] = [];
    let refuse = false;
    s = await serveTestCollector({
      app: {
        ingestGate: (req) => {
          seen.push(actorOf(req)?.name);
          if (refuse) {
            throw new ApiError('rate_limited', 'Closed for the test.', {
              headers: { 'Retry-After': '7' },
            });
          }
        },
      },
    });
    expect((await post(makeReport())).status).toBe(202);
    expect((await post(makeReport(), { token: null })).status).toBe(401);
    refuse = true;
    const refused = await post('not even JSON');
    expect([refused.status, refused.headers['retry-after']]).toEqual([429, '7']);
    expect(refused.json.error.message).toBe('Closed for the test.');
    expect(seen).toEqual(['app', 'app']);
  });
});
