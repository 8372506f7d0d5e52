import fs from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import os from 'node:os';
import path from 'node:path';
import type { AddressInfo } from 'node:net';
import type { Report } from '@jcs/protocol';
import { classify, createTransport } from '../src/transport';
import { fetchRequest, httpRequest } from '../src/http-request';
import { createReporter } from '../src';
import { makeCertificate } from '../../../test-support/certificate';
import { startTestServer, type TestServer } from './helpers/test-server';

const report: Report = {
  schema: 1,
  id: '3f2b8c1e-9a4d-4e6f-8b2a-1c3d5e7f9a0b',
  occurredAt: '2026-11-28T10:15:00Z',
  app: { name: 'JCS', version: '5.2.1.345' },
  license: 'JCS-000123',
  error: { number: 91, description: 'd', module: 'm', procedure: 'p', line: 1 },
};

/**
 * A server on a free loopback port answering with `handler`; `send(base)` posts the report to
 * `<base>/v1/reports` on it through a real transport.
 */
async function answering(handler: http.RequestListener) {
  const server = http.createServer(handler);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as AddressInfo;
  return {
    send: (base: string) =>
      createTransport({
        url: `http://127.0.0.1:${port}${base}/v1/reports`,
        token: 't',
        timeoutMs: 2000,
      }).send(report),
    close: () => new Promise<void>((r) => server.close(() => r())),
  };
}

describe('transport over a real socket', () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer();
  });
  afterAll(() => server.close());

  const transport = (timeoutMs = 2000) =>
    createTransport({ url: `${server.url}v1/reports`, token: server.token, timeoutMs });

  it('posts JSON with the bearer token and reads 202 then 200 as delivered', async () => {
    expect(await transport().send(report)).toEqual({ kind: 'delivered', status: 202 });
    expect(await transport().send(report)).toEqual({ kind: 'delivered', status: 200 });
    const req = server.received.at(-1)!;
    expect(req.headers['content-type']).toBe('application/json');
    expect(req.headers.authorization).toBe(`Bearer ${server.token}`);
    expect(JSON.parse(req.body)).toEqual(report);
  });

  it('classifies every answer of the contract', async () => {
    server.script(
      { status: 400, body: { error: { code: 'invalid_report', message: 'm' } } },
      { status: 413 },
      { status: 429, headers: { 'retry-after': '7' } },
      { status: 503, headers: { 'retry-after': '3' } },
      { status: 408 },
      { status: 500 },
      { status: 401, body: { error: { code: 'unauthorized', message: 'm' } } },
    );
    const t = transport();
    expect(await t.send(report)).toEqual({ kind: 'rejected', status: 400, code: 'invalid_report' });
    expect(await t.send(report)).toEqual({ kind: 'too_large', status: 413 });
    expect(await t.send(report)).toEqual({ kind: 'retry_after', status: 429, delayMs: 7000 });
    expect(await t.send(report)).toEqual({ kind: 'retry_after', status: 503, delayMs: 3000 });
    expect(await t.send(report)).toEqual({ kind: 'retry_after', status: 408, delayMs: null });
    expect(await t.send(report)).toEqual({ kind: 'failed', status: 500, reason: 'HTTP 500' });
    expect(await t.send(report)).toEqual({ kind: 'rejected', status: 401, code: 'unauthorized' });
  });

  it('reads a dropped connection and a timeout as failures, never rejecting', async () => {
    server.script('destroy', 'hang');
    expect(await transport().send(report)).toMatchObject({ kind: 'failed' });
    const start = Date.now();
    expect(await transport(300).send(report)).toEqual({ kind: 'failed', reason: 'timed out' });
    expect(Date.now() - start).toBeLessThan(2000);
  });

  it('reads a refused connection as a failure', async () => {
    const closed = http.createServer();
    await new Promise<void>((r) => closed.listen(0, '127.0.0.1', r));
    const port = (closed.address() as AddressInfo).port;
    await new Promise<void>((r) => closed.close(() => r()));
    const t = createTransport({
      url: `http://127.0.0.1:${port}/v1/reports`,
      token: 't',
      timeoutMs: 1000,
    });
    expect(await t.send(report)).toEqual({ kind: 'failed', reason: 'ECONNREFUSED' });
  });

  it('refuses to follow redirects', async () => {
    server.script({ status: 302, headers: { location: 'http://example.com/' } });
    expect(await transport().send(report)).toMatchObject({ kind: 'failed' });
  });

  it('uses an injected makeRequest, and a throwing one is a failure', async () => {
    const seen: string[] = [];
    const t = createTransport(
      { url: 'https://x.example/v1/reports', token: 't', timeoutMs: 1 },
      async (req) => {
        seen.push(req.url);
        return { statusCode: 202 };
      },
    );
    expect(await t.send(report)).toEqual({ kind: 'delivered', status: 202 });
    expect(seen).toEqual(['https://x.example/v1/reports']);
    const throwing = createTransport({ url: 'u', token: 't', timeoutMs: 1 }, async () => {
      throw new Error('boom');
    });
    expect(await throwing.send(report)).toEqual({ kind: 'failed', reason: 'network error' });
  });

  it('classify treats other 4xx as unmendable and other 5xx as retryable', () => {
    expect(classify({ statusCode: 422 })).toEqual({ kind: 'rejected', status: 422 });
    expect(classify({ statusCode: 404 })).toMatchObject({ kind: 'failed', status: 404 });
    expect(classify({ statusCode: 405 })).toMatchObject({ kind: 'failed', status: 405 });
    expect(classify({ statusCode: 301 })).toEqual({
      kind: 'failed',
      status: 301,
      reason:
        "HTTP 301: the endpoint redirects, which the SDK never follows; set endpoint to the collector's own address",
    });
    expect(classify({ statusCode: 415, body: '{"error":{"code":"x"}}' })).toMatchObject({
      kind: 'rejected',
    });
    expect(classify({ statusCode: 400, body: '' })).toMatchObject({ kind: 'rejected' });
    // a page, not the collector's JSON error (a proxy's, a firewall's): kept and tried again
    for (const body of [
      'not json',
      '<html><h1>403 Forbidden</h1></html>',
      '[]',
      '{"message":"no"}',
    ]) {
      expect(classify({ statusCode: 403, body })).toEqual({
        kind: 'failed',
        status: 403,
        reason: 'HTTP 403 not from a collector',
      });
    }
    // A JSON error cut off (over the 4 KiB read) is the collector's; a whole non-JSON body is not.
    const cut = {
      statusCode: 400,
      body: '{"error":{"code":"invalid_report","det',
      truncated: true,
    };
    expect(classify(cut)).toMatchObject({ kind: 'rejected', status: 400 });
    expect(classify({ ...cut, truncated: undefined })).toMatchObject({ kind: 'failed' });
    expect(classify({ statusCode: 400, body: '{{ error }}' })).toMatchObject({ kind: 'failed' });
    expect(classify({ statusCode: 502 })).toMatchObject({ kind: 'failed', status: 502 });
  });

  it("a 200 that is not the collector's answer for the report is a failure, not a delivery", async () => {
    // a wrong endpoint behind a catch-all web server: deleting on its 200 would empty the queue
    const html = http.createServer((_req, res) => {
      res.writeHead(200, { 'content-type': 'text/html' });
      res.end('<!doctype html><title>Welcome</title>');
    });
    await new Promise<void>((r) => html.listen(0, '127.0.0.1', r));
    const { port } = html.address() as AddressInfo;
    const t = createTransport({
      url: `http://127.0.0.1:${port}/v1/reports`,
      token: 't',
      timeoutMs: 2000,
    });
    expect(await t.send(report)).toEqual({
      kind: 'failed',
      status: 200,
      reason: 'HTTP 200 not from a collector',
    });
    await new Promise<void>((r) => html.close(() => r()));

    const answer = (body?: string, truncated?: boolean) =>
      classify({ statusCode: 202, body, ...(truncated ? { truncated } : {}) }, report.id);
    expect(answer(JSON.stringify({ id: report.id, group: 'g' }))).toMatchObject({
      kind: 'delivered',
    });
    expect(answer('[]')).toMatchObject({ kind: 'failed' });
    expect(answer('"accepted"')).toMatchObject({ kind: 'failed' });
    // an object naming no report is given the benefit of the doubt (a stand-in collector's {})
    expect(answer('{}')).toMatchObject({ kind: 'delivered' });
    expect(answer(JSON.stringify({ id: 'another', group: 'g' }))).toMatchObject({ kind: 'failed' });
    // the status is what the collector said when its answer was cut off, or not read
    expect(answer(`{"id":"${report.id.slice(0, 4)}`, true)).toMatchObject({ kind: 'delivered' });
    expect(answer(`{"id":"${report.id}","gr`, true)).toMatchObject({ kind: 'delivered' });
    expect(answer('{', true)).toMatchObject({ kind: 'delivered' });
    expect(answer(undefined)).toMatchObject({ kind: 'delivered' });
    // ... but not when what came of its id is another report's
    expect(answer('{"id":"zz', true)).toMatchObject({ kind: 'failed' });
    expect(answer('{"id":"another","gr', true)).toMatchObject({ kind: 'failed' });
    // a whole body that is not JSON is no collector's, however it starts (before, any body
    // starting with "{" was taken for a cut-off answer, and the report deleted)
    for (const body of [
      `{"id":"${report.id.slice(0, 4)}`,
      '{status: "ok"}',
      '{"status":"ok",}',
      '{{ response }}',
      '{"ok":true}<!-- stub -->',
    ]) {
      expect(answer(body)).toMatchObject({ kind: 'failed' });
    }
    // a whole answer with nothing in it: a web server's stub, not the collector
    expect(answer('')).toMatchObject({ kind: 'failed' });
  });

  it('over the wire: an empty 200 is a failure; a 202 cut off before its body is delivered', async () => {
    const server = await answering((req, res) => {
      if (req.url === '/stub/v1/reports') {
        res.writeHead(200, { 'content-length': '0' });
        res.end();
        return;
      }
      // The collector's 202 whose connection breaks before the body: the status was said.
      res.writeHead(202, { 'content-type': 'application/json', 'content-length': '80' });
      res.flushHeaders();
      setTimeout(() => res.socket?.destroy(), 20);
    });
    try {
      expect(await server.send('/stub')).toEqual({
        kind: 'failed',
        status: 200,
        reason: 'HTTP 200 not from a collector',
      });
      expect(await server.send('')).toEqual({ kind: 'delivered', status: 202 });
    } finally {
      await server.close();
    }
  });

  it('over the wire: a whole 200 body that only starts like JSON is a failure, and so is one longer than the SDK reads', async () => {
    const server = await answering((req, res) => {
      req.resume();
      const body =
        req.url === '/stub/v1/reports'
          ? '{status: "ok"}'
          : // padded past the 4 KiB the SDK reads: the collector's answer is some 80 characters
            `{"id":"${report.id}","group":"g","pad":"${'x'.repeat(6000)}"}`;
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(body);
    });
    try {
      for (const base of ['/stub', '']) {
        expect(await server.send(base)).toEqual({
          kind: 'failed',
          status: 200,
          reason: 'HTTP 200 not from a collector',
        });
      }
    } finally {
      await server.close();
    }
  });

  it('fetchRequest, the former name, is httpRequest itself', () => {
    expect(fetchRequest).toBe(httpRequest);
  });
});

describe('a collector whose certificate a private CA issued', () => {
  it('is trusted with the ca option, and refused without it (the report kept, not rejected)', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'jcs-sdk-ca-'));
    const [certFile, keyFile] = [path.join(dir, 'cert.pem'), path.join(dir, 'key.pem')];
    makeCertificate(certFile, keyFile);
    const ca = fs.readFileSync(certFile, 'utf8');
    const server = https.createServer({ cert: ca, key: fs.readFileSync(keyFile) }, (req, res) => {
      req.resume();
      req.on('end', () => {
        res.writeHead(202, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ id: report.id, group: 'g' }));
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const url = `https://localhost:${(server.address() as AddressInfo).port}/v1/reports`;
    try {
      const trusting = createTransport({ url, token: 't', timeoutMs: 5000, ca });
      expect(await trusting.send(report)).toEqual({ kind: 'delivered', status: 202 });
      const plain = createTransport({ url, token: 't', timeoutMs: 5000 });
      expect(await plain.send(report)).toEqual({
        kind: 'failed',
        reason: 'DEPTH_ZERO_SELF_SIGNED_CERT',
      });
      // the reporter's option reaches its transport
      let seen: { ca?: string } = {};
      const reporter = createReporter({
        ...minimalOptions(url),
        ca,
        transport: (o) => {
          seen = o;
          return createTransport(o);
        },
      });
      expect(seen.ca).toBe(ca);
      await reporter.close(0);
      // and one that is not a certificate is refused
      expect(() => createReporter({ ...minimalOptions(url), ca: 'not a certificate' })).toThrow(
        /ca must be the text of PEM certificates/,
      );
    } finally {
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

function minimalOptions(endpoint: string) {
  return {
    endpoint: endpoint.replace('/v1/reports', '/'),

    token: 't',
    publicKey: Buffer.alloc(32, 1).toString('base64'),
    keyId: 'k1',
    app: { name: 'JCS', version: '1.0' },
    license: 'L1',
  };
}
