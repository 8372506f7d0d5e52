import { CLI_ACTOR } from './context';
import type { openForCommand } from './open';

/**
 * Changes made on the collector's machine (tokens, the transport key) go into the access log
 * beside the API's: who could read reports, and since when, is what an audit asks, and after a
 * restore the log of the live database lists what to do again. `change` runs in the entry's
 * transaction; when it answers false nothing changed, and no entry is written.
 *
 * @example
 * auditedChange(c, 'token.revoke', 'alice', 'ok', () => c.tokens.revoke('alice', c.clock()));
 */
export function auditedChange(
  c: ReturnType<typeof openForCommand>,
  action: string,
  target: string,
  outcome: string,
  change: () => boolean = () => true,
): boolean {
  return c.db
    .transaction(() => {
      if (!change()) return false;
      c.audit.append({ actor: CLI_ACTOR, action, target, outcome }, c.clock());
      return true;
    })
    .immediate();
}
