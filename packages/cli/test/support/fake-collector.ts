import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import { ERRORS, parseTimeBound, type ErrorCode, type Group } from '@jcs/protocol';
import { makeFixtures, type Fixtures } from './fixtures';

/**
 * A real HTTP server answering canned, contract-shaped JSON (contract section 2), with the
 * contract's roles: the CLI under test talks to it over a socket exactly as to the collector.
 */
export interface FakeCollector {
  url: string;
  tokens: { ingest: string; engineer: string; admin: string };
  fixtures: Fixtures;
  /** every request, in order */
  requests: {
    method: string;
    path: string;
    query: URLSearchParams;
    body: unknown;
    auth?: string;
  }[];
  /** the exact body of the last answer, for `--json` comparisons */
  lastBody: string;
  /** makes the next request answer this instead */
  failNext(status: number, code: ErrorCode | null, headers?: Record<string, string>): void;
  close(): Promise<void>;
}

const TOKENS = { ingest: 'tok-ingest', engineer: 'tok-engineer', admin: 'tok-admin' };

export async function startFakeCollector(
  fixtures: Fixtures = makeFixtures(),
): Promise<FakeCollector> {
  let pending: { status: number; code: ErrorCode | null; headers: Record<string, string> } | null =
    null;
  const fake: FakeCollector = {
    url: '',
    tokens: TOKENS,
    fixtures,
    requests: [],
    lastBody: '',
    failNext(status, code, headers = {}) {
      pending = { status, code, headers };
    },
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };

  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const url = new URL(req.url ?? '/', 'http://fake');
      const text = Buffer.concat(chunks).toString('utf8');
      let body: unknown;
      try {
        body = text ? JSON.parse(text) : undefined;
      } catch {
        body = text;
      }
      fake.requests.push({
        method: req.method ?? 'GET',
        path: url.pathname,
        query: url.searchParams,
        body,
        auth: req.headers.authorization,
      });
      const send = (status: number, value: unknown, headers: Record<string, string> = {}) => {
        const out = JSON.stringify(value);
        fake.lastBody = out;
        // The collector's clock is the fixtures' (a real one sends its own, as this does).
        res.writeHead(status, {
          'content-type': 'application/json',
          date: fake.fixtures.now.toUTCString(),
          ...headers,
        });
        res.end(out);
      };
      const fail = (code: ErrorCode, message?: string, headers?: Record<string, string>) =>
        send(
          ERRORS[code].status,
          { error: { code, message: message ?? ERRORS[code].message } },
          headers,
        );

      if (pending) {
        const p = pending;
        pending = null;
        if (p.code === null) {
          res.writeHead(p.status, { 'content-type': 'text/html', ...p.headers });
          res.end('<html>proxy error</html>');
          return;
        }
        send(p.status, { error: { code: p.code, message: ERRORS[p.code].message } }, p.headers);
        return;
      }
      route(req.method ?? 'GET', url, body, req.headers.authorization, fixtures, send, fail);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  fake.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return fake;
}

type Send = (status: number, value: unknown, headers?: Record<string, string>) => void;
type Fail = (code: ErrorCode, message?: string) => void;

function route(
  method: string,
  url: URL,
  body: unknown,
  auth: string | undefined,
  f: Fixtures,
  send: Send,
  fail: Fail,
): void {
  const path = url.pathname;
  const q = url.searchParams;
  if (method === 'GET' && path === '/v1/health') return send(200, { status: 'ok' });

  const role = roleOf(auth);
  if (!role) return fail('unauthorized');
  const admin = /^\/v1\/(audit|expire|status|erase)/.test(path);
  if (role === 'ingest' || (admin && role !== 'admin')) return fail('forbidden');

  const since = q.get('since');
  if (since !== null && parseTimeBound(since, f.now) === null) {
    return send(400, {
      error: {
        code: 'invalid_request',
        message: 'A query parameter is not valid.',
        details: [{ path: '/since', message: 'must be a duration or an ISO date-time' }],
      },
    });
  }
  const limit = q.has('limit') ? Number(q.get('limit')) : undefined;

  let m: RegExpExecArray | null;
  if (method === 'GET' && path === '/v1/groups') {
    const status = q.get('status') ?? 'unresolved';
    const sort = q.get('sort') ?? 'count';
    const version = q.get('version');
    let groups = f.groups.filter((g) => status === 'all' || g.status === status);
    if (version) groups = groups.filter((g) => g.versions.includes(version));
    groups = [...groups].sort(sorter(sort));
    const from = parseTimeBound(since ?? '7d', f.now) ?? f.now;
    return send(200, {
      groups: groups.slice(0, limit ?? 20),
      window: { since: from.toISOString(), until: f.now.toISOString() },
    });
  }
  if (method === 'GET' && path === '/v1/group-ids' && !f.contractRoutesOnly) {
    const prefix = q.get('prefix') ?? '';
    const found = [...f.groups]
      .filter((g) => g.id.startsWith(prefix))
      .sort((a, b) => a.id.localeCompare(b.id));
    return send(200, {
      groups: found
        .slice(0, 20)
        .map((g) => ({ id: g.id, module: g.module, procedure: g.procedure })),
      more: found.length > 20,
    });
  }
  if ((m = /^\/v1\/groups\/([0-9a-f]{12})$/.exec(path))) {
    const group = f.groups.find((g) => g.id === m![1]);
    if (!group) return fail('not_found', `No group ${m[1]}.`);
    if (method === 'GET') {
      const detail = f.details[group.id] ?? {
        ...group,
        byVersion: [],
        byLine: [],
        byDay: [],
        latest: [],
      };
      return send(200, detail);
    }
    if (method === 'PATCH') {
      const change = body as { status?: string; resolvedInVersion?: string };
      if (!change || !['resolved', 'ignored', 'unresolved'].includes(change.status ?? '')) {
        return fail('invalid_request');
      }
      group.status = change.status as Group['status'];
      group.resolvedInVersion = change.resolvedInVersion ?? null;
      group.regressed = false;
      return send(200, group);
    }
  }
  if (method === 'GET' && (m = /^\/v1\/groups\/([0-9a-f]{12})\/reports$/.exec(path))) {
    const list = f.reports[m[1]];
    if (!list) return fail('not_found');
    return send(200, { reports: list.slice(0, limit ?? 20) });
  }
  if (method === 'GET' && (m = /^\/v1\/reports\/([0-9a-f-]{36})$/.exec(path))) {
    const report = f.fullReports[m[1]];
    if (!report) return fail('not_found');
    const dump = q.get('dump') === '1' ? f.dumps[m[1]] : undefined;
    return send(200, dump === undefined ? report : { ...report, dump });
  }
  if (method === 'GET' && path === '/v1/audit') {
    return send(200, { entries: f.audit.slice(0, limit ?? 100) });
  }
  if (method === 'GET' && path === '/v1/audit/verify') {
    const broken = f.audit.find((e) => e.hash === 'broken');
    return send(
      200,
      broken ? { ok: false, brokenAt: broken.seq } : { ok: true, entries: f.audit.length },
    );
  }
  if (method === 'POST' && path === '/v1/expire') {
    const dryRun = !f.ignoresDryRun && (body as { dryRun?: unknown } | undefined)?.dryRun === true;
    return send(200, { ...f.expiry, dryRun });
  }
  if (method === 'GET' && path === '/v1/status') return send(200, f.status);
  if (method === 'POST' && path === '/v1/erase') {
    const subject = body as { username?: string; license?: string };
    const key =
      subject?.username !== undefined
        ? `username:${subject.username}`
        : `license:${subject?.license}`;
    return send(200, { erasedReports: f.erasable[key] ?? 0 });
  }
  return fail('not_found');
}

function roleOf(auth: string | undefined): 'ingest' | 'engineer' | 'admin' | undefined {
  const token = /^Bearer (.+)$/.exec(auth ?? '')?.[1];
  return (Object.keys(TOKENS) as (keyof typeof TOKENS)[]).find((role) => TOKENS[role] === token);
}

function sorter(sort: string): (a: Group, b: Group) => number {
  switch (sort) {
    case 'users':
      return (a, b) => b.users - a.users;
    case 'last':
      return (a, b) => b.lastSeen.localeCompare(a.lastSeen);
    case 'first':
      return (a, b) => b.firstSeen.localeCompare(a.firstSeen);
    default:
      return (a, b) => b.count - a.count;
  }
}
