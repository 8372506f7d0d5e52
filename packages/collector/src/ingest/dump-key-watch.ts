import { dumpSealedTo, type Report } from '@jcs/protocol';
import type { Collector } from '../collector';

/** At most one warning a minute for each key id. */
const WARN_EVERY_MS = 60_000;
/**
 * Dumps checked a minute for each key id: every one at the rate the collector is built for (some
 * 17 a minute), a sample above it, so that checking (a millisecond or so each) stays a small
 * share of ingest however many reports carry a dump.
 */
const CHECKS_PER_MINUTE = 60;
/** Key ids are the client's text: the memory of those seen stays bounded. */
const MAX_REMEMBERED = 1_000;
/**
 * The key ids init and key rotate make (k1, k2, ...), and the ids of the keys this collector
 * holds (an operator's own `--key-id`), the only ones logged: the key id is text the client
 * typed, and one of any other form may be a licence, a name or a token pasted in the wrong field.
 * Six digits at most: no collector rotates its key a million times, and a longer run may be a card
 * number behind a `k`.
 */
const LOGGED_KEY_ID = /^k\d{1,6}$/;
const NOT_LOGGED = '(not logged: not a key id this collector made)';

/**
 * Warns in the log when a report's dump is sealed to a transport key this collector does not
 * hold, or sealed under a key id it holds but to another public key: such a dump can never be
 * opened (it reads as `"dump": null`), and the report is stored all the same (202) rather than
 * lose the rest of it, so nothing else would tell an operator that an SDK pinned a wrong `keyId`,
 * or a public key copied from another collector (a test one). Up to 60 dumps a minute are checked
 * for each key id, and at most one warning a minute is written for each, so that a fleet of
 * misconfigured installs does not flood the log or reread the keys folder for every report. For a
 * key held, the dump's authenticator is checked (off the report's way), never its plaintext: the
 * collector opens a dump only when an engineer reads it (`?dump=1`, in the access log).
 *
 * @example
 * const watch = dumpKeyWatch(c);
 * watch(report); // logs "a dump is sealed to a transport key this collector does not hold"
 */
export function dumpKeyWatch(c: Collector): (report: Report) => void {
  const seen = new Map<string, { since: number; checks: number; warned: number }>();
  return (report) => {
    const dump = report.dump;
    if (dump === undefined) return;
    const held = c.keyring.holdsTransportKey(dump.keyId);
    // Every id not logged shares one budget: a client varying its keyId would otherwise get a
    // thousand identical warnings written.
    const shown = held || LOGGED_KEY_ID.test(dump.keyId) ? dump.keyId : NOT_LOGGED;
    const now = c.clock();
    let s = seen.get(shown);
    if (s === undefined) {
      if (seen.size >= MAX_REMEMBERED) seen.clear();
      s = { since: now, checks: 0, warned: -Infinity };
      seen.set(shown, s);
    }
    if (now - s.since >= WARN_EVERY_MS) Object.assign(s, { since: now, checks: 0 });
    // A key not held stays so until one is rotated in: its folder is read at most once a minute,
    // when a warning would be written. A held key's dumps are checked one by one, up to a budget.
    if (held ? s.checks >= CHECKS_PER_MINUTE : now - s.warned < WARN_EVERY_MS) return;
    s.checks++;
    // A key rotated in while serve runs is found here (the keyring looks in the folder), and is
    // then held: named in the warning.
    const secret = c.keyring.transportSecret(dump.keyId);
    const entry = s;
    const warn = (fields: object, message: string) => {
      if (now - entry.warned < WARN_EVERY_MS) return;
      entry.warned = now;
      c.log.warn({ keyId: secret ? dump.keyId : shown, ...fields }, message);
    };
    if (secret) {
      setImmediate(() => {
        if (dumpSealedTo(dump, secret)) return;
        warn(
          {},
          "a dump sealed under this collector's transport key id does not open with its key: an SDK pins another public key under this key id; check the publicKey it pins (GET /v1/public-key)",
        );
      });
      return;
    }
    warn(
      { held: c.keyring.transportKeyIds() },
      'a dump is sealed to a transport key this collector does not hold: it will not open; check the keyId and publicKey the SDK pins (GET /v1/public-key)',
    );
  };
}
