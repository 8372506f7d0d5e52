import { dumpSealedTo, type Report } from '@jcs/protocol';
import type { Collector } from '../collector';

/** At most one warning a minute for each key id. */
const WARN_EVERY_MS = 60_000;
/** Key ids are the client's text: the memory of those warned about stays bounded. */
const MAX_REMEMBERED = 1_000;
/**
 * The key ids init and key rotate make (k1, k2, ...), the only ones logged: the key id is text
 * the client typed, and one of any other form may be a licence, a name or a token pasted in the
 * wrong field (a `--key-id` of the operator's own is not echoed either).
 */
const LOGGED_KEY_ID = /^k\d{1,19}$/;
const NOT_LOGGED = '(not logged: not of the form k1, k2, ...)';

/**
 * Warns in the log when a report's dump is sealed to a transport key this collector does not
 * hold, or sealed under a key id it holds but to another public key: such a dump can never be
 * opened (it reads as `"dump": null`), and the report is stored all the same (202) rather than
 * lose the rest of it, so nothing else would tell an operator that an SDK pinned a wrong `keyId`,
 * or a public key copied from another collector (a test one). Once a minute per key id, so that a
 * fleet of misconfigured installs does not flood the log or reread the keys folder for every
 * report. For a key held, the dump's authenticator is checked then (off the report's way, a
 * millisecond or so), never its plaintext: the collector opens a dump only when an engineer reads
 * it (`?dump=1`, in the access log).
 *
 * @example
 * const watch = dumpKeyWatch(c);
 * watch(report); // logs "a dump is sealed to a transport key this collector does not hold"
 */
export function dumpKeyWatch(c: Collector): (report: Report) => void {
  const looked = new Map<string, number>();
  return (report) => {
    const dump = report.dump;
    if (dump === undefined) return;
    // Every id not logged shares one look a minute: a client varying its keyId would otherwise
    // get a thousand identical warnings written.
    const shown = LOGGED_KEY_ID.test(dump.keyId) ? dump.keyId : NOT_LOGGED;
    const now = c.clock();
    const last = looked.get(shown);
    if (last !== undefined && now - last < WARN_EVERY_MS) return;
    if (looked.size >= MAX_REMEMBERED) looked.clear();
    looked.set(shown, now);
    // A key rotated in while serve runs is found here too (the keyring looks in the folder).
    const secret = c.keyring.transportSecret(dump.keyId);
    if (secret) {
      setImmediate(() => {
        if (dumpSealedTo(dump, secret)) return;
        c.log.warn(
          { keyId: shown },
          "a dump sealed under this collector's transport key id does not open with its key: an SDK pins another public key under this key id; check the publicKey it pins (GET /v1/public-key)",
        );
      });
      return;
    }
    c.log.warn(
      {
        keyId: shown,
        held: c.keyring.transportKeyIds(),
      },
      'a dump is sealed to a transport key this collector does not hold: it will not open; check the keyId and publicKey the SDK pins (GET /v1/public-key)',
    );
  };
}
