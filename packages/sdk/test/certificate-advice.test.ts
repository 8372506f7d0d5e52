import fs from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import path from 'node:path';
import type { AddressInfo } from 'node:net';
import { createReporter, type Diagnostic, type Reporter } from '../src';
import { certificateAdvice, tlsHandshakeAdvice } from '../src/certificate-advice';
import { makeCertificate, makeDatedCertificate } from '../../../test-support/certificate';
import { cleanupTempDirs, tempDir } from './helpers/fixtures';
import { errorInput } from './helpers/harness';

/**
 * A collector certificate the SDK refuses fails every try until someone acts, so the library's
 * `send_failed` says what to do, in the words `jcs-report` uses: trust the CA (`ca`,
 * NODE_EXTRA_CA_CERTS), renew a certificate out of its dates, or use the name it is for.
 */
afterAll(cleanupTempDirs);

/** An HTTPS collector stand-in on `host` with the given certificate, answering 202. */
async function httpsCollector(host: string, certFile: string, keyFile: string) {
  const server = https.createServer(
    { cert: fs.readFileSync(certFile), key: fs.readFileSync(keyFile) },
    (req, res) => {
      let body = '';
      req.on('data', (d: Buffer) => (body += d.toString()));
      req.on('end', () => {
        res.writeHead(202, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ id: JSON.parse(body).id, group: 'g' }));
      });
    },
  );
  await new Promise<void>((resolve) => server.listen(0, host, resolve));
  return {
    url: `https://${host}:${(server.address() as AddressInfo).port}/`,
    async close() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** The first send_failed of a report sent to `endpoint` (trusting `ca`, if given). */
async function firstFailure(endpoint: string, ca?: string): Promise<Diagnostic> {
  const diagnostics: Diagnostic[] = [];
  const r: Reporter = createReporter({
    endpoint,
    token: 't',
    publicKey: Buffer.alloc(32, 1).toString('base64'),
    keyId: 'k1',
    app: { name: 'JCS', version: '5.2.1.345' },
    license: 'JCS-000123',
    retry: { minDelayMs: 5000, maxDelayMs: 5000 },
    onDiagnostic: (d) => diagnostics.push(d),
    ...(ca === undefined ? {} : { ca }),
  });
  try {
    r.report(errorInput());
    expect(await r.flush(500)).toBe(false);
  } finally {
    await r.close(0);
  }
  const failed = diagnostics.find((d) => d.code === 'send_failed');
  if (!failed) throw new Error(`no send_failed: ${JSON.stringify(diagnostics)}`);
  return failed;
}

describe("send_failed for a collector's certificate", () => {
  it('not trusted here (self-signed): says to give its CA as ca, or NODE_EXTRA_CA_CERTS', async () => {
    const dir = tempDir();
    const [cert, key] = [path.join(dir, 'cert.pem'), path.join(dir, 'key.pem')];
    makeCertificate(cert, key);
    const collector = await httpsCollector('127.0.0.1', cert, key);
    try {
      const d = await firstFailure(collector.url);
      expect(d.message).toMatch(
        /^could not deliver the report \(DEPTH_ZERO_SELF_SIGNED_CERT\); retrying in \d+ ms; the collector's TLS certificate was refused: put the PEM text of the CA that issued it in the ca option \(or set NODE_EXTRA_CA_CERTS to its file\)$/,
      );
    } finally {
      await collector.close();
    }
  });

  it('expired (its CA trusted): says to renew it, or to set the clock right', async () => {
    const dir = tempDir();
    const [cert, key] = [path.join(dir, 'cert.pem'), path.join(dir, 'key.pem')];
    makeDatedCertificate(dir, cert, key, '20200101000000Z', '20200102000000Z');
    const collector = await httpsCollector('127.0.0.1', cert, key);
    try {
      // The certificate is for localhost: reached by that name, only its dates are wrong.
      const url = collector.url.replace('127.0.0.1', 'localhost');
      const d = await firstFailure(url, fs.readFileSync(cert, 'utf8'));
      expect(d.message).toContain('(CERT_HAS_EXPIRED)');
      expect(d.reason).toBe('CERT_HAS_EXPIRED'); // for code, as jcs-report reads it
      expect(d.message).toContain(
        "the collector's TLS certificate was refused: renew it on the collector (or set this machine's clock right, if that is what is wrong)",
      );
    } finally {
      await collector.close();
    }
  });

  it('for another name than the endpoint (its CA trusted): says to use a name it is for', async () => {
    const dir = tempDir();
    const [cert, key] = [path.join(dir, 'cert.pem'), path.join(dir, 'key.pem')];
    makeCertificate(cert, key); // for localhost and 127.0.0.1, not 127.0.0.2
    const collector = await httpsCollector('127.0.0.2', cert, key);
    try {
      const d = await firstFailure(collector.url, fs.readFileSync(cert, 'utf8'));
      expect(d.message).toContain('(ERR_TLS_CERT_ALTNAME_INVALID)');
      expect(d.message).toContain(
        "the collector's TLS certificate was refused: set the endpoint option to a host name the certificate is for",
      );
    } finally {
      await collector.close();
    }
  });

  it('gives no certificate advice for other failures, and names the config for jcs-report', () => {
    expect(certificateAdvice('ECONNREFUSED', 'options')).toBeUndefined();
    expect(certificateAdvice('HTTP 500', 'options')).toBeUndefined();
    expect(certificateAdvice('SELF_SIGNED_CERT_IN_CHAIN', 'config')).toBe(
      "put the PEM text of the CA that issued it in the config's ca (or set NODE_EXTRA_CA_CERTS to its file)",
    );
    expect(certificateAdvice('ERR_TLS_CERT_ALTNAME_INVALID', 'config')).toBe(
      "set the config's endpoint to a host name the certificate is for",
    );
  });

  it('an https:// endpoint on a port serving plain HTTP: says the port does not speak TLS', async () => {
    // Before, only "(EPROTO)": nothing said the scheme and the collector's serving disagree.
    const plain = http.createServer((_req, res) => res.end());
    await new Promise<void>((resolve) => plain.listen(0, '127.0.0.1', resolve));
    try {
      const port = (plain.address() as AddressInfo).port;
      const d = await firstFailure(`https://127.0.0.1:${port}/`);
      expect(d.reason).toBe('EPROTO');
      expect(d.message).toMatch(
        /^could not deliver the report \(EPROTO\); retrying in \d+ ms; no TLS handshake with the collector: check that the port in the endpoint option serves HTTPS \(serve --tls-cert\), or, for a collector on this machine serving plain HTTP, give an http:\/\/ endpoint$/,
      );
    } finally {
      await new Promise((resolve) => plain.close(resolve));
    }
    expect(tlsHandshakeAdvice('ECONNRESET', 'options')).toBeUndefined();
    expect(tlsHandshakeAdvice('EPROTO', 'config')).toContain("the port in the config's endpoint");
  });
});
