import { Command, Option } from 'commander';
import { resolveDataDir } from './paths';
import { MAX_RETENTION_DAYS } from './collector';
import { initCommand } from './commands/init';
import { tokenCreateCommand, tokenListCommand, tokenRevokeCommand } from './commands/token';
import { serveCommand } from './commands/serve';
import { rateOption, type RateLimitFlags } from './commands/rate-options';
import { auditVerifyCommand } from './commands/audit';
import { expireCommand, parseNow } from './commands/expire';
import { keyRotateCommand } from './commands/key';
import { CommandError, EXIT, type Output } from './commands/output';
import { refuseForeignDataDir } from './commands/data-dir-owner';

function portNumber(value: string): number {
  const n = Number(value);
  if (!/^\d+$/.test(value) || n > 65535)
    throw new CommandError(`--port takes 0 to 65535, not "${value}"`, EXIT.usage);
  return n;
}

function retentionDays(value: string): number {
  const n = Number(value);
  if (!/^\d+$/.test(value) || n < 1 || n > MAX_RETENTION_DAYS) {
    throw new CommandError(
      `--retention-days takes 1 to ${MAX_RETENTION_DAYS} (no report is kept longer than ${MAX_RETENTION_DAYS} days), not "${value}"`,
      EXIT.usage,
    );
  }
  return n;
}

/**
 * The `jcs-collector` command line. Each command is a plain async function in commands/; this
 * only parses and dispatches. `--data-dir` is accepted by every command.
 *
 * @example
 * await makeProgram(stdio).parseAsync(['node', 'jcs-collector', 'token', 'list']);
 */
export function makeProgram(out: Output): Command {
  const program = new Command('jcs-collector')
    .description(
      'The JCS error collector: ingest, encrypted storage, triage API, access log, expiry.',
    )
    .addOption(
      new Option(
        '--data-dir <dir>',
        'data directory (default: $JCS_COLLECTOR_DATA_DIR, else ./jcs-data)',
      ),
    )
    .configureOutput({
      // Help written to stderr is commander's answer to a missing command; the bin says that in
      // one line instead (missingCommand). Help asked for (--help) goes to stdout.
      writeErr: (text) => {
        if (!text.startsWith('Usage: ')) process.stderr.write(text);
      },
    })
    .exitOverride();
  const dataDir = (cmd: Command) => {
    const flag = cmd.optsWithGlobals().dataDir as string | undefined;
    // `--data-dir "$DIR"` with DIR unset would otherwise take over the working directory.
    if (flag !== undefined && flag.trim() === '') {
      throw new CommandError(
        '--data-dir is empty: give a directory, or leave the option out for $JCS_COLLECTOR_DATA_DIR or ./jcs-data',
        EXIT.usage,
      );
    }
    const dir = resolveDataDir(flag);
    refuseForeignDataDir(dir);
    return dir;
  };

  program
    .command('init')
    .description('create the data dir: database and keys folder; prints the public key and key id')
    .option('--data-dir <dir>', 'data directory')
    .action(async (_o, cmd: Command) => {
      await initCommand(dataDir(cmd), out);
    });

  const token = program.command('token').description('manage named bearer tokens');
  token
    .command('create')
    .description('create a token; prints it once, alone on stdout')
    .requiredOption('--name <name>', 'a name for the token (shown in the access log)')
    .requiredOption('--role <role>', 'ingest, engineer or admin')
    .option('--data-dir <dir>', 'data directory')
    .action(async (o: { name: string; role: string }, cmd: Command) => {
      await tokenCreateCommand(dataDir(cmd), o.name, o.role, out);
    });
  token
    .command('list')
    .description('list tokens (never their secrets)')
    .option('--json', 'print JSON')
    .option('--data-dir <dir>', 'data directory')
    .action(async (o: { json?: boolean }, cmd: Command) => {
      await tokenListCommand(dataDir(cmd), out, o.json);
    });
  token
    .command('revoke <name>')
    .description('revoke a token at once')
    .option('--data-dir <dir>', 'data directory')
    .action(async (name: string, _o, cmd: Command) => {
      await tokenRevokeCommand(dataDir(cmd), name, out);
    });

  program
    .command('serve')
    .description('serve the API until SIGTERM or SIGINT')
    .option('--host <host>', 'address to listen on', '127.0.0.1')
    .option('--port <port>', 'port (0: a free one)', portNumber, 8080)
    .option('--tls-cert <file>', 'certificate (PEM) for HTTPS')
    .option('--tls-key <file>', 'private key (PEM) for HTTPS')
    .option('--no-expiry', 'do not run the nightly expiry job')
    .option(
      '--retention-days <days>',
      `keep reports at most this many days (at most ${MAX_RETENTION_DAYS})`,
      retentionDays,
    )
    .addOption(rateOption('licencePerMin'))
    .addOption(rateOption('licenceBurst'))
    .addOption(rateOption('tokenPerMin'))
    .addOption(rateOption('tokenBurst'))
    .addOption(rateOption('readPerMin'))
    .addOption(rateOption('readBurst'))
    .option('--data-dir <dir>', 'data directory')
    .action(
      async (
        o: {
          host: string;
          port: number;
          tlsCert?: string;
          tlsKey?: string;
          expiry: boolean;
          retentionDays?: number;
        } & RateLimitFlags,
        cmd: Command,
      ) => {
        await serveCommand({ ...o, dataDir: dataDir(cmd) }, out);
      },
    );

  const key = program.command('key').description('manage the transport (dump) key');
  key
    .command('rotate')
    .description(
      'make a new transport key current under a new key id; old ones stay so old dumps open',
    )
    .option('--key-id <id>', 'the new key id (default: k<n+1>)')
    .option('--data-dir <dir>', 'data directory')
    .action(async (o: { keyId?: string }, cmd: Command) => {
      await keyRotateCommand(dataDir(cmd), out, { keyId: o.keyId });
    });

  program
    .command('expire')
    .description('run the expiry job now (for cron); prints a summary')
    .option('--now <iso>', 'judge ages as if it were this moment (ISO date-time)', parseNow)
    .option('--dry-run', 'report what would be deleted; delete nothing')
    .option('--json', 'print the summary as JSON (as POST /v1/expire answers)')
    .option(
      '--retention-days <days>',
      `keep reports at most this many days (at most ${MAX_RETENTION_DAYS})`,
      retentionDays,
    )
    .option('--data-dir <dir>', 'data directory')
    .action(
      async (
        o: { now?: number; dryRun?: boolean; json?: boolean; retentionDays?: number },
        cmd: Command,
      ) => {
        await expireCommand({ ...o, dataDir: dataDir(cmd) }, out);
      },
    );

  const audit = program.command('audit').description('the access log');
  audit
    .command('verify')
    .description("check the access log's hash chain; exit 1 where it is broken")
    .option('--json', 'print {"ok": true, "entries": N} or {"ok": false, "brokenAt": seq}')
    .option('--data-dir <dir>', 'data directory')
    .action(async (o: { json?: boolean }, cmd: Command) => {
      await auditVerifyCommand(dataDir(cmd), out, o.json);
    });

  usageErrorsName(program);
  return program;
}

/**
 * One line that says what to do (as jcs-errors does), not the message and the whole help; it
 * names the command whose usage to read (`jcs-collector token create --help`).
 */
function usageErrorsName(command: Command): void {
  const path: string[] = [];
  for (let c: Command | null = command; c; c = c.parent) path.unshift(c.name());
  command.configureOutput({
    outputError: (text, write) =>
      write(
        `jcs-collector: ${text
          .trim()
          .replace(/^error: /, '')
          .replace(/\.$/, '')}: ${path.join(' ')} --help shows the usage\n`,
      ),
  });
  command.commands.forEach(usageErrorsName);
}

/**
 * The one line for a call that names no command, or a group (`token`, `key`, `audit`) without
 * its subcommand: what can follow. Also for `help` with a command that does not exist.
 *
 * @example
 * missingCommand(makeProgram(stdio), ['token']); // 'token needs a command (one of create, list, revoke): see jcs-collector token --help'
 */
export function missingCommand(program: Command, args: string[]): string {
  let command = program;
  const path: string[] = [];
  for (const [i, arg] of args.entries()) {
    const sub = command.commands.find((c) => c.name() === arg);
    // `help bogus`: commander shows the help with an error, as if no command had been given.
    const topic = args[i + 1];
    if (!sub && arg === 'help' && topic !== undefined && !topic.startsWith('-'))
      return `unknown command '${topic}': see ${['jcs-collector', ...path].join(' ')} --help`;
    if (!sub) continue;
    command = sub;
    path.push(arg);
  }
  const names = command.commands.map((c) => c.name()).join(', ');
  const what = path.length ? `${path.join(' ')} needs a command` : 'no command given';
  return `${what} (one of ${names}): see ${['jcs-collector', ...path].join(' ')} --help`;
}
