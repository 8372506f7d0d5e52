/**
 * Node's codes for a collector certificate this machine does not trust: self-signed, or issued
 * by a CA (a company's) that is not among the trusted ones. Trusting that CA mends it.
 */
const UNTRUSTED = new Set([
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
]);
/** A certificate out of its dates: a CA cannot mend that, as dates are checked anyway. */
const OUT_OF_DATE = new Set(['CERT_HAS_EXPIRED', 'CERT_NOT_YET_VALID']);

/** What is wrong with a collector's certificate, as far as a remedy goes. */
export type TlsFailure = 'untrusted' | 'out-of-date' | 'other-name';

/**
 * Which kind of certificate failure a Node error code is, or undefined for any other failure:
 * so that the SDK and the CLI tell it alike, each in its own words for where to mend it.
 *
 * @example
 * tlsFailure('CERT_HAS_EXPIRED'); // 'out-of-date'
 * tlsFailure('ECONNREFUSED'); // undefined
 */
export function tlsFailure(code: string | undefined): TlsFailure | undefined {
  if (code === undefined) return undefined;
  if (UNTRUSTED.has(code)) return 'untrusted';
  if (OUT_OF_DATE.has(code)) return 'out-of-date';
  if (code === 'ERR_TLS_CERT_ALTNAME_INVALID') return 'other-name';
  return undefined;
}
