import { Command, Option } from 'commander';
import { commandContext, DATA_DIR_HELP } from './commands/context';
import { makeInitCommand } from './commands/init';
import { makeTokenCommand } from './commands/token';
import { makeServeCommand } from './commands/serve';
import { makeKeyCommand } from './commands/key';
import { makeExpireCommand } from './commands/expire';
import { makeAuditCommand } from './commands/audit';
import type { Output } from './commands/output';
import { releaseEarlySignals } from './early-signals';
import {
  packageVersion,
  refuseOptionsAsValues,
  refuseRepeatedOptions,
  usageLine,
} from '@jcs/protocol';

/**
 * The `jcs-collector` command line. Each command is a plain async function in commands/, wired
 * there by its `makeXCommand()`; this only adds them. `--data-dir` is accepted by every command,
 * before it or after.
 *
 * @example
 * await makeProgram(stdio).parseAsync(['node', 'jcs-collector', 'token', 'list']);
 */
export function makeProgram(out: Output): Command {
  const program = new Command('jcs-collector')
    .description(
      'The JCS error collector: ingest, encrypted storage, triage API, access log, expiry.',
    )
    .version(packageVersion(__dirname), '-V, --version', 'print the version of jcs-collector')
    .addOption(new Option('--data-dir <dir>', DATA_DIR_HELP))
    .addHelpText('after', ({ error }) =>
      // Help written for a missing command is replaced by one line (missingCommand): none of it.
      error
        ? ''
        : [
            '',
            'Environment: JCS_COLLECTOR_DATA_DIR (the data dir), JCS_COLLECTOR_MASTER_KEY (the master',
            'key, where it is kept off the disk), JCS_LOG_LEVEL (serve: info, warn ...), JCS_DEBUG=1',
            '(a stack trace under an unexpected failure).',
            'Exit codes: 0 done, 1 failed, 2 usage error, 3 not authorised, 4 not found.',
            '',
            'Examples:',
            '  jcs-collector init --data-dir /var/lib/jcs-collector',
            '  jcs-collector token create --name alice --role engineer',
            '  jcs-collector serve --port 8080',
          ].join('\n'),
    )
    .configureOutput({
      // Help written to stderr is commander's answer to a missing command; the bin says that in
      // one line instead (missingCommand). Help asked for (--help) goes to stdout.
      writeErr: (text) => {
        if (!text.startsWith('Usage: ')) process.stderr.write(text);
      },
    })
    .exitOverride();
  const context = commandContext(out);
  for (const make of [
    makeInitCommand,
    makeTokenCommand,
    makeServeCommand,
    makeKeyCommand,
    makeExpireCommand,
    makeAuditCommand,
  ]) {
    program.addCommand(inheritSettings(program, make(context)));
  }

  // Held while the bin loaded in case it was serve (early-signals.ts): any other command lets go.
  program.hook('preAction', (_program, action) => {
    if (action.name() !== 'serve') releaseEarlySignals();
  });
  usageErrorsName(program);
  refuseRepeatedOptions(program);
  refuseOptionsAsValues(program);
  return program;
}

/**
 * A command made on its own (`new Command`) takes none of the program's settings; these are the
 * ones `program.command()` would have passed down: above all `exitOverride`, without which a
 * usage error would end the process from inside commander, and the help written to stderr.
 */
function inheritSettings(parent: Command, command: Command): Command {
  command.copyInheritedSettings(parent);
  for (const sub of command.commands) inheritSettings(command, sub);
  return command;
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
      write(`jcs-collector: ${usageLine(text)}: ${path.join(' ')} --help shows the usage\n`),
  });
  command.commands.forEach(usageErrorsName);
}

/**
 * The one line for a call that names no command, or a group (`token`, `key`, `audit`) without
 * its subcommand: what can follow. (`help bogus` is answered before commander: helpRequest.)
 *
 * @example
 * missingCommand(makeProgram(stdio), ['token']); // 'token needs a command (one of create, list, revoke): see jcs-collector token --help'
 */
export function missingCommand(program: Command, args: string[]): string {
  let command = program;
  const path: string[] = [];
  for (const arg of args) {
    const sub = command.commands.find((c) => c.name() === arg);
    if (!sub) continue;
    command = sub;
    path.push(arg);
  }
  const names = command.commands.map((c) => c.name()).join(', ');
  const what = path.length ? `${path.join(' ')} needs a command` : 'no command given';
  return `${what} (one of ${names}): see ${['jcs-collector', ...path].join(' ')} --help`;
}
