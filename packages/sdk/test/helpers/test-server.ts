import http from 'node:http';
import type { AddressInfo } from 'node:net';
import nacl from 'tweetnacl';
import { groupId, openDump, toBase64, validateReport, type Report } from '@jcs/protocol';

/** One request the test server received on POST /v1/reports. */
export interface Received {
  status: number;
  at: number;
  headers: http.IncomingHttpHeaders;
  body: string;
  report: Report | null;
}

export type Answer =
  | { status: number; headers?: Record<string, string>; body?: unknown }
  | 'hang'
  | 'destroy'
  | 'default';

/**
 * A real HTTP server that behaves like the collector's ingest route by default (validates the
 * report, 202 for a new id, 200 for one seen before, counts occurrences per group) and answers
 * whatever a test tells it to instead.
 */
export interface TestServer {
  url: string;
  port: number;
  token: string;
  publicKey: string;
  secretKey: Uint8Array;
  received: Received[];
  /** reports stored, by id */
  stored: Map<string, Report>;
  /** occurrences per group id (1 + repeats per stored report) */
  counts(): Map<string, number>;
  /** the next answers, in order; afterwards the default */
  script(...answers: Answer[]): void;
  /** answers every request from now on */
  always(answer: Answer): void;
  waitFor(predicate: () => boolean, timeoutMs?: number): Promise<void>;
  /** the decrypted dump of a stored report */
  openDump(report: Report): unknown;
  close(): Promise<void>;
}

export async function startTestServer(port = 0): Promise<TestServer> {
  const keys = nacl.box.keyPair();
  const token = 'test-ingest-token';
  const received: Received[] = [];
  const stored = new Map<string, Report>();
  let scripted: Answer[] = [];
  let fixed: Answer | null = null;
  const hanging = new Set<http.ServerResponse>();

  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8');
      if (req.method !== 'POST' || req.url !== '/v1/reports') {
        res.writeHead(404, { 'content-type': 'application/json' });
        res.end('{"error":{"code":"not_found","message":"No such route."}}');
        return;
      }
      let parsed: unknown = null;
      try {
        parsed = JSON.parse(body);
      } catch {
        // answered below
      }
      const v = validateReport(parsed);
      const entry: Received = {
        status: 0,
        at: Date.now(),
        headers: req.headers,
        body,
        report: v.ok ? v.report : null,
      };
      received.push(entry);
      const answer = scripted.length > 0 ? scripted.shift()! : (fixed ?? 'default');
      if (answer === 'hang') {
        hanging.add(res);
        return;
      }
      if (answer === 'destroy') {
        req.socket.destroy();
        return;
      }
      if (answer !== 'default') {
        entry.status = answer.status;
        res.writeHead(answer.status, { 'content-type': 'application/json', ...answer.headers });
        res.end(JSON.stringify(answer.body ?? { error: { code: 'scripted', message: 'x' } }));
        return;
      }
      if (req.headers.authorization !== `Bearer ${token}`) {
        entry.status = 401;
        res.writeHead(401, { 'content-type': 'application/json' });
        res.end('{"error":{"code":"unauthorized","message":"A valid bearer token is required."}}');
        return;
      }
      if (!v.ok) {
        entry.status = 400;
        res.writeHead(400, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ error: { code: 'invalid_report', details: v.errors } }));
        return;
      }
      const seen = stored.has(v.report.id);
      if (!seen) stored.set(v.report.id, v.report);
      entry.status = seen ? 200 : 202;
      res.writeHead(entry.status, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ id: v.report.id, group: groupOf(v.report) }));
    });
  });
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
  const actualPort = (server.address() as AddressInfo).port;

  return {
    url: `http://127.0.0.1:${actualPort}/`,
    port: actualPort,
    token,
    publicKey: toBase64(keys.publicKey),
    secretKey: keys.secretKey,
    received,
    stored,
    counts() {
      const counts = new Map<string, number>();
      for (const r of stored.values()) {
        const g = groupOf(r);
        counts.set(g, (counts.get(g) ?? 0) + 1 + (r.repeats ?? 0));
      }
      return counts;
    },
    script(...answers) {
      scripted.push(...answers);
    },
    always(answer) {
      scripted = [];
      fixed = answer;
    },
    waitFor(predicate, timeoutMs = 5000) {
      return waitFor(predicate, timeoutMs);
    },
    openDump(report) {
      const text = report.dump ? openDump(report.dump, keys.secretKey) : null;
      return text === null ? undefined : JSON.parse(text);
    },
    async close() {
      for (const res of hanging) res.destroy();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

export function groupOf(report: Report): string {
  return groupId(report.app.name, report.error.number, report.error.module, report.error.procedure);
}

export async function waitFor(predicate: () => boolean, timeoutMs = 5000): Promise<void> {
  const start = Date.now();
  while (!predicate()) {
    if (Date.now() - start > timeoutMs) throw new Error(`condition not met in ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 10));
  }
}
