import { execFileSync } from 'node:child_process';

/**
 * Makes a self-signed certificate for localhost and 127.0.0.1 (an EC P-256 key, valid 2 days)
 * with the system's openssl, writing `certFile` and `keyFile` over whatever they held: for the
 * tests of HTTPS, which need a real certificate and key in PEM files. The certificate is its own
 * CA: a client trusts it by being given it as `ca`.
 *
 * @example
 * makeCertificate(path.join(dir, 'cert.pem'), path.join(dir, 'key.pem'));
 */
export function makeCertificate(certFile: string, keyFile: string): void {
  execFileSync(
    'openssl',
    [
      ...['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'],
      ...['-keyout', keyFile, '-out', certFile, '-days', '2', '-subj', '/CN=localhost'],
      ...['-addext', 'subjectAltName=IP:127.0.0.1,DNS:localhost'],
    ],
    { stdio: 'ignore' },
  );
}
