import fs from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import net, { type AddressInfo } from 'node:net';
import path from 'node:path';
import { makeCertificate } from '../../../test-support/certificate';
import { makeReport } from '../../../test-support/reports';
import { createReporter, createTransport, type Diagnostic } from '../src';
import { chooseProxy, proxyAuthorization, proxyUrl } from '../src/proxy';
import { cleanupTempDirs, optionsFor, queuedReports, tempDir } from './helpers/fixtures';
import { runHost } from './helpers/host';
import { startTestProxy, type TestProxy } from '../../../test-support/test-proxy';
import { startTestServer, waitFor, type TestServer } from './helpers/test-server';

/**
 * Reports through an HTTP proxy: a real proxy on loopback (helpers/test-proxy.ts), which takes
 * every host name to mean 127.0.0.1, so `collector.test` endpoints reach the test servers here.
 */
jest.setTimeout(30_000);

const target = (url: string) => new URL(url);

describe('which proxy, if any (chooseProxy)', () => {
  const https_ = target('https://errors.example/v1/reports');
  const http_ = target('http://errors.example:8080/v1/reports');

  it('reads https_proxy (then HTTPS_PROXY) for https, http_proxy alone for http, as curl', () => {
    const env = { HTTPS_PROXY: 'http://big:1/', https_proxy: 'http://small:2/' };
    expect(chooseProxy(https_, undefined, env)).toEqual({ url: 'http://small:2/' });
    expect(chooseProxy(https_, undefined, { HTTPS_PROXY: 'http://big:1' })).toEqual({
      url: 'http://big:1/',
    });
    expect(chooseProxy(http_, undefined, env)).toEqual({});
    expect(chooseProxy(http_, undefined, { http_proxy: 'http://p:3' })).toEqual({
      url: 'http://p:3/',
    });
    // never HTTP_PROXY, which a CGI request's Proxy: header can set ("httpoxy")
    expect(chooseProxy(http_, undefined, { HTTP_PROXY: 'http://p:3' })).toEqual({});
    expect(chooseProxy(https_, undefined, { HTTP_PROXY: 'http://p:3' })).toEqual({});
    expect(chooseProxy(https_, undefined, {})).toEqual({});
    expect(chooseProxy(https_, undefined, { HTTPS_PROXY: ' ' })).toEqual({});
    // set but empty counts as not set
    expect(
      chooseProxy(https_, undefined, { https_proxy: '', HTTPS_PROXY: 'http://big:1' }),
    ).toEqual({ url: 'http://big:1/' });
  });

  it('takes a bare host:port as http://, ignores a path, and keeps credentials', () => {
    expect(proxyUrl('proxy.office.example:3128')).toBe('http://proxy.office.example:3128/');
    expect(proxyUrl('http://proxy:8080/wpad?x#y')).toBe('http://proxy:8080/');
    expect(chooseProxy(https_, undefined, { HTTPS_PROXY: 'ann:s%3Acret@proxy:3128' })).toEqual({
      url: 'http://ann:s%3Acret@proxy:3128/',
    });
    for (const bad of ['https://proxy:443', 'socks5://proxy:1080', 'http://:1', '::']) {
      expect(proxyUrl(bad)).toBeUndefined();
    }
  });

  it('the option wins over the environment; false turns both off; loopback never goes through one', () => {
    const env = { HTTPS_PROXY: 'http://env:1' };
    expect(chooseProxy(https_, 'http://opt:2', env)).toEqual({ url: 'http://opt:2/' });
    expect(chooseProxy(https_, false, env)).toEqual({});
    for (const loopback of ['https://localhost:8443/', 'https://127.0.0.1/', 'https://[::1]/']) {
      expect(chooseProxy(target(loopback), 'http://opt:2', env)).toEqual({});
    }
  });

  it('no_proxy: a host, its subdomains, a leading dot, *, a port', () => {
    const via = (url: string, noProxy: string) =>
      chooseProxy(target(url), 'http://p:1', { NO_PROXY: noProxy }).url !== undefined;
    expect(via('https://errors.example/', 'errors.example')).toBe(false);
    expect(via('https://eu.errors.example/', 'errors.example')).toBe(false);
    expect(via('https://eu.errors.example/', '.errors.example')).toBe(false);
    expect(via('https://eu.errors.example/', '*.errors.example')).toBe(false);
    expect(via('https://errors.example/', 'other.example, example.org')).toBe(true);
    expect(via('https://noterrors.example/', 'errors.example')).toBe(true);
    expect(via('https://errors.example/', '*')).toBe(false);
    expect(via('https://errors.example/', 'errors.example:443')).toBe(false);
    expect(via('https://errors.example:8443/', 'errors.example:443')).toBe(true);
    expect(via('https://10.0.0.7/', '10.0.0.7')).toBe(false);
    expect(via('https://[fd00::7]/', 'fd00::7')).toBe(false);
    expect(via('https://[fd00::7]:8443/', '[fd00::7]:8443')).toBe(false);
    expect(chooseProxy(https_, 'http://p:1', { no_proxy: 'errors.example' })).toEqual({});
    // trailing dots aside, on either side
    expect(via('https://errors.example./', 'errors.example')).toBe(false);
    expect(via('https://errors.example/', 'errors.example.')).toBe(false);
    // an IP address is only itself, never a "domain" ending
    expect(via('https://10.1.2.3/', '2.3')).toBe(true);
    expect(via('https://10.1.2.3/', '1.2.3')).toBe(true);
    // an empty no_proxy counts as not set: NO_PROXY then
    expect(chooseProxy(https_, 'http://p:1', { no_proxy: '', NO_PROXY: 'errors.example' })).toEqual(
      {},
    );
  });

  it('credentials: escapes decode, and a % that starts none stays as written (as curl)', () => {
    const basic = (text: string) => `Basic ${Buffer.from(text).toString('base64')}`;
    expect(proxyAuthorization('http://ann:50%off@p:1/')).toBe(basic('ann:50%off'));
    expect(proxyAuthorization('http://ann:a%2@p:1/')).toBe(basic('ann:a%2'));
    expect(proxyAuthorization('http://ann:s%3Acret%40x@p:1/')).toBe(basic('ann:s:cret@x'));
    expect(proxyAuthorization('http://DOM%5Cann:%C3%A9t%C3%A9@p:1/')).toBe(basic('DOM\\ann:été'));
    expect(proxyAuthorization('http://ann:%FF@p:1/')).toBe(basic('ann:%FF'));
    expect(proxyAuthorization('http://p:1/')).toBeUndefined();
  });

  it('an environment proxy that is not http:// is ignored, and says so without its value', () => {
    const choice = chooseProxy(https_, undefined, { HTTPS_PROXY: 'https://ann:pw@proxy:443' });
    expect(choice.url).toBeUndefined();
    // the variable's name, never its value
    expect(choice.ignored).toBe('HTTPS_PROXY');
  });

  it('createReporter refuses a proxy option that is not an http:// URL, without echoing it', () => {
    const options = { ...optionsFor({ url: 'https://e.example/', token: 't', publicKey }) };
    expect(() => createReporter({ ...options, proxy: 'https://ann:hunter2@p:1' })).toThrow(
      /proxy must be an http:\/\/ proxy URL/,
    );
    try {
      createReporter({ ...options, proxy: 'https://ann:hunter2@p:1' });
    } catch (e) {
      expect(String(e)).not.toContain('hunter2');
    }
    expect(() => createReporter({ ...options, proxy: 3 as unknown as string })).toThrow(/proxy/);
  });
});

const publicKey = Buffer.alloc(32, 7).toString('base64');

let server: TestServer;
let tls: { url: string; bodies: string[]; headers: string[]; ca: string; close(): Promise<void> };
let proxy: TestProxy;

beforeAll(async () => {
  if (!fs.existsSync(path.join(__dirname, '../dist/index.js'))) {
    throw new Error('build the SDK first: npx tsc -b');
  }
  server = await startTestServer();
  tls = await startTlsCollector();
});
beforeEach(async () => {
  proxy = await startTestProxy();
});
afterEach(async () => {
  await proxy.close();
});
afterAll(async () => {
  await server.close();
  await tls.close();
  cleanupTempDirs();
});

/** An https collector stand-in whose certificate names collector.test, answering 202. */
async function startTlsCollector() {
  const dir = tempDir();
  const [certFile, keyFile] = [path.join(dir, 'cert.pem'), path.join(dir, 'key.pem')];
  makeCertificate(certFile, keyFile, 'DNS:collector.test');
  const ca = fs.readFileSync(certFile, 'utf8');
  const bodies: string[] = [];
  const headers: string[] = [];
  const s = https.createServer({ cert: ca, key: fs.readFileSync(keyFile) }, (req, res) => {
    let body = '';
    req.on('data', (d) => (body += d));
    req.on('end', () => {
      bodies.push(body);
      headers.push(String(req.headers.authorization));
      res.writeHead(202, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ id: JSON.parse(body).id, group: 'g' }));
    });
  });
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  return {
    url: `https://collector.test:${(s.address() as AddressInfo).port}/`,
    bodies,
    headers,
    ca,
    async close() {
      s.closeAllConnections();
      await new Promise<void>((r) => s.close(() => r()));
    },
  };
}

const aReport = (description: string) => makeReport({ error: { description } });

const reportsUrl = (base: string) => new URL('v1/reports', base).toString();

describe('the transport through a proxy', () => {
  it('https: a CONNECT tunnel, TLS inside it to the collector, the proxy seeing none of the report', async () => {
    const transport = createTransport({
      url: reportsUrl(tls.url),
      token: 'secret-ingest-token',
      timeoutMs: 5000,
      ca: tls.ca,
      proxy: proxy.url,
    });
    const report = aReport('through the tunnel');
    expect(await transport.send(report)).toEqual({ kind: 'delivered', status: 202 });
    // a second report goes through the same kept-alive tunnel
    expect(await transport.send(aReport('again'))).toEqual({ kind: 'delivered', status: 202 });
    const port = new URL(tls.url).port;
    expect(proxy.log.connects).toEqual([`collector.test:${port}`]);
    expect(tls.bodies.map((b) => JSON.parse(b).id)).toContain(report.id);
    expect(tls.headers).toContain('Bearer secret-ingest-token');
    expect(proxy.log.tunnelled.length).toBeGreaterThan(0);
    for (const secret of ['secret-ingest-token', 'through the tunnel', report.id, 'asmith']) {
      expect(proxy.log.tunnelled).not.toContain(secret);
    }
  });

  it('the collector certificate is still checked inside the tunnel', async () => {
    const transport = createTransport({
      url: reportsUrl(tls.url),
      token: 't',
      timeoutMs: 5000,
      proxy: proxy.url,
    });
    expect(await transport.send(aReport('untrusted'))).toEqual({
      kind: 'failed',
      reason: 'DEPTH_ZERO_SELF_SIGNED_CERT',
    });
  });

  it('http (allowInsecureTransport): the whole URL asked of the proxy', async () => {
    const url = `http://collector.test:${server.port}/v1/reports`;
    const transport = createTransport({
      url,
      token: server.token,
      timeoutMs: 5000,
      proxy: proxy.url,
    });
    const report = aReport('plain through the proxy');
    expect(await transport.send(report)).toEqual({ kind: 'delivered', status: 202 });
    expect(proxy.log.forwarded).toEqual([url]);
    expect(server.stored.get(report.id)?.error.description).toBe('plain through the proxy');
  });

  it('credentials in the proxy URL go as Proxy-Authorization; a 407 is a failure to retry, with its code', async () => {
    await proxy.close();
    proxy = await startTestProxy({ password: 'ann:s:cret' });
    const options = {
      url: reportsUrl(tls.url),
      token: 't',
      timeoutMs: 5000,
      ca: tls.ca,
    };
    const { port } = new URL(proxy.url);
    const withCredentials = createTransport({
      ...options,
      proxy: `http://ann:s%3Acret@127.0.0.1:${port}/`,
    });
    expect(await withCredentials.send(aReport('authorised'))).toEqual({
      kind: 'delivered',
      status: 202,
    });
    expect(proxy.log.authorizations[0]).toBe(
      `Basic ${Buffer.from('ann:s:cret').toString('base64')}`,
    );
    const without = createTransport({ ...options, proxy: proxy.url });
    expect(await without.send(aReport('refused'))).toEqual({
      kind: 'failed',
      reason: 'PROXY_HTTP_407',
    });
    // and over http, where the proxy answers itself
    const plain = createTransport({
      url: `http://collector.test:${server.port}/v1/reports`,
      token: server.token,
      timeoutMs: 5000,
      proxy: `http://ann:s%3Acret@127.0.0.1:${port}/`,
    });
    const report = aReport('plain, authorised');
    expect(await plain.send(report)).toEqual({ kind: 'delivered', status: 202 });
    // and without them its 407 is the proxy's, not the collector's: kept, not rejected
    const refused = createTransport({
      url: `http://collector.test:${server.port}/v1/reports`,
      token: server.token,
      timeoutMs: 5000,
      proxy: proxy.url,
    });
    expect(await refused.send(aReport('plain, refused'))).toEqual({
      kind: 'failed',
      status: 407,
      reason: 'HTTP 407: the proxy asks for credentials; give them in the proxy URL',
    });
  });

  it('a proxy that is not there: the error code, the report kept for later', async () => {
    const { url } = proxy;
    await proxy.close();
    const transport = createTransport({
      url: reportsUrl(tls.url),
      token: 't',
      timeoutMs: 5000,
      proxy: url,
    });
    expect(await transport.send(aReport('no proxy'))).toEqual({
      kind: 'failed',
      reason: 'ECONNREFUSED',
    });
    proxy = await startTestProxy();
  });
});

describe('proxies that answer oddly', () => {
  /** A CONNECT proxy of a few lines that answers `answer` (in two pieces), then tunnels. */
  async function oddProxy(answer: string) {
    const held = new Set<net.Socket>();
    const odd = net.createServer((client) => {
      held.add(client);
      let head = '';
      const onData = (chunk: Buffer) => {
        head += chunk.toString('latin1');
        if (!head.includes('\r\n\r\n')) return;
        client.removeListener('data', onData);
        const port = Number(/^CONNECT [^ ]+:(\d+) /.exec(head)?.[1]);
        const upstream = net.connect(port, '127.0.0.1', () => {
          client.write(answer.slice(0, 5));
          setTimeout(() => {
            client.write(answer.slice(5));
            client.pipe(upstream).pipe(client);
          }, 20);
        });
        upstream.on('error', () => client.destroy());
        client.on('error', () => upstream.destroy());
      };
      client.on('data', onData);
    });
    await new Promise<void>((r) => odd.listen(0, '127.0.0.1', r));
    return {
      url: `http://127.0.0.1:${(odd.address() as AddressInfo).port}/`,
      open: () => [...held].filter((c) => !c.destroyed).length,
      close: async () => {
        for (const c of held) c.destroy();
        await new Promise<void>((r) => odd.close(() => r()));
      },
    };
  }

  it('an answer in pieces, with LF line ends, from an HTTP/1.0 proxy, opens the tunnel', async () => {
    for (const answer of [
      'HTTP/1.0 200 OK\n\n',
      'HTTP/1.1 200 Connection established\r\nVia: x\r\n\r\n',
    ]) {
      const odd = await oddProxy(answer);
      try {
        const transport = createTransport({
          url: reportsUrl(tls.url),
          token: 't',
          timeoutMs: 5000,
          ca: tls.ca,
          proxy: odd.url,
        });
        expect(await transport.send(aReport('odd'))).toEqual({ kind: 'delivered', status: 202 });
      } finally {
        await odd.close();
      }
    }
  });

  it('a proxy that never answers: the attempt ends at the request time-out, and so does its connection', async () => {
    const held = new Set<net.Socket>();
    const silent = net.createServer((socket) => {
      held.add(socket);
      socket.on('error', () => undefined);
      socket.resume(); // reads the CONNECT, answers nothing
    });
    await new Promise<void>((r) => silent.listen(0, '127.0.0.1', r));
    try {
      const transport = createTransport({
        url: reportsUrl(tls.url),
        token: 't',
        timeoutMs: 300,
        proxy: `http://127.0.0.1:${(silent.address() as AddressInfo).port}/`,
      });
      for (let i = 0; i < 3; i++) {
        expect(await transport.send(aReport('silent'))).toEqual({
          kind: 'failed',
          reason: 'timed out',
        });
      }
      // every connection the attempts opened is closed by the SDK, not left to the proxy
      await waitFor(() => [...held].every((socket) => socket.readableEnded || socket.destroyed));
      expect(held.size).toBe(3);
    } finally {
      for (const socket of held) socket.destroy();
      await new Promise<void>((r) => silent.close(() => r()));
    }
  });

  it("http: a proxy's own 403 page keeps the report (it says nothing about the report)", async () => {
    const refusing = http.createServer((_req, res) => {
      res.writeHead(403, { 'content-type': 'text/html' }).end('<h1>Access Denied</h1>');
    });
    await new Promise<void>((r) => refusing.listen(0, '127.0.0.1', r));
    try {
      const transport = createTransport({
        url: `http://collector.test:${server.port}/v1/reports`,
        token: server.token,
        timeoutMs: 5000,
        proxy: `http://127.0.0.1:${(refusing.address() as AddressInfo).port}/`,
      });
      expect(await transport.send(aReport('refused by policy'))).toEqual({
        kind: 'failed',
        status: 403,
        reason: 'HTTP 403 not from a collector',
      });
    } finally {
      refusing.closeAllConnections();
      await new Promise<void>((r) => refusing.close(() => r()));
    }
  });

  it('a password with a bare % in it is sent as written', async () => {
    await proxy.close();
    proxy = await startTestProxy({ password: 'ann:50%off' });
    const transport = createTransport({
      url: reportsUrl(tls.url),
      token: 't',
      timeoutMs: 5000,
      ca: tls.ca,
      proxy: `http://ann:50%off@127.0.0.1:${new URL(proxy.url).port}/`,
    });
    expect(await transport.send(aReport('percent'))).toEqual({ kind: 'delivered', status: 202 });
  });
});

describe('the reporter through a proxy', () => {
  it('takes HTTPS_PROXY from the environment and delivers through it', async () => {
    const saved = process.env.HTTPS_PROXY;
    process.env.HTTPS_PROXY = proxy.url;
    try {
      const reporter = createReporter({
        ...optionsFor({ url: tls.url, token: 't', publicKey }),
        ca: tls.ca,
      });
      const id = reporter.report({
        number: 5,
        description: 'from the app',
        module: 'm',
        procedure: 'p',
      });
      expect(await reporter.flush(5000)).toBe(true);
      await reporter.close(0);
      expect(proxy.log.connects).toHaveLength(1);
      expect(tls.bodies.some((b) => JSON.parse(b).id === id)).toBe(true);
    } finally {
      if (saved === undefined) delete process.env.HTTPS_PROXY;
      else process.env.HTTPS_PROXY = saved;
    }
  });

  it('says what to do when the proxy wants credentials, and keeps the report', async () => {
    await proxy.close();
    proxy = await startTestProxy({ password: 'ann:pw' });
    const diagnostics: Diagnostic[] = [];
    const queueDir = tempDir();
    const reporter = createReporter({
      ...optionsFor({ url: tls.url, token: 't', publicKey }, diagnostics),
      ca: tls.ca,
      proxy: proxy.url,
      queueDir,
    });
    reporter.report({ number: 5, description: 'needs credentials', module: 'm', procedure: 'p' });
    expect(await reporter.flush(300)).toBe(false);
    await reporter.close(0);
    const failed = diagnostics.find((d) => d.code === 'send_failed');
    expect(failed?.reason).toBe('PROXY_HTTP_407');
    expect(failed?.message).toMatch(
      /the proxy refused it: give the proxy's user name and password in its URL/,
    );
    expect(queuedReports(queueDir).map((r) => r.error.description)).toEqual(['needs credentials']);
  });

  it('says once, in a proxy_ignored diagnostic, that an environment proxy it cannot use is not used', async () => {
    const saved = process.env.HTTPS_PROXY;
    process.env.HTTPS_PROXY = 'https://ann:hunter2@proxy.example:443';
    const diagnostics: Diagnostic[] = [];
    try {
      const reporter = createReporter({
        ...optionsFor({ url: 'https://errors.example/', token: 't', publicKey }, diagnostics),
      });
      await reporter.close(0);
    } finally {
      if (saved === undefined) delete process.env.HTTPS_PROXY;
      else process.env.HTTPS_PROXY = saved;
    }
    const ignored = diagnostics.filter((d) => d.code === 'proxy_ignored');
    expect(ignored).toHaveLength(1);
    expect(ignored[0].message).toMatch(/HTTPS_PROXY is not an http:\/\/ proxy URL/);
    expect(JSON.stringify(diagnostics)).not.toContain('hunter2');
  });
});

describe('a crash through a proxy (the blocking requester, on its worker thread)', () => {
  /** Options for the host process (JSON-able: no onDiagnostic). */
  const hostOptions = (overrides: Parameters<typeof optionsFor>[2]) => {
    const { onDiagnostic: _o, ...options } = optionsFor(server, [], overrides);
    return options;
  };
  const uncaught = (bodies: string[]) =>
    bodies.filter((b) => JSON.parse(b).error.description === 'uncaught in host').length;

  it('https: tunnelled with the proxy credentials and the ca; without them, kept on disk', async () => {
    await proxy.close();
    proxy = await startTestProxy({ password: 'ann:pw' });
    const { port } = new URL(proxy.url);
    const before = uncaught(tls.bodies);
    const run = await runHost(
      'uncaught',
      hostOptions({ endpoint: tls.url, ca: tls.ca, proxy: `http://ann:pw@127.0.0.1:${port}/` }),
    );
    expect(run.code).toBe(1);
    expect(uncaught(tls.bodies)).toBe(before + 1);
    expect(proxy.log.connects).toEqual([`collector.test:${new URL(tls.url).port}`]);
    expect(proxy.log.tunnelled).not.toContain('uncaught in host');
    // without the credentials the proxy refuses the tunnel: the report stays queued
    const queueDir = tempDir();
    const refused = await runHost(
      'uncaught',
      hostOptions({ endpoint: tls.url, ca: tls.ca, proxy: proxy.url, queueDir }),
    );
    expect(refused.code).toBe(1);
    expect(uncaught(tls.bodies)).toBe(before + 1);
    expect(queuedReports(queueDir).map((r) => r.error.description)).toEqual(['uncaught in host']);
  });

  it('http (allowInsecureTransport): the whole URL asked of the proxy', async () => {
    const stored = () =>
      [...server.stored.values()].filter((r) => r.error.description === 'uncaught in host').length;
    const before = stored();
    const run = await runHost(
      'uncaught',
      hostOptions({
        endpoint: `http://collector.test:${server.port}/`,
        allowInsecureTransport: true,
        proxy: proxy.url,
      }),
    );
    expect(run.code).toBe(1);
    expect(proxy.log.forwarded).toEqual([`http://collector.test:${server.port}/v1/reports`]);
    expect(stored()).toBe(before + 1);
  });

  it('a proxy that takes the connection and never answers holds neither a crash nor a natural exit past the grace', async () => {
    const held = new Set<net.Socket>();
    const silent = net.createServer((socket) => held.add(socket));
    await new Promise<void>((r) => silent.listen(0, '127.0.0.1', r));
    const via = `http://127.0.0.1:${(silent.address() as AddressInfo).port}/`;
    try {
      for (const mode of ['uncaught', 'report-and-end']) {
        const queueDir = tempDir();
        const run = await runHost(
          mode,
          hostOptions({
            endpoint: tls.url,
            ca: tls.ca,
            proxy: via,
            queueDir,
            exitGraceMs: 300,
            requestTimeoutMs: 20_000,
          }),
        );
        expect(run.ms).toBeLessThan(8_000);
        // still queued: pending, or claimed by the send the exit cut short (taken back at the
        // next start)
        const kept = ['pending', 'claimed'].flatMap((d) => fs.readdirSync(path.join(queueDir, d)));
        expect(kept).toHaveLength(1);
      }
    } finally {
      for (const socket of held) socket.destroy();
      await new Promise<void>((r) => silent.close(() => r()));
    }
  });
});
