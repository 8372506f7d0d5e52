import request from 'supertest';
import { makeToken } from '@jcs/collector';
import { makeTestCollector, type TestCollector } from '../../../test-support/app';
import { makeReport } from '../../../test-support/reports';

type Role = 'ingest' | 'engineer' | 'admin';

interface Route {
  method: 'get' | 'post' | 'patch';
  path: string;
  /** roles that may call it; null: no token needed */
  roles: Role[] | null;
  body?: object;
  /** the answer when allowed */
  ok: number;
}

let t: TestCollector;
let groupId: string;
let reportId: string;

beforeEach(async () => {
  t = makeTestCollector();
  const r = makeReport();
  const res = await request(t.app)
    .post('/v1/reports')
    .set('Authorization', `Bearer ${t.tokens.ingest}`)
    .send(r)
    .expect(202);
  groupId = res.body.group;
  reportId = r.id;
});
afterEach(() => t.close());

const routes = (): Route[] => [
  { method: 'get', path: '/v1/health', roles: null, ok: 200 },
  { method: 'get', path: '/v1/public-key', roles: null, ok: 200 },
  // "admin may do all that": posting reports too; an engineer token may not.
  { method: 'post', path: '/v1/reports', roles: ['ingest', 'admin'], body: makeReport(), ok: 202 },
  { method: 'get', path: '/v1/groups', roles: ['engineer', 'admin'], ok: 200 },
  { method: 'get', path: `/v1/groups/${groupId}`, roles: ['engineer', 'admin'], ok: 200 },
  {
    method: 'patch',
    path: `/v1/groups/${groupId}`,
    roles: ['engineer', 'admin'],
    body: { status: 'resolved' },
    ok: 200,
  },
  { method: 'get', path: `/v1/groups/${groupId}/reports`, roles: ['engineer', 'admin'], ok: 200 },
  { method: 'get', path: `/v1/reports/${reportId}`, roles: ['engineer', 'admin'], ok: 200 },
  { method: 'get', path: '/v1/audit', roles: ['admin'], ok: 200 },
  { method: 'get', path: '/v1/audit/verify', roles: ['admin'], ok: 200 },
  {
    method: 'post',
    path: '/v1/erase',
    roles: ['admin'],
    body: { license: 'JCS-NOBODY' },
    ok: 200,
  },
  { method: 'post', path: '/v1/expire', roles: ['admin'], ok: 200 },
  { method: 'get', path: '/v1/status', roles: ['admin'], ok: 200 },
];

function send(route: Route, token?: string) {
  let req = request(t.app)[route.method](route.path);
  if (token !== undefined) req = req.set('Authorization', `Bearer ${token}`);
  return route.body ? req.send(route.body) : req;
}

const auditCount = () =>
  (t.collector.db.prepare('SELECT COUNT(*) AS n FROM audit').get() as { n: number }).n;

describe('each role against each route', () => {
  it('lets each role do what it may and answers 403 forbidden for the rest', async () => {
    const seen: string[] = [];
    for (const route of routes()) {
      for (const role of ['ingest', 'engineer', 'admin'] as Role[]) {
        const allowed = route.roles === null || route.roles.includes(role);
        // A fresh report each time: an id posted before would answer 200, not 202.
        const r = route.path === '/v1/reports' ? { ...route, body: makeReport() } : route;
        const res = await send(r, t.tokens[role]);
        seen.push(
          `${role} ${route.method.toUpperCase()} ${route.path.split('/')[2]}: ${res.status}`,
        );
        if (allowed) {
          expect({ route: route.path, role, status: res.status }).toEqual({
            route: route.path,
            role,
            status: route.ok,
          });
        } else {
          expect({ route: route.path, role, status: res.status }).toEqual({
            route: route.path,
            role,
            status: 403,
          });
          expect(res.body.error.code).toBe('forbidden');
        }
      }
    }
    expect(seen.length).toBe(routes().length * 3);
  });

  it('answers 401 unauthorized with no token, a malformed one, a bad checksum, an unknown or a revoked one', async () => {
    const revoked = t.collector.tokens.create('gone', 'admin', t.clock());
    expect(t.collector.tokens.revoke('gone', t.clock())).toBe(true);
    const admin = t.tokens.admin;
    const lastChar = admin.slice(-1);
    const badChecksum = admin.slice(0, -1) + (lastChar === 'A' ? 'B' : 'A');
    const bad: [string, string | undefined][] = [
      ['no token', undefined],
      ['malformed', 'not-a-token'],
      ['bad checksum', badChecksum],
      ['unknown', makeToken('admin')],
      ['revoked', revoked],
    ];
    for (const route of routes().filter((r) => r.roles !== null)) {
      for (const [what, token] of bad) {
        const res = await send(route, token);
        expect({ route: route.path, what, status: res.status }).toEqual({
          route: route.path,
          what,
          status: 401,
        });
        expect(res.body.error.code).toBe('unauthorized');
      }
    }
    // A mistyped token is refused before any look-up: the message says so.
    const res = await request(t.app)
      .get('/v1/groups')
      .set('Authorization', `Bearer ${badChecksum}`)
      .expect(401);
    expect(res.body.error.message).toMatch(/malformed or mistyped/);
    // RFC 6750: the scheme to use.
    expect(res.headers['www-authenticate']).toBe('Bearer realm="jcs-collector"');
  });

  it('marks every answer not to be cached: reports and dumps go through proxies', async () => {
    const read = await request(t.app)
      .get(`/v1/reports/${reportId}?dump=1`)
      .set('Authorization', `Bearer ${t.tokens.engineer}`)
      .expect(200);
    const post = await request(t.app)
      .post('/v1/reports')
      .set('Authorization', `Bearer ${t.tokens.ingest}`)
      .send(makeReport())
      .expect(202);
    const refused = await request(t.app).get('/v1/groups').expect(401);
    for (const res of [read, post, refused]) {
      expect(res.headers['cache-control']).toBe('no-store');
      expect(res.headers['x-content-type-options']).toBe('nosniff');
    }
  });

  it('answers every GET whole, whatever conditional headers come with it: nothing is cached', async () => {
    // Express answered If-None-Match: * with an empty 304 on every GET, health included, though
    // no answer is ever cacheable (no-store) and the client had nothing to fall back on.
    const conditional = {
      'If-None-Match': '*',
      'If-Modified-Since': new Date(Date.now() + 86_400_000).toUTCString(),
    };
    for (const route of routes().filter((r) => r.method === 'get')) {
      const token = route.roles === null ? undefined : t.tokens[route.roles.at(-1)!];
      let req = request(t.app).get(route.path).set(conditional);
      if (token) req = req.set('Authorization', `Bearer ${token}`);
      const res = await req;
      expect([route.path, res.status]).toEqual([route.path, route.ok]);
      expect(res.headers['content-type']).toBe('application/json; charset=utf-8');
      expect(typeof res.body).toBe('object');
    }
    const dump = await request(t.app)
      .get(`/v1/reports/${reportId}?dump=1`)
      .set(conditional)
      .set('Authorization', `Bearer ${t.tokens.engineer}`);
    expect(dump.status).toBe(200);
    expect(dump.body.id).toBe(reportId);
  });

  it('never lets the ingest token read anything', async () => {
    for (const route of routes().filter((r) => r.roles !== null && !r.roles.includes('ingest'))) {
      const res = await send(route, t.tokens.ingest);
      expect(res.status).toBe(403);
      expect(JSON.stringify(res.body)).not.toContain(reportId);
      expect(JSON.stringify(res.body)).not.toContain('Object variable');
    }
  });

  it('logs every request made with an engineer or admin token, refused or not, public routes too, and no other', async () => {
    for (const route of routes()) {
      for (const role of ['ingest', 'engineer', 'admin'] as Role[]) {
        const before = auditCount();
        const r = route.path === '/v1/reports' ? { ...route, body: makeReport() } : route;
        await send(r, t.tokens[role]);
        const added = auditCount() - before;
        // Public routes too: a request made with an engineer's or admin's token is logged.
        const expected = role === 'ingest' ? 0 : 1;
        if (route.path === '/v1/expire' && role === 'admin') {
          // the expiry job writes its own receipt besides the access entry
          expect(added).toBeGreaterThanOrEqual(1);
        } else {
          expect({ route: route.path, role, added }).toEqual({
            route: route.path,
            role,
            added: expected,
          });
        }
      }
    }
    // A path that is not valid percent-encoding is refused before any route names the actor.
    const before = auditCount();
    await request(t.app)
      .get('/v1/groups/%zz')
      .set('Authorization', `Bearer ${t.tokens.engineer}`)
      .expect(400);
    expect(auditCount() - before).toBe(1);
    const entries = t.collector.audit.list({ limit: 1000 });
    expect(entries.some((e) => e.actor === 'alice' && e.outcome === 'forbidden')).toBe(true);
    expect(entries.some((e) => e.actor === 'root' && e.action === 'reports.get')).toBe(true);
  });
});
