import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

/**
 * Makes a self-signed certificate for localhost and 127.0.0.1, or for `names` (openssl's
 * subjectAltName list, such as `DNS:collector.test`) (an EC P-256 key, valid 30 days,
 * longer than the fortnight before its end in which serve warns) with the system's openssl,
 * writing `certFile` and `keyFile` over whatever they held: for the tests of HTTPS, which need a
 * real certificate and key in PEM files. The certificate is its own
 * CA: a client trusts it by being given it as `ca`.
 *
 * @example
 * makeCertificate(path.join(dir, 'cert.pem'), path.join(dir, 'key.pem'));
 */
export function makeCertificate(
  certFile: string,
  keyFile: string,
  names = 'IP:127.0.0.1,DNS:localhost',
): void {
  execFileSync(
    'openssl',
    [
      ...['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'],
      ...['-keyout', keyFile, '-out', certFile, '-days', '30', '-subj', '/CN=localhost'],
      ...['-addext', `subjectAltName=${names}`],
    ],
    { stdio: 'ignore' },
  );
}

/**
 * A self-signed certificate for localhost valid only from `notBefore` to `notAfter` (openssl's
 * `YYYYMMDDHHMMSSZ`): an expired one, or one not valid yet. `openssl req` cannot date one in the
 * past, so it is signed with `openssl ca -selfsign` in a scratch folder of `workDir`.
 *
 * @example
 * makeDatedCertificate(dir, 'cert.pem', 'key.pem', '20200101000000Z', '20200102000000Z');
 */
export function makeDatedCertificate(
  workDir: string,
  certFile: string,
  keyFile: string,
  notBefore: string,
  notAfter: string,
): void {
  const ca = fs.mkdtempSync(path.join(workDir, 'ca-'));
  fs.writeFileSync(path.join(ca, 'index.txt'), '');
  fs.writeFileSync(path.join(ca, 'serial'), '01\n');
  fs.writeFileSync(
    path.join(ca, 'ca.cnf'),
    [
      '[ca]',
      'default_ca = d',
      '[d]',
      `database = ${path.join(ca, 'index.txt')}`,
      `serial = ${path.join(ca, 'serial')}`,
      `new_certs_dir = ${ca}`,
      'default_md = sha256',
      'policy = p',
      '[p]',
      'commonName = supplied',
      '',
    ].join('\n'),
  );
  const csr = path.join(ca, 'req.csr');
  const run = (args: string[]) => execFileSync('openssl', args, { stdio: 'ignore' });
  run([
    ...['req', '-new', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'],
    ...['-keyout', keyFile, '-out', csr, '-subj', '/CN=localhost'],
  ]);
  run([
    ...['ca', '-batch', '-config', path.join(ca, 'ca.cnf'), '-selfsign', '-keyfile', keyFile],
    ...['-in', csr, '-out', certFile, '-startdate', notBefore, '-enddate', notAfter],
  ]);
}
