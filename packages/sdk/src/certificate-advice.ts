/**
 * Node's codes for a collector certificate this machine does not trust: self-signed, or issued
 * by a CA (a company's) that is not among the trusted ones. Trusting that CA mends it.
 */
const UNTRUSTED =
  /^(DEPTH_ZERO_SELF_SIGNED_CERT|SELF_SIGNED_CERT_IN_CHAIN|UNABLE_TO_VERIFY_LEAF_SIGNATURE|UNABLE_TO_GET_ISSUER_CERT(_LOCALLY)?)$/;
/** A certificate out of its dates: a CA cannot mend that, as dates are checked anyway. */
const OUT_OF_DATE = /^(CERT_HAS_EXPIRED|CERT_NOT_YET_VALID)$/;
/** A certificate for another host name than the endpoint's: checked whatever CA issued it. */
const OTHER_NAME = /^ERR_TLS_CERT_ALTNAME_INVALID$/;

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
  if (UNTRUSTED.test(reason)) {
    return `put the PEM text of the CA that issued it in ${setting('ca')} (or set NODE_EXTRA_CA_CERTS to its file)`;
  }
  if (OUT_OF_DATE.test(reason)) {
    return "renew it on the collector (or set this machine's clock right, if that is what is wrong)";
  }
  if (OTHER_NAME.test(reason)) {
    return `set ${setting('endpoint')} to a host name the certificate is for`;
  }
  return undefined;
}
