import { execFileSync } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import fs from 'node:fs';
import https from 'node:https';
import net from 'node:net';
import path from 'node:path';
import tls, { type TLSSocket } from 'node:tls';
import { makeCertificate, makeDatedCertificate } from '../../../test-support/certificate';
import {
  certificateDates,
  EXPIRES_SOON_MS,
  servedCertificate,
  watchCertificateDates,
} from '../src/http/certificate-dates';
import { DAY_MS } from '../src/time';
import { checkTlsFiles } from '../src/server';
import { makeTempDir, startCollector } from '../../../test-support/collector';
import { makeReport } from '../../../test-support/reports';
import { runCollector } from './helpers/serve-process';

/** `serve --tls-cert FILE --tls-key FILE` serves HTTPS, with a self-signed certificate made here. */

jest.setTimeout(60_000);

let dir: string;
let cert: string;
let key: string;

beforeAll(() => {
  dir = makeTempDir('jcs-tls-');
  cert = path.join(dir, 'cert.pem');
  key = path.join(dir, 'key.pem');
  makeCertificate(cert, key);
});

/** A self-signed RSA certificate and its key, where the test's own pair is EC. */
function rsaCertificate(certFile: string, keyFile: string): void {
  execFileSync(
    'openssl',
    [
      ...['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', keyFile, '-out', certFile],
      ...['-days', '30', '-subj', '/CN=localhost', '-addext', 'subjectAltName=IP:127.0.0.1'],
    ],
    { stdio: 'ignore' },
  );
}

/** One HTTPS request that trusts only the test's certificate. */
function httpsRequest(
  url: string,
  options: { method?: string; headers?: Record<string, string>; body?: string } = {},
): Promise<{ status: number; json: any }> {
  return new Promise((resolve, reject) => {
    const req = https.request(
      url,
      { method: options.method ?? 'GET', headers: options.headers, ca: fs.readFileSync(cert) },
      (res) => {
        let text = '';
        res.on('data', (d: Buffer) => (text += d.toString()));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, json: JSON.parse(text) }));
      },
    );
    req.on('error', reject);
    req.end(options.body);
  });
}

describe('serve over HTTPS', () => {
  it('answers over TLS with the given certificate, and not over plain HTTP', async () => {
    const c = await startCollector({ serveArgs: ['--tls-cert', cert, '--tls-key', key] });
    try {
      expect(c.url).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/);
      expect(await httpsRequest(`${c.url}/v1/health`)).toEqual({
        status: 200,
        json: { status: 'ok' },
      });
      const report = makeReport();
      const posted = await httpsRequest(`${c.url}/v1/reports`, {
        method: 'POST',
        headers: { 'Content-Type': 'application/json', Authorization: `Bearer ${c.tokens.ingest}` },
        body: JSON.stringify(report),
      });
      expect(posted.status).toBe(202);
      const read = await httpsRequest(`${c.url}/v1/reports/${report.id}`, {
        headers: { Authorization: `Bearer ${c.tokens.engineer}` },
      });
      expect(read.json.error.description).toBe(report.error.description);

      // The certificate the server presents is the one given.
      const presented = await new Promise<string>((resolve, reject) => {
        const req = https.get(`${c.url}/v1/health`, { ca: fs.readFileSync(cert) }, (res) => {
          const peer = (res.socket as TLSSocket).getPeerCertificate();
          res.resume();
          resolve(peer.fingerprint256);
        });
        req.on('error', reject);
      });
      const expected = new X509Certificate(fs.readFileSync(cert));
      expect(presented).toBe(expected.fingerprint256);

      // Only forward-secret AEAD suites in TLS 1.2: a CBC suite with SHA-1 is refused.
      const handshake = (options: tls.ConnectionOptions) =>
        new Promise<string>((resolve) => {
          const socket = tls.connect({
            host: '127.0.0.1',
            port: Number(new URL(c.url).port),
            ca: fs.readFileSync(cert),
            servername: 'localhost',
            ...options,
          });
          socket.on('secureConnect', () => {
            resolve(socket.getCipher().name);
            socket.end();
          });
          socket.on('error', () => resolve('refused'));
        });
      expect(await handshake({ maxVersion: 'TLSv1.2', ciphers: 'ECDHE-ECDSA-AES128-SHA' })).toBe(
        'refused',
      );
      expect(await handshake({ maxVersion: 'TLSv1.2' })).toMatch(/GCM|CHACHA20/);
      expect(await handshake({ maxVersion: 'TLSv1.1', minVersion: 'TLSv1' })).toBe('refused');

      // A client that closes its sending side after the request still gets the answer.
      const again = makeReport();
      const body = JSON.stringify(again);
      const halfClosed = await new Promise<string>((resolve) => {
        let received = '';
        const socket = tls.connect(
          {
            host: '127.0.0.1',
            port: Number(new URL(c.url).port),
            ca: fs.readFileSync(cert),
            servername: 'localhost',
          },
          () =>
            socket.end(
              `POST /v1/reports HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer ${c.tokens.ingest}\r\n` +
                `Content-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
            ),
        );
        socket.setEncoding('utf8');
        socket.on('data', (d: string) => (received += d));
        socket.on('error', () => {});
        socket.on('close', () => resolve(received));
      });
      expect(halfClosed).toMatch(/^HTTP\/1\.1 202 /);

      // Plain HTTP to the TLS port gets no API answer.
      const plain = await fetch(c.url.replace('https:', 'http:') + '/v1/health').then(
        (r) => r.status,
        () => 'refused',
      );
      expect(plain).not.toBe(200);
    } finally {
      expect(await c.stop()).toBe(0);
    }
  });

  it('stops at once on SIGTERM with connections that never start or finish their TLS handshake', async () => {
    const c = await startCollector({ serveArgs: ['--tls-cert', cert, '--tls-key', key] });
    const { port } = new URL(c.url);
    const sockets = await Promise.all(
      Array.from(
        { length: 10 },
        () =>
          new Promise<net.Socket>((resolve) => {
            const socket = net.connect(Number(port), '127.0.0.1', () => resolve(socket));
            socket.on('error', () => {});
          }),
      ),
    );
    // and one half-way: a ClientHello's first bytes, then nothing
    sockets[0].write(Buffer.from([0x16, 0x03, 0x01, 0x00, 0xf0, 0x01]));
    const closed = sockets.map((s) => new Promise<void>((r) => s.on('close', () => r())));
    const started = Date.now();
    expect(await c.stop()).toBe(0);
    expect(Date.now() - started).toBeLessThan(10_000);
    await Promise.all(closed);
  });

  it('on SIGHUP reads a renewed certificate again, and keeps serving (the old one if the new is bad)', async () => {
    const renewDir = makeTempDir('jcs-tls-renew-');
    const [certFile, keyFile] = [path.join(renewDir, 'cert.pem'), path.join(renewDir, 'key.pem')];
    fs.copyFileSync(cert, certFile);
    fs.copyFileSync(key, keyFile);
    const c = await startCollector({ serveArgs: ['--tls-cert', certFile, '--tls-key', keyFile] });
    const presented = () =>
      new Promise<string>((resolve, reject) => {
        const req = https.get(
          `${c.url}/v1/health`,
          { rejectUnauthorized: false, agent: false },
          (res) => {
            resolve((res.socket as TLSSocket).getPeerCertificate().fingerprint256);
            res.resume();
          },
        );
        req.on('error', reject);
      });
    try {
      const before = await presented();
      // a renewal: a new key and certificate written over the files
      makeCertificate(certFile, keyFile);
      const renewed = new X509Certificate(fs.readFileSync(certFile)).fingerprint256;
      expect(renewed).not.toBe(before);
      c.signal('SIGHUP');
      for (let i = 0; i < 50 && !/TLS certificate and key read again/.test(c.logs()); i++) {
        await new Promise((r) => setTimeout(r, 100));
      }
      expect(await presented()).toBe(renewed);

      // A renewal half-written: refused, logged, the certificate in use stays.
      fs.writeFileSync(certFile, 'not a certificate');
      c.signal('SIGHUP');
      for (let i = 0; i < 50 && !/TLS certificate not reloaded/.test(c.logs()); i++) {
        await new Promise((r) => setTimeout(r, 100));
      }
      expect(c.logs()).toMatch(/TLS certificate not reloaded; the old one serves/);
      expect(await presented()).toBe(renewed);

      // A renewal to an RSA certificate beside the old EC key: OpenSSL takes a key of another
      // type without a word, and every handshake then failed. Refused as a mismatch now.
      const notReloaded = () => c.logs().match(/TLS certificate not reloaded/g)?.length ?? 0;
      rsaCertificate(certFile, path.join(renewDir, 'rsa.key'));
      c.signal('SIGHUP');
      for (let i = 0; i < 50 && notReloaded() < 2; i++) {
        await new Promise((r) => setTimeout(r, 100));
      }
      expect(c.logs()).toMatch(/is not the private key of the first certificate/);
      expect(notReloaded()).toBe(2);
      expect(await presented()).toBe(renewed);
    } finally {
      expect(await c.stop()).toBe(0);
    }
  });

  it('serves with a certificate out of its dates, but says so at start: every client refuses it', async () => {
    const expiredCert = path.join(dir, 'expired-cert.pem');
    const expiredKey = path.join(dir, 'expired-key.pem');
    makeDatedCertificate(dir, expiredCert, expiredKey, '20200101000000Z', '20200102000000Z');
    const c = await startCollector({
      serveArgs: ['--tls-cert', expiredCert, '--tls-key', expiredKey],
    });
    try {
      // written just after "listening on", which startCollector waits for
      for (let i = 0; i < 100 && !/TLS certificate expired/.test(c.logs()); i++) {
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
      expect(c.logs()).toMatch(
        /^jcs-collector: the TLS certificate expired on 2020-01-02T00:00:00\.000Z: clients refuse it, so SDKs queue their reports and jcs-errors cannot connect; renew it, then send serve SIGHUP to load it$/m,
      );
    } finally {
      expect(await c.stop()).toBe(0);
    }
    // A valid one says nothing of the kind; one not valid yet says when it will be.
    expect(certificateDates(fs.readFileSync(cert), Date.now())).toBeUndefined();
    const from = Date.parse(new X509Certificate(fs.readFileSync(cert)).validFrom);
    expect(certificateDates(fs.readFileSync(cert), from - 1)).toMatch(
      /^the TLS certificate is not valid until .*\(is this machine's clock right\?\)/,
    );
    // In its last fortnight it says when it ends, to renew it in time.
    const to = Date.parse(new X509Certificate(fs.readFileSync(cert)).validTo);
    const endsOn = new Date(to).toISOString();
    const at = (daysLeft: number) => certificateDates(fs.readFileSync(cert), to - daysLeft);
    expect(at(EXPIRES_SOON_MS + 1)).toBeUndefined();
    expect(at(EXPIRES_SOON_MS)).toBe(
      `the TLS certificate expires on ${endsOn}, in 14 days: renew it, then send serve SIGHUP to load it`,
    );
    expect(at(DAY_MS + 1)).toMatch(/, in 1 day: renew it/);
    expect(at(1)).toMatch(/, within a day: renew it/);
    expect(at(0)).toMatch(/^the TLS certificate expired on /);
  });

  it("the dates watched are the served certificate's, and a renewal not yet loaded is said", () => {
    // Valid until four days from now: in its last fortnight.
    // openssl's YYYYMMDDHHMMSSZ
    const stamp = (ms: number) => new Date(ms).toISOString().replace(/[-:T]|\.\d+/g, '');
    const file = path.join(dir, 'ending-cert.pem');
    const keyFile = path.join(dir, 'ending-key.pem');
    makeDatedCertificate(
      dir,
      file,
      keyFile,
      stamp(Date.now() - DAY_MS),
      stamp(Date.now() + 4 * DAY_MS),
    );
    const served = servedCertificate(file, Date.now);
    expect(served.wrong()).toMatch(/^the TLS certificate expires on .*, in [34] days: renew it/);
    // Renewed on disk, not loaded: the served one still ends; say what to do.
    fs.copyFileSync(cert, file);
    expect(served.wrong()).toMatch(
      /, in [34] days: renew it, then send serve SIGHUP to load it; .*ending-cert\.pem holds a renewed one, not loaded: send serve SIGHUP$/,
    );
    // Loaded (SIGHUP): nothing to say.
    served.reloaded();
    expect(served.wrong()).toBeUndefined();
  });

  it('a running serve looks at the dates again, and warns while they are wrong', async () => {
    const warned: string[] = [];
    let wrong: string | undefined = 'the TLS certificate expires on ..., in 3 days: ...';
    const stop = watchCertificateDates(
      () => wrong,
      (m) => warned.push(m),
      20,
    );
    try {
      for (let i = 0; i < 100 && warned.length < 2; i++)
        await new Promise((r) => setTimeout(r, 10));
      expect(warned.slice(0, 2)).toEqual([wrong, wrong]);
      wrong = undefined; // renewed and reloaded: nothing more to say
      await new Promise((r) => setTimeout(r, 30));
      const said = warned.length;
      await new Promise((r) => setTimeout(r, 60));
      expect(warned).toHaveLength(said);
    } finally {
      stop();
    }
  });

  it('refuses to start, naming the file, when the certificate cannot be read or does not match', () => {
    const dataDir = path.join(makeTempDir(), 'data');
    expect(runCollector(['init', '--data-dir', dataDir]).status).toBe(0);
    const serve = (...args: string[]) =>
      runCollector(['serve', '--port', '0', '--data-dir', dataDir, ...args]);

    const missing = serve('--tls-cert', path.join(dir, 'nope.pem'), '--tls-key', key);
    expect(missing.status).toBe(1);
    expect(missing.stderr).toMatch(
      /cannot read the TLS certificate .*nope\.pem \(ENOENT\): give --tls-cert a PEM file this user can read\n$/,
    );
    const noKey = serve('--tls-cert', cert, '--tls-key', path.join(dir, 'nokey.pem'));
    expect(noKey.status).toBe(1);
    expect(noKey.stderr).toMatch(/TLS key .*nokey\.pem \(ENOENT\): give --tls-key a PEM file/);

    const notPem = path.join(dir, 'not.pem');
    fs.writeFileSync(notPem, 'hello');
    const bad = serve('--tls-cert', notPem, '--tls-key', key);
    expect(bad.status).toBe(1);
    expect(bad.stderr).toMatch(
      /not\.pem .* not a usable PEM pair \(.*\): give --tls-cert the certificate and --tls-key its own private key, both PEM\n$/,
    );
    // One line, as every failure.
    expect(bad.stderr.trim().split('\n')).toHaveLength(1);

    // A key with a passphrase is said to be one, not a key that does not match.
    const encrypted = path.join(dir, 'encrypted.pem');
    execFileSync('openssl', [
      'pkey',
      '-in',
      key,
      '-aes256',
      '-passout',
      'pass:x',
      '-out',
      encrypted,
    ]);
    const locked = serve('--tls-cert', cert, '--tls-key', encrypted);
    expect(locked.status).toBe(1);
    expect(locked.stderr).toMatch(
      /TLS key .*encrypted\.pem is encrypted with a passphrase, which serve cannot take: give --tls-key the key unencrypted/,
    );

    const alone = serve('--tls-cert', cert);
    expect(alone.status).toBe(2);
    expect(alone.stderr).toMatch(/--tls-cert and --tls-key go together/);
  });

  it('refuses a key of another type than the certificate, and a chain with its intermediate first, before the data dir is touched', () => {
    const dataDir = path.join(makeTempDir(), 'data');
    expect(runCollector(['init', '--data-dir', dataDir]).status).toBe(0);
    const files = () =>
      fs
        .readdirSync(dataDir, { recursive: true })
        .map(String)
        .sort()
        .map((f) => `${f} ${fs.statSync(path.join(dataDir, f)).mtimeMs}`);
    const before = files();
    const serve = (...args: string[]) =>
      runCollector(['serve', '--port', '0', '--data-dir', dataDir, ...args]);
    const rsaCert = path.join(dir, 'rsa-cert.pem');
    const rsaKey = path.join(dir, 'rsa-key.pem');
    rsaCertificate(rsaCert, rsaKey);
    // Before, both started, said "listening on https://...", and failed every handshake.
    const chain = path.join(dir, 'intermediate-first.pem');
    fs.writeFileSync(chain, Buffer.concat([fs.readFileSync(rsaCert), fs.readFileSync(cert)]));
    for (const [certFile, keyFile] of [
      [rsaCert, key],
      [cert, rsaKey],
      [chain, key],
    ]) {
      const r = serve('--tls-cert', certFile, '--tls-key', keyFile);
      expect({ status: r.status, stdout: r.stdout }).toEqual({ status: 1, stdout: '' });
      expect(r.stderr).toBe(
        `jcs-collector: the TLS key ${keyFile} is not the private key of the first certificate in ${certFile}: give --tls-key that certificate's own key, and put the server's certificate first in ${certFile}, its intermediates after it\n`,
      );
    }
    // A FIFO (or a device) is refused rather than read: reading one blocks the process.
    const fifo = path.join(dir, 'fifo.pem');
    execFileSync('mkfifo', [fifo]);
    const blocked = serve('--tls-cert', fifo, '--tls-key', key);
    expect(blocked.status).toBe(1);
    expect(blocked.stderr).toBe(
      `jcs-collector: the TLS certificate ${fifo} is not a regular file: give --tls-cert a PEM file\n`,
    );
    // Every refusal came before the data dir was opened: no file made or rewritten.
    expect(files()).toEqual(before);
    // The checks refuse no good pair: RSA with its key, a file holding the key and then the
    // certificate, and the server's certificate before another in the chain file.
    const combined = path.join(dir, 'key-then-cert.pem');
    fs.writeFileSync(combined, Buffer.concat([fs.readFileSync(rsaKey), fs.readFileSync(rsaCert)]));
    const leafFirst = path.join(dir, 'leaf-first.pem');
    fs.writeFileSync(leafFirst, Buffer.concat([fs.readFileSync(cert), fs.readFileSync(rsaCert)]));
    expect(() => checkTlsFiles(rsaCert, rsaKey)).not.toThrow();
    expect(() => checkTlsFiles(combined, combined)).not.toThrow();
    expect(() => checkTlsFiles(leafFirst, key)).not.toThrow();
  });
});
