import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import {
  ApiClient,
  BadRequestError,
  CliError,
  EXIT,
  ForbiddenError,
  NotFoundError,
  ServerError,
  UnauthorisedError,
  UnreachableError,
} from '../src';
import { failureError, unreachableError } from '../src/client-errors';
import { startFakeCollector, type FakeCollector } from './support/fake-collector';
import { makeFixtures } from './support/fixtures';

let fake: FakeCollector;
beforeAll(async () => {
  fake = await startFakeCollector();
});
afterAll(() => fake.close());

const client = (token?: string, tokenHint?: string) =>
  new ApiClient({ server: fake.url, token, tokenHint });

async function failure(promise: Promise<unknown>): Promise<CliError> {
  try {
    await promise;
  } catch (err) {
    if (err instanceof CliError) return err;
    throw err;
  }
  throw new Error('expected a failure');
}

test('sends the bearer token and the query, and returns the body exactly as it came', async () => {
  const answer = await client(fake.tokens.engineer).listGroups({ since: '24h', limit: 2 });
  const request = fake.requests.at(-1)!;
  expect(request.auth).toBe(`Bearer ${fake.tokens.engineer}`);
  expect(request.query.get('since')).toBe('24h');
  expect(request.query.get('limit')).toBe('2');
  expect(request.query.has('status')).toBe(false);
  expect(answer.body).toBe(fake.lastBody);
  expect(answer.data.groups).toHaveLength(2);
});

test('JSON bodies for PATCH and POST', async () => {
  await client(fake.tokens.admin).erase({ license: 'JCS-000123' });
  expect(fake.requests.at(-1)).toMatchObject({
    method: 'POST',
    path: '/v1/erase',
    body: { license: 'JCS-000123' },
  });
});

test('401 without a token says how to give one; with one, where to check it (exit 3)', async () => {
  const none = await failure(client().listGroups());
  expect(none).toBeInstanceOf(UnauthorisedError);
  expect(none.exitCode).toBe(EXIT.notAuthorised);
  expect(none.message).toBe(
    'the collector needs a token: set --token or JCS_ERRORS_TOKEN, or "token" in ~/.config/jcs-errors/config.json',
  );
  const wrong = await failure(client('nope', 'JCS_ERRORS_TOKEN').listGroups());
  expect(wrong.message).toBe(
    `the collector at ${fake.url.replace(/\/$/, '')} refused the token: check JCS_ERRORS_TOKEN, and that the token was made on that collector`,
  );
});

test("a 401 or 403 that is not the collector's (a proxy's sign-in page) points at --server, not the token (exit 3)", async () => {
  let status = 401;
  const proxy = http.createServer((_req, res) => {
    res.writeHead(status, {
      'content-type': 'text/html',
      'www-authenticate': 'Basic realm="corp"',
    });
    res.end('<html><body>Please sign in</body></html>');
  });
  await new Promise<void>((resolve) => proxy.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(proxy.address() as AddressInfo).port}`;
  try {
    for (const [code, token, type] of [
      [401, 'jcs_eng_x', UnauthorisedError],
      [401, undefined, UnauthorisedError],
      [403, 'jcs_eng_x', ForbiddenError],
    ] as const) {
      status = code;
      const err = await failure(new ApiClient({ server: url, token }).listGroups());
      expect(err).toBeInstanceOf(type);
      expect(err.exitCode).toBe(EXIT.notAuthorised);
      expect(err.message).toBe(
        `${url} refused the request (HTTP ${code}) without a JCS collector's answer: check --server or JCS_ERRORS_SERVER, and any proxy on the way`,
      );
    }
  } finally {
    await new Promise((resolve) => proxy.close(resolve));
  }
});

test('403 names the role needed (exit 3)', async () => {
  const err = await failure(client(fake.tokens.engineer).retentionStatus());
  expect(err).toBeInstanceOf(ForbiddenError);
  expect(err.exitCode).toBe(3);
  expect(err.message).toBe(
    "this needs an admin token and the one given may not do it: use one made on the collector's machine by jcs-collector token create --name NAME --role admin --data-dir DIR",
  );
  const ingest = await failure(client(fake.tokens.ingest).listGroups());
  expect(ingest.message).toContain('needs an engineer or admin token');
});

test('404 is NotFoundError (exit 4)', async () => {
  const err = await failure(client(fake.tokens.engineer).getGroup('000000000000'));
  expect(err).toBeInstanceOf(NotFoundError);
  expect(err.exitCode).toBe(4);
});

test('400 carries the details and is a usage error (exit 2)', async () => {
  const err = await failure(client(fake.tokens.engineer).listGroups({ since: 'soon' }));
  expect(err).toBeInstanceOf(BadRequestError);
  expect(err.exitCode).toBe(2);
  expect(err.message).toBe(
    'the collector rejected the request: A query parameter is not valid (/since must be a duration or an ISO date-time); check the options',
  );
});

test.each([
  [
    500,
    'internal',
    {},
    'the collector failed (HTTP 500: The collector failed unexpectedly; the failure was logged): check its log, then try again',
  ],
  [
    503,
    'unavailable',
    { 'retry-after': '5' },
    'the collector cannot take this now: try again in 5s',
  ],
  [
    429,
    'rate_limited',
    { 'retry-after': '2' },
    'the collector is limiting requests: try again in 2s',
  ],
] as const)('%i is a server error (exit 1)', async (status, code, headers, message) => {
  fake.failNext(status, code, headers);
  const err = await failure(client(fake.tokens.engineer).listGroups());
  expect(err).toBeInstanceOf(ServerError);
  expect(err.exitCode).toBe(EXIT.failed);
  expect(err.message).toBe(message);
});

test('an answer that is not the collector’s JSON says to check --server (exit 1)', async () => {
  fake.failNext(502, null);
  const err = await failure(client(fake.tokens.engineer).listGroups());
  expect(err.exitCode).toBe(1);
  expect(err.message).toMatch(
    /did not answer like a JCS collector \(HTTP 502, text\/html\): check --server/,
  );
});

/** Another server on a free port, answering every request with this JSON. */
async function otherServer(status: number, body: string) {
  const server = http.createServer((_req, res) => {
    res.writeHead(status, { 'content-type': 'application/json' });
    res.end(body);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    close: () => new Promise((resolve) => server.close(resolve)),
  };
}

test("a proxy's JSON error is not taken for the collector's: its code is none of the catalogue's", async () => {
  const proxy = await otherServer(
    404,
    '{"error":{"code":"NoSuchKey","message":"The specified key does not exist."}}',
  );
  const { url } = proxy;
  try {
    // A group that "does not exist" would exit 4 and a script would take the group as gone.
    const err = await failure(new ApiClient({ server: url, token: 'x' }).getGroup('3fa9c1d2e4b7'));
    expect(err).toBeInstanceOf(ServerError);
    expect(err.exitCode).toBe(EXIT.failed);
    expect(err.message).toMatch(
      /did not answer like a JCS collector \(HTTP 404, application\/json\)/,
    );
  } finally {
    await proxy.close();
  }
});

test('a redirect is not followed, so the token stays with the collector', async () => {
  fake.failNext(302, 'not_found', { location: 'http://elsewhere.example/' });
  const err = await failure(client(fake.tokens.engineer).listGroups());
  expect(err.message).toBe(
    `${fake.url} redirects to http://elsewhere.example/: set --server to the collector's own address`,
  );
});

test('a closed port is unreachable (exit 1) with the issue’s wording', async () => {
  const server = http.createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as AddressInfo).port;
  await new Promise<void>((r) => server.close(() => r()));
  const err = await failure(new ApiClient({ server: `http://127.0.0.1:${port}` }).listGroups());
  expect(err).toBeInstanceOf(UnreachableError);
  expect(err.exitCode).toBe(1);
  expect(err.message).toBe(
    `cannot reach the collector at http://127.0.0.1:${port}: is it running? set --server or JCS_ERRORS_SERVER`,
  );
});

test("a port that Node's fetch blocks is named as the cause, not the collector", async () => {
  // fetch refuses before it connects, so whether anything listens on 6000 does not matter.
  const err = await failure(new ApiClient({ server: 'http://127.0.0.1:6000' }).listGroups());
  expect(err).toBeInstanceOf(UnreachableError);
  expect(err.exitCode).toBe(1);
  expect(err.message).toBe(
    "jcs-errors cannot connect to port 6000 of http://127.0.0.1:6000, a port Node's fetch blocks: serve the collector on another port (8080, say) and set --server to it",
  );
});

test('a collector that does not answer in time is reported as such', async () => {
  const server = http.createServer(() => undefined);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  try {
    const err = await failure(new ApiClient({ server: url, timeoutMs: 200 }).listGroups());
    expect(err).toBeInstanceOf(UnreachableError);
    expect(err.message).toBe(
      `the collector at ${url} did not answer within 200 ms: check that it is healthy, then try again`,
    );
  } finally {
    server.closeAllConnections();
    await new Promise<void>((r) => server.close(() => r()));
  }
});

test('a path prefix in the server address is kept', async () => {
  const seen: string[] = [];
  const server = http.createServer((req, res) => {
    seen.push(req.url ?? '');
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end('{"status":"ok","reports":[]}');
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/errors`;
  await new ApiClient({ server: url }).listReports('3fa9c1d2e4b7', { limit: 5 });
  await new Promise<void>((r) => server.close(() => r()));
  expect(seen).toEqual(['/errors/v1/groups/3fa9c1d2e4b7/reports?limit=5']);
});

test("JSON that is not the collector's answer (another service on the port): exit 1, never a false success", async () => {
  const other = await otherServer(200, '{"foo":1}');
  const { url } = other;
  const c = new ApiClient({ server: url, token: 'jcs_adm_x' });
  try {
    const calls: Promise<unknown>[] = [
      c.listGroups(),
      c.groupIds('abc'),
      c.getGroup('abcdef123456'),
      c.setGroupStatus('abcdef123456', { status: 'resolved' }),
      c.listReports('abcdef123456'),
      c.getReport('0b7c6f2e-9c1a-4e8e-8f1e-2d6b7a9c0d11'),
      c.listAudit(),
      c.verifyAudit(),
      c.expire(),
      c.retentionStatus(),
      c.erase({ license: 'JCS-1' }),
    ];
    for (const call of calls) {
      const err = await failure(call);
      expect(err).toBeInstanceOf(ServerError);
      expect(err.exitCode).toBe(EXIT.failed);
      expect(err.message).toBe(
        `${url} did not answer like a JCS collector (HTTP 200, application/json): check --server or JCS_ERRORS_SERVER, and any proxy in front of the collector`,
      );
    }
  } finally {
    await other.close();
  }
});

test('JSON shaped almost like an answer (a field missing or of another type, another group): exit 1', async () => {
  let answer: unknown = null;
  const other = http.createServer((_req, res) => {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify(answer));
  });
  await new Promise<void>((resolve) => other.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(other.address() as AddressInfo).port}`;
  const c = new ApiClient({ server: url, token: 'jcs_adm_x' });
  const group = makeFixtures().groups[0];
  const id = group.id;
  const reportId = '0b7c6f2e-9c1a-4e8e-8f1e-2d6b7a9c0d11';
  const cases: [unknown, () => Promise<unknown>][] = [
    [{ groups: [{ id: 1 }], window: {} }, () => c.listGroups()],
    [{ groups: [group], window: { since: 'yesterday' } }, () => c.listGroups()],
    [
      {
        groups: [{ ...group, count: '3' }],
        window: { since: group.firstSeen, until: group.lastSeen },
      },
      () => c.listGroups(),
    ],
    [{ reports: [{ id: 5 }] }, () => c.listReports(id)],
    [{ entries: [{ seq: 1 }] }, () => c.listAudit()],
    [
      { ...group, byVersion: [], byLine: [], byDay: [], latest: [{ id: reportId }] },
      () => c.getGroup(id),
    ],
    // a change answered with another status, or for another group, did not happen as asked
    [{ ...group, status: 'unresolved' }, () => c.setGroupStatus(id, { status: 'resolved' })],
    [
      { ...group, id: 'ffffffffffff', status: 'resolved' },
      () => c.setGroupStatus(id, { status: 'resolved' }),
    ],
    [{ id: 'zzz', status: 'resolved' }, () => c.setGroupStatus(id, { status: 'resolved' })],
    [{ id: reportId, error: {} }, () => c.getReport(reportId)],
    [
      { cutoff: 'x', deletedReports: 1, destroyedKeys: 0, durationMs: 3, dryRun: false },
      () => c.expire(),
    ],
    [
      { retentionDays: 42, reports: 1, oldestReceivedAt: null, lastExpiry: {}, compliant: true },
      () => c.retentionStatus(),
    ],
    [{ erasedReports: '2' }, () => c.erase({ license: 'JCS-1' })],
    [{ erasedReports: -1 }, () => c.erase({ license: 'JCS-1' })],
    [{ erasedReports: 1.5 }, () => c.erase({ license: 'JCS-1' })],
  ];
  try {
    for (const [body, call] of cases) {
      answer = body;
      const err = await failure(call());
      expect(err.exitCode).toBe(EXIT.failed);
      expect(err.message).toContain('did not answer like a JCS collector');
    }
    // the same answers whole are taken
    answer = { ...group, status: 'resolved', resolvedInVersion: '5.3' };
    await expect(
      c.setGroupStatus(id, { status: 'resolved', resolvedInVersion: '5.3' }),
    ).resolves.toBeDefined();
  } finally {
    await new Promise((resolve) => other.close(resolve));
  }
});

test('ids, versions and dates that the CLI prints as they are may hold no control character: such an answer is no collector', async () => {
  // Before, `top` printed an id or a version from another server (or a tampered http:// answer)
  // raw, and `ESC]0;...` retitled the engineer's terminal.
  let answer: unknown = null;
  let type = 'application/json';
  const other = http.createServer((_req, res) => {
    res.writeHead(200, { 'content-type': type });
    res.end(JSON.stringify(answer));
  });
  await new Promise<void>((resolve) => other.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(other.address() as AddressInfo).port}`;
  const c = new ApiClient({ server: url, token: 'jcs_adm_x' });
  const group = makeFixtures().groups[0];
  const window = { since: group.firstSeen, until: group.lastSeen };
  const reportId = '0b7c6f2e-9c1a-4e8e-8f1e-2d6b7a9c0d11';
  const short = {
    id: reportId,
    occurredAt: group.firstSeen,
    receivedAt: group.firstSeen,
    version: '5.2',
    license: 'JCS-1',
    line: 3,
    repeats: 0,
  };
  const detail = { ...group, byVersion: [], byLine: [], byDay: [], latest: [] };
  const full = {
    ...short,
    group: group.id,
    app: { name: 'JCS', version: '5.2' },
    error: { number: 1, description: 'd', module: 'm', procedure: 'p', line: 3 },
  };
  const osc = '\u001b]0;PWN\u0007';
  const cases: [unknown, () => Promise<unknown>][] = [
    [{ groups: [{ ...group, id: `${group.id}${osc}` }], window }, () => c.listGroups()],
    [{ groups: [{ ...group, versions: [`5.2${osc}`] }], window }, () => c.listGroups()],
    [{ groups: [{ ...group, versions: ['5.2\u009b31m'] }], window }, () => c.listGroups()],
    [{ ...detail, resolvedInVersion: `5.3${osc}` }, () => c.getGroup(group.id)],
    [{ ...detail, byVersion: [{ version: `5${osc}`, count: 1 }] }, () => c.getGroup(group.id)],
    [{ ...detail, latest: [{ ...short, occurredAt: `x${osc}` }] }, () => c.getGroup(group.id)],
    [{ reports: [{ ...short, id: `${reportId}${osc}` }] }, () => c.listReports(group.id)],
    [{ ...full, group: `${group.id}${osc}` }, () => c.getReport(reportId)],
    [{ ...full, dumpWithheld: `user-opt-out${osc}` }, () => c.getReport(reportId)],
    [{ ...full, receivedAt: `${group.firstSeen}\u202e` }, () => c.getReport(reportId)],
  ];
  try {
    for (const [body, call] of cases) {
      answer = body;
      const err = await failure(call());
      expect(err.message).toContain('did not answer like a JCS collector');
    }
    // the same answers clean are taken
    answer = { ...full, dumpWithheld: 'user-opt-out' };
    await expect(c.getReport(reportId)).resolves.toBeDefined();
    // and a content type from such a server is said with its controls replaced
    type = 'text/html\u009b2J';
    answer = 'not an object';
    const err = await failure(c.listGroups());
    expect(err.message).toContain('(HTTP 200, text/html\uFFFD2J)');
  } finally {
    await new Promise((resolve) => other.close(resolve));
  }
});

test("an answer over 64 MiB is refused as no collector's, read no further (exit 1)", async () => {
  // Before, the CLI read it all: half a gigabyte took 3.4 GB of memory and two minutes.
  let written = 0;
  const other = http.createServer((_req, res) => {
    res.writeHead(200, { 'content-type': 'application/json' });
    const chunk = Buffer.alloc(1024 * 1024, 0x20);
    res.write('{"groups":[');
    const more = () => {
      while (written < 200 && res.write(chunk)) written++;
      if (written < 200) res.once('drain', more);
      else res.end(']}');
    };
    more();
  });
  await new Promise<void>((resolve) => other.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(other.address() as AddressInfo).port}`;
  try {
    const err = await failure(new ApiClient({ server: url, token: 'jcs_eng_x' }).listGroups());
    expect(err.exitCode).toBe(EXIT.failed);
    expect(err.message).toMatch(
      /answered with over 64 MiB \(HTTP 200\), which no JCS collector does/,
    );
    expect(written).toBeLessThan(200);
  } finally {
    other.closeAllConnections();
    await new Promise((resolve) => other.close(resolve));
  }
});

test("the server's error message is quoted with its control characters replaced", async () => {
  const hostile = http.createServer((_req, res) => {
    res.writeHead(500, { 'content-type': 'application/json' });
    res.end(
      JSON.stringify({
        error: { code: 'internal', message: 'Bad \u001b[31mred\u001b]0;pwned\u0007 x.' },
      }),
    );
  });
  await new Promise<void>((resolve) => hostile.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(hostile.address() as AddressInfo).port}`;
  try {
    const err = await failure(new ApiClient({ server: url, token: 'jcs_eng_x' }).listGroups());
    expect(err.message).toBe(
      'the collector failed (HTTP 500: Bad \uFFFD[31mred\uFFFD]0;pwned\uFFFD x): check its log, then try again',
    );
  } finally {
    await new Promise((resolve) => hostile.close(resolve));
  }
});

test('a 404 is "not found" (exit 4) only where the request named a group or report', async () => {
  // Another service (or a proxy) that answers every path with a JSON 404 in the collector's form.
  const other = http.createServer((_req, res) => {
    res.writeHead(404, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ error: { code: 'not_found', message: 'Nothing here.' } }));
  });
  await new Promise<void>((resolve) => other.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(other.address() as AddressInfo).port}`;
  const c = new ApiClient({ server: url, token: 'jcs_adm_x' });
  try {
    for (const call of [
      () => c.retentionStatus(),
      () => c.listGroups(),
      () => c.listAudit(),
      () => c.verifyAudit(),
      () => c.expire(),
      () => c.erase({ license: 'JCS-1' }),
      () => c.groupIds('3fa9'),
    ]) {
      const err = await failure(call());
      expect(err).toBeInstanceOf(ServerError);
      expect(err.exitCode).toBe(EXIT.failed);
      expect(err.message).toBe(
        `${url} has no such route: set --server to the collector's own address`,
      );
    }
    for (const call of [
      () => c.getGroup('3fa9c1d2e4b5'),
      () => c.listReports('3fa9c1d2e4b5'),
      () => c.setGroupStatus('3fa9c1d2e4b5', { status: 'ignored' }),
      () => c.getReport('0b6c2a8e-8f7d-4c1b-9a55-2f3e4d5c6b7a'),
    ]) {
      const err = await failure(call());
      expect(err).toBeInstanceOf(NotFoundError);
      expect(err.message).toBe('not found: Nothing here');
    }
  } finally {
    await new Promise((resolve) => other.close(resolve));
  }
});

test("a server's details, Location and Retry-After reach stderr with controls replaced", () => {
  const label = { serverLabel: 'http://x', hasToken: true, tokenHint: '--token' };
  const details = failureError(
    new Response(null, { status: 400 }),
    JSON.stringify({
      error: {
        code: 'invalid_request',
        message: 'bad',
        details: [{ path: '/since\u001b]0;owned\u0007', message: 'must\u001b[2J be\u200b' }],
      },
    }),
    'engineer',
    label,
  );
  expect(details.message).toBe(
    'the collector rejected the request: bad (/since\uFFFD]0;owned\uFFFD must\uFFFD[2J be\uFFFD); check the options',
  );
  const moved = failureError(
    new Response(null, { status: 302, headers: { location: 'http://a/\u001b[2J' } }),
    '',
    'engineer',
    label,
  );
  expect(moved.message).toBe(
    "http://x redirects to http://a/\uFFFD[2J: set --server to the collector's own address",
  );
  const wait = failureError(
    new Response(null, { status: 503, headers: { 'retry-after': '5\u001b[2J' } }),
    JSON.stringify({ error: { code: 'unavailable', message: 'busy' } }),
    'engineer',
    label,
  );
  // not a number of seconds nor a date: not repeated
  expect(wait.message).toBe('the collector cannot take this now: try again shortly');
});

test('a Retry-After given as a date (a proxy may) is said in seconds; a long server message is cut', () => {
  const label = { serverLabel: 'http://x', hasToken: true, tokenHint: '--token' };
  const at = new Date(Date.now() + 90_500).toUTCString();
  const dated = failureError(
    new Response(null, { status: 429, headers: { 'retry-after': at } }),
    JSON.stringify({ error: { code: 'rate_limited', message: 'slow down' } }),
    'engineer',
    label,
  );
  expect(dated.message).toMatch(/^the collector is limiting requests: try again in (90|91)s$/);
  const past = failureError(
    new Response(null, {
      status: 503,
      headers: { 'retry-after': 'Wed, 21 Oct 2015 07:28:00 GMT' },
    }),
    JSON.stringify({ error: { code: 'unavailable', message: 'busy' } }),
    'engineer',
    label,
  );
  expect(past.message).toBe('the collector cannot take this now: try again in 1s');
  const long = failureError(
    new Response(null, { status: 500 }),
    JSON.stringify({ error: { code: 'internal', message: 'x'.repeat(100_000) } }),
    'engineer',
    label,
  );
  expect(long.message).toBe(
    `the collector failed (HTTP 500: ${'x'.repeat(300)}…): check its log, then try again`,
  );
});

test.each([
  [
    'ERR_TLS_CERT_ALTNAME_INVALID',
    /for another host name .*: set --server to a name the certificate is for$/,
  ],
  ['CERT_HAS_EXPIRED', /out of date \(CERT_HAS_EXPIRED\): renew it on the collector/],
  [
    'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
    /refused \(UNABLE_TO_VERIFY_LEAF_SIGNATURE\): set NODE_EXTRA_CA_CERTS/,
  ],
  ['DEPTH_ZERO_SELF_SIGNED_CERT', /set NODE_EXTRA_CA_CERTS to its CA file/],
])('a TLS certificate refused for %s says what to do about that', (code, message) => {
  // as fetch reports it: a TypeError whose cause carries the code
  const err = Object.assign(new TypeError('fetch failed'), { cause: { code } });
  const label = { serverLabel: 'https://errors.example', hasToken: true, tokenHint: '--token' };
  const e = unreachableError(err, 30_000, label);
  expect(e.exitCode).toBe(EXIT.failed);
  expect(e.message).toMatch(message);
});
