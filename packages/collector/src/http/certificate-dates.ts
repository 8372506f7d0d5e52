import { X509Certificate } from 'node:crypto';
import fs from 'node:fs';
import { DAY_MS } from '../time';

/** How long before a certificate's end serve starts saying so: time enough to renew it. */
export const EXPIRES_SOON_MS = 14 * DAY_MS;
/** How often a running serve looks at its certificate's dates again. */
const WATCH_EVERY_MS = 6 * 3_600_000;

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
  if (to - now <= EXPIRES_SOON_MS) {
    const days = Math.floor((to - now) / DAY_MS);
    const when = days === 0 ? 'within a day' : `in ${days} day${days === 1 ? '' : 's'}`;
    return `the TLS certificate expires on ${new Date(to).toISOString()}, ${when}: renew it, then send serve SIGHUP to load it`;
  }
  return undefined;
}

/**
 * Looks at the certificate's dates every `everyMs` (6 hours) while serve runs, and warns while
 * they are wrong: a collector left running for months would otherwise go from "expires soon"
 * to refused by every client with nothing in its log since start. Returns the stop function.
 *
 * @example
 * const stop = watchCertificateDates(() => certificateDates(read(), Date.now()), log.warn);
 */
export function watchCertificateDates(
  check: () => string | undefined,
  warn: (message: string) => void,
  everyMs = WATCH_EVERY_MS,
): () => void {
  const timer = setInterval(() => {
    const wrong = check();
    if (wrong) warn(wrong);
  }, everyMs);
  timer.unref();
  return () => clearInterval(timer);
}

/**
 * The certificate `serve` is serving, by its file: read when it was loaded (at start, and again
 * at each SIGHUP that loaded it), so that its dates are the served one's, not those of whatever
 * the file holds now. A file renewed on disk but not loaded is said so: the served one still
 * expires.
 *
 * @example
 * const served = servedCertificate('/etc/jcs/cert.pem', Date.now);
 * served.wrong(); // undefined, or what is wrong with the served certificate's dates
 * served.reloaded(); // after a SIGHUP loaded the file
 */
export function servedCertificate(
  file: string,
  now: () => number,
): { wrong(): string | undefined; reloaded(): void } {
  let served = readPem(file);
  return {
    wrong() {
      if (!served) return undefined;
      const wrong = certificateDates(served, now());
      if (!wrong) return undefined;
      const onDisk = readPem(file);
      const renewed =
        onDisk !== undefined &&
        !onDisk.equals(served) &&
        certificateDates(onDisk, now()) === undefined;
      return renewed
        ? `${wrong}; ${file} holds a renewed one, not loaded: send serve SIGHUP`
        : wrong;
    },
    reloaded() {
      served = readPem(file) ?? served;
    },
  };
}

function readPem(file: string): Buffer | undefined {
  try {
    return fs.readFileSync(file);
  } catch {
    return undefined; // gone since: the next SIGHUP says so
  }
}
