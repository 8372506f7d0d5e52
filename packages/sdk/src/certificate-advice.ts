import { tlsFailure } from '@jcs/protocol';

/**
 * What to do about a collector's TLS certificate that a request failed on, by the failure's
 * code (the `send_failed` reason); undefined for any other failure. Shared by the library's
 * diagnostic and `jcs-report`'s message, so that both say the same. `where` names the settings
 * as the reader sets them: the reporter's options, or `jcs-report`'s config file.
 *
 * @example
 * certificateAdvice('CERT_HAS_EXPIRED', 'options');
 * // "renew it on the collector (or set this machine's clock right, if that is what is wrong)"
 * certificateAdvice('ECONNREFUSED', 'config'); // undefined
 */
export function certificateAdvice(reason: string, where: 'options' | 'config'): string | undefined {
  const setting = (name: string) =>
    where === 'config' ? `the config's ${name}` : `the ${name} option`;
  const kind = tlsFailure(reason);
  if (kind === 'untrusted') {
    return `put the PEM text of the CA that issued it in ${setting('ca')} (or set NODE_EXTRA_CA_CERTS to its file)`;
  }
  if (kind === 'out-of-date') {
    return "renew it on the collector (or set this machine's clock right, if that is what is wrong)";
  }
  if (kind === 'other-name') {
    return `set ${setting('endpoint')} to a host name the certificate is for`;
  }
  return undefined;
}

/**
 * What to do when the collector's port did not speak TLS to an `https://` endpoint (`EPROTO`: a
 * collector serving plain HTTP answers the TLS hello with HTTP), or undefined for any other
 * failure. Shared by the library's diagnostic and `jcs-report`'s message, as above.
 *
 * @example
 * tlsHandshakeAdvice('EPROTO', 'options');
 * // "check that the endpoint's port serves HTTPS (serve --tls-cert), or, for a collector ..."
 */
export function tlsHandshakeAdvice(
  reason: string,
  where: 'options' | 'config',
): string | undefined {
  if (reason !== 'EPROTO') return undefined;
  const endpoint = where === 'config' ? "the config's endpoint" : 'the endpoint option';
  return `check that the port in ${endpoint} serves HTTPS (serve --tls-cert), or, for a collector on this machine serving plain HTTP, give an http:// endpoint`;
}
