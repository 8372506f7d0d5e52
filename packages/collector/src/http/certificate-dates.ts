import { X509Certificate } from 'node:crypto';

/**
 * What is wrong with a TLS certificate's dates at `now`, in one sentence, or undefined when it is
 * valid. Node serves an expired certificate without a word, and every client then refuses the
 * connection: the SDKs queue their reports and jcs-errors cannot connect, with nothing in the
 * collector's own output to say why.
 *
 * @example
 * certificateDates(fs.readFileSync('cert.pem'), Date.now());
 * // 'the TLS certificate expired on 2026-11-30T10:00:00.000Z: ...'
 */
export function certificateDates(pem: Buffer | string, now: number): string | undefined {
  let cert: X509Certificate;
  try {
    cert = new X509Certificate(pem);
  } catch {
    // Not parseable here: loading it (server.ts) says what is wrong with it.
    return undefined;
  }
  const from = Date.parse(cert.validFrom);
  const to = Date.parse(cert.validTo);
  if (to <= now) {
    return `the TLS certificate expired on ${new Date(to).toISOString()}: clients refuse it, so SDKs queue their reports and jcs-errors cannot connect; renew it, then send serve SIGHUP to load it`;
  }
  if (from > now) {
    return `the TLS certificate is not valid until ${new Date(from).toISOString()} (is this machine's clock right?): clients refuse it until then`;
  }
  return undefined;
}
