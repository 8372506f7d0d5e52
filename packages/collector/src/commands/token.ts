import { shellWord } from '@jcs/protocol';
import { ROLES, type Role } from '../auth/tokens';
import { isTokenName, MAX_TOKEN_NAME, TokenNameError, TokenNameTakenError } from '../store/tokens';
import { CommandError, EXIT, printTable, type Output } from './output';
import { openForCommand } from './open';
import { Command } from 'commander';
import { DATA_DIR_HELP, type CommandContext } from './context';
import { auditedChange } from './audited-change';
import { tokenCreateAdvice } from './token-advice';

/** `token create`: the token alone on stdout (for `$(...)`); only its digest is kept. */
export async function tokenCreateCommand(
  dataDir: string,
  name: string,
  role: string,
  out: Output,
): Promise<string> {
  if (!ROLES.includes(role as Role)) {
    throw new CommandError(`--role must be one of ${ROLES.join(', ')}, not "${role}"`, EXIT.usage);
  }
  // A write to /dev/null succeeds, so written() cannot tell: a token nobody can read is not made.
  if (out.goesNowhere?.()) {
    throw new CommandError(
      'stdout goes to /dev/null (or was closed), where nobody could read the token, so none was made: run token create again with stdout going where it can be read',
    );
  }
  const c = openForCommand({ dataDir });
  try {
    const token = c.tokens.create(name, role as Role, c.clock());
    out.out(token);
    const failed = await out.written?.();
    if (failed) {
      // Nobody saw it: a live credential nobody holds is one to forget, so it goes.
      c.tokens.discard(name);
      throw new CommandError(
        `could not print the token (${failed.code ?? failed.message}), so it was not kept: run token create again with stdout going where it can be read`,
      );
    }
    auditedChange(c, 'token.create', name, `ok role=${role}`);
    out.err(`created ${role} token "${name}": it is shown only this once`);
    return token;
  } catch (e) {
    if (e instanceof TokenNameTakenError) throw new CommandError(e.message, EXIT.failed);
    if (e instanceof TokenNameError) throw new CommandError(e.message, EXIT.usage);
    throw e;
  } finally {
    c.close();
  }
}

/** `token list`: names, roles, dates; never a secret. */
export async function tokenListCommand(dataDir: string, out: Output, json = false): Promise<void> {
  const c = openForCommand({ dataDir });
  try {
    const tokens = c.tokens.list();
    if (json) {
      out.out(
        JSON.stringify(
          tokens.map((t) => ({
            ...t,
            createdAt: iso(t.createdAt),
            lastUsedAt: iso(t.lastUsedAt),
            revokedAt: iso(t.revokedAt),
          })),
        ),
      );
      return;
    }
    if (tokens.length === 0) {
      out.err(`no tokens yet: create one with ${tokenCreateAdvice(dataDir)}`);
      return;
    }
    const rows = [['NAME', 'ROLE', 'CREATED', 'LAST USED', 'STATE']];
    for (const t of tokens) {
      rows.push([
        t.name,
        t.role,
        iso(t.createdAt) ?? '',
        iso(t.lastUsedAt) ?? 'never',
        t.revokedAt ? `revoked ${iso(t.revokedAt)}` : 'active',
      ]);
    }
    printTable(rows, out);
  } finally {
    c.close();
  }
}

/** `token revoke NAME`: effective on the next request, no restart. */
export async function tokenRevokeCommand(
  dataDir: string,
  name: string,
  out: Output,
): Promise<void> {
  if (name.trim() === '') {
    throw new CommandError(
      `token revoke needs the name of a token (a script's unset "$NAME"?): see jcs-collector token list --data-dir ${shellWord(dataDir)}`,
      EXIT.usage,
    );
  }
  // Not said back: a name this long is a paste gone wrong, and would fill the screen and the log.
  if (name.length > MAX_TOKEN_NAME) {
    throw new CommandError(
      `no token has a name of ${name.length} characters (a token name is 1-${MAX_TOKEN_NAME}): see jcs-collector token list --data-dir ${shellWord(dataDir)}`,
      EXIT.notFound,
    );
  }
  const c = openForCommand({ dataDir });
  try {
    name = c.tokens.storedName(name);
    const stored = name;
    // The revocation and its entry in one transaction: a restore's list of what to revoke again.
    const revoked = auditedChange(c, 'token.revoke', stored, 'ok', () =>
      c.tokens.revoke(stored, c.clock()),
    );
    if (!revoked) {
      // Revoked before: what was asked for holds, so a re-run offboarding script succeeds, and
      // is told it did nothing (an unknown name is not this: it may be a typo).
      const earlier = c.tokens.list().find((t) => t.name === name && t.revokedAt !== null);
      if (earlier) {
        out.err(`token "${name}" was already revoked, at ${iso(earlier.revokedAt)}: nothing to do`);
        return;
      }
      // Escaped unless it is a name a token can have: control characters stay off the terminal.
      const shown = isTokenName(name) ? `"${name}"` : JSON.stringify(name);
      throw new CommandError(
        `no active token named ${shown}: see jcs-collector token list --data-dir ${shellWord(dataDir)}`,
        EXIT.notFound,
      );
    }
    out.err(`revoked token "${name}"`);
  } finally {
    c.close();
  }
}

function iso(ms: number | null): string | null {
  return ms === null ? null : new Date(ms).toISOString();
}

/**
 * `token create|list|revoke`, wired.
 *
 * @example
 * program.addCommand(makeTokenCommand(context));
 */
export function makeTokenCommand(c: CommandContext): Command {
  const token = new Command('token').description('manage named bearer tokens');
  token
    .command('create')
    .description('create a token; prints it once, alone on stdout')
    .requiredOption('--name <name>', 'a name for the token (shown in the access log)')
    .requiredOption('--role <role>', 'ingest, engineer or admin')
    .option('--data-dir <dir>', DATA_DIR_HELP)
    .action(async (o: { name: string; role: string }, cmd: Command) => {
      await tokenCreateCommand(c.dataDir(cmd), o.name, o.role, c.out);
    });
  token
    .command('list')
    .description('list tokens (never their secrets)')
    .option('--json', 'print JSON')
    .option('--data-dir <dir>', DATA_DIR_HELP)
    .action(async (o: { json?: boolean }, cmd: Command) => {
      await tokenListCommand(c.dataDir(cmd), c.out, o.json);
    });
  token
    .command('revoke <name>')
    .description('revoke a token at once')
    .option('--data-dir <dir>', DATA_DIR_HELP)
    .action(async (name: string, _o, cmd: Command) => {
      await tokenRevokeCommand(c.dataDir(cmd), name, c.out);
    });
  return token;
}
