import { Command, CommanderError, Help, Option } from 'commander';
import { shellWord } from '@jcs/protocol';
import { ApiClient } from './client';
import { makeAuditCommand } from './commands/audit';
import type { CommandResult, Output, Wiring } from './commands/context';
import { makeEraseCommand } from './commands/erase';
import { makeExpireCommand } from './commands/expire';
import { makeReportCommand } from './commands/report';
import { makeReportsCommand } from './commands/reports';
import { makeShowCommand } from './commands/show';
import { makeStatusCommand } from './commands/status';
import { makeTopCommand } from './commands/top';
import { makeIgnoreCommand, makeReopenCommand, makeResolveCommand } from './commands/triage';
import { CliError, EXIT, type ExitCode } from './errors';
import { makePalette } from './render/palette';
import { describeSource, resolveSettings, type GlobalFlags } from './settings';
import {
  helpRequest,
  packageVersion,
  refuseOptionsAsValues,
  refuseRepeatedOptions,
  usageLine,
} from '@jcs/protocol';

/** The process around a run; the bin passes the real one, tests their own. */
export interface Environment {
  env: Record<string, string | undefined>;
  homeDir: string;
  stdoutIsTTY: boolean;
  /** the terminal's width when stdout is one */
  columns?: number;
  now?: () => Date;
  /** all of stdin, read when a command asks for it (`erase --username-stdin`) */
  readStdin?: () => Promise<string>;
  /** stdin is a terminal, where such a command refuses rather than wait for typing */
  stdinIsTTY?: boolean;
}

/** What a run printed and how it ended; only the bin writes it out and exits. */
export interface RunResult {
  stdout: string;
  stderr: string;
  exitCode: ExitCode;
}

const DEFAULT_WIDTH = 80;

/**
 * Runs `jcs-errors` with these arguments (without `node` and the script) and returns what to
 * print and the exit code, never exiting itself, so it can be tested in-process.
 *
 * @example
 * const { stdout, exitCode } = await run(['top', '--since', '24h'], {
 *   env: process.env, homeDir: os.homedir(), stdoutIsTTY: false,
 * });
 */
export async function run(argv: string[], environment: Environment): Promise<RunResult> {
  // `--version` alone: it is also `top`'s option (a version filter), so commander cannot own it.
  if (argv.length === 1 && (argv[0] === '--version' || argv[0] === '-V')) {
    return { stdout: `${packageVersion(__dirname)}\n`, stderr: '', exitCode: EXIT.ok };
  }
  let stdout = '';
  let stderr = '';
  let exitCode: ExitCode = EXIT.ok;
  const debug = (environment.env.JCS_DEBUG ?? '') !== '';

  const wiring: Wiring = {
    context(command: Command) {
      const flags = command.optsWithGlobals() as GlobalFlags;
      const settings = resolveSettings(flags, {
        env: environment.env,
        homeDir: environment.homeDir,
        stdoutIsTTY: environment.stdoutIsTTY,
        warn: (line) => (stderr += `${line}\n`),
      });
      // A --server typed on the command line is repeated in hints; one from the environment or
      // the config file is there for the hint too.
      const invocation =
        settings.serverSource === 'flag'
          ? `jcs-errors --server ${shellWord(settings.server.replace(/\/$/, ''))}`
          : 'jcs-errors';
      const client = new ApiClient({
        server: settings.server,
        token: settings.token,
        tokenHint: describeSource(settings.tokenSource, 'token', settings.configPath),
        proxy: settings.proxy,
        invocation,
      });
      const output: Output = {
        json: settings.json,
        palette: makePalette(settings.color),
        width: terminalWidth(environment),
        now: environment.now?.() ?? new Date(),
        clock: environment.now ? undefined : () => new Date(),
        piped: !environment.stdoutIsTTY && !validColumns(environment),
        invocation,
      };
      return { client, output };
    },
    stdin: () =>
      environment.stdinIsTTY ? null : (environment.readStdin?.() ?? Promise.resolve('')),
    finish(result: CommandResult) {
      const outcome = typeof result === 'string' ? { text: result, exitCode: EXIT.ok } : result;
      stdout += outcome.text;
      exitCode = outcome.exitCode;
      if (exitCode !== EXIT.ok && !debug) stderr = ''; // one line, as for any failure
      if ('problem' in outcome && outcome.problem) stderr += `${outcome.problem}\n`;
    },
  };

  const program = makeProgram(wiring);
  // The command a usage error arose in, so the line can point at its own help.
  let failedIn: Command = program;
  configureAll(program, {
    writeOut: (text) => (stdout += text),
    writeErr: (text) => (stderr += text),
    width: terminalWidth(environment),
    onError: (command) => (failedIn = command),
  });
  refuseRepeatedOptions(program);
  refuseOptionsAsValues(program);

  const asked = helpRequest(program, argv);
  if ('unknown' in asked) {
    return {
      stdout: '',
      stderr: `unknown command '${asked.unknown}': see ${asked.see} --help\n`,
      exitCode: EXIT.usage,
    };
  }
  try {
    await program.parseAsync(helpAfterCommand(program, asked.args), { from: 'user' });
  } catch (err) {
    if (err instanceof CommanderError && err.exitCode === 0) {
      return { stdout, stderr, exitCode: EXIT.ok };
    }
    // A failure is one line on stderr: warnings given on the way (a config file others can read,
    // a token over plain http) are left out then, unless JCS_DEBUG asks for everything.
    if (!debug) stderr = '';
    if (err instanceof CommanderError) {
      // No command (bare `jcs-errors`, or `--token top` whose value swallowed it): nothing was
      // done, which a script must not take for success; one line, like every other failure.
      if (err.code === 'commander.help') {
        const names = program.commands.map((c) => c.name()).join(', ');
        return {
          stdout,
          stderr: `no command given (one of ${names}): see jcs-errors --help\n`,
          exitCode: EXIT.usage,
        };
      }
      // `--version` with more after it: the version alone, or top's filter put before `top`.
      if (err.code === 'commander.unknownOption' && /'(--version|-V)'/.test(err.message)) {
        return {
          stdout,
          stderr:
            "--version (or -V) prints the version and takes nothing else; to list one version's groups, put it after top: jcs-errors top --version V\n",
          exitCode: EXIT.usage,
        };
      }
      const elsewhere =
        err.code === 'commander.unknownOption'
          ? optionOfOtherCommands(program, argv, err.message)
          : null;
      if (elsewhere) return { stdout, stderr: elsewhere, exitCode: EXIT.usage };
      const message =
        err.code === 'commander.excessArguments'
          ? tooManyArguments(failedIn)
          : usageLine(err.message);
      return {
        stdout,
        stderr: `${stderr}${message}: see ${commandPath(failedIn)} --help\n`,
        exitCode: EXIT.usage,
      };
    }
    if (err instanceof CliError) {
      stderr += `${err.message}\n`;
      if (debug) stderr += `${stackOf(err)}\n`;
      return { stdout, stderr, exitCode: err.exitCode };
    }
    stderr += `jcs-errors failed unexpectedly: ${err instanceof Error ? err.message : String(err)}: run again with JCS_DEBUG=1 and report what it prints\n`;
    if (debug) stderr += `${stackOf(err)}\n`;
    return { stdout, stderr, exitCode: EXIT.failed };
  }
  return { stdout, stderr, exitCode };
}

/**
 * The commander program: global options, then one command per `makeXCommand`. Global options
 * are the program's, so commander takes them before or after the command name.
 *
 * @example
 * await makeProgram(wiring).parseAsync(['top', '--since', '24h'], { from: 'user' });
 */
export function makeProgram(wiring: Wiring): Command {
  return new Command('jcs-errors')
    .description(
      'Triage the JCS error collector: what broke, since when, in which versions, for whom.',
    )
    .option(
      '--server <url>',
      'the collector (env JCS_ERRORS_SERVER, default http://127.0.0.1:8080)',
    )
    .option('--token <token>', 'a bearer token (env JCS_ERRORS_TOKEN)')
    .option('--json', "print the API's JSON (control characters escaped), for scripts and jq")
    .option('--no-color', 'no colour (also NO_COLOR; colour is only ever used on a terminal)')
    .configureHelp({
      // `--version` is handled before commander (it is also top's version filter), so commander
      // does not know it: listed here so the help's Options name it, as they do for jcs-collector.
      visibleOptions(command) {
        const options = Help.prototype.visibleOptions.call(this, command);
        if (command.parent !== null) return options;
        const version = new Option('-V, --version', 'print the version (alone, nothing else)');
        return [...options.slice(0, -1), version, ...options.slice(-1)];
      },
    })
    .addCommand(makeTopCommand(wiring))
    .addCommand(makeShowCommand(wiring))
    .addCommand(makeReportsCommand(wiring))
    .addCommand(makeReportCommand(wiring))
    .addCommand(makeResolveCommand(wiring))
    .addCommand(makeIgnoreCommand(wiring))
    .addCommand(makeReopenCommand(wiring))
    .addCommand(makeAuditCommand(wiring))
    .addCommand(makeExpireCommand(wiring))
    .addCommand(makeStatusCommand(wiring))
    .addCommand(makeEraseCommand(wiring))
    .addHelpText(
      'after',
      [
        '',
        'Settings: flags, then JCS_ERRORS_SERVER and JCS_ERRORS_TOKEN, then',
        '~/.config/jcs-errors/config.json {"server": ..., "token": ...}',
        '(keep it chmod 600).',
        'Exit codes: 0 done, 1 failed (unreachable, server error), 2 usage error,',
        '3 not authorised, 4 not found. jcs-errors --version (or -V) prints the version.',
        '',
        'Examples:',
        '  jcs-errors top --since 24h',
        '  jcs-errors show 3fa9c1',
        '  jcs-errors resolve 3fa9c1 --in-version 5.3',
      ].join('\n'),
    );
}

/**
 * Commander copies settings only to commands it creates itself, and these are added whole, so
 * errors and output are routed by hand through the whole tree.
 */
function configureAll(
  command: Command,
  io: {
    writeOut(text: string): void;
    writeErr(text: string): void;
    width: number;
    onError(command: Command): void;
  },
): void {
  command.exitOverride();
  command.configureOutput({
    writeOut: io.writeOut,
    writeErr: io.writeErr,
    getOutHelpWidth: () => io.width,
    getErrHelpWidth: () => io.width,
    // The one-line message is made in run(); commander's own would be a second line.
    outputError: () => io.onError(command),
  });
  command.showSuggestionAfterError(true);
  // A command's own help lists its options only; the global ones work there too.
  if (command.parent) command.addHelpText('after', GLOBAL_OPTIONS_HELP);
  for (const sub of command.commands) configureAll(sub, io);
}

// Two lines, so that help fits an 80-column terminal.
const GLOBAL_OPTIONS_HELP =
  '\nGlobal options, before or after the command: --server URL, --token T, --json,\n' +
  '--no-color (jcs-errors --help says more).';

/**
 * `jcs-errors -h top` as `jcs-errors top -h`: the command's help, not the program's (commander
 * answers a help flag where it meets it, before the command that follows).
 */
function helpAfterCommand(program: Command, argv: string[]): string[] {
  const help = argv.findIndex((arg) => arg === '-h' || arg === '--help');
  const command = argv.findIndex((arg) => hasCommand(program, arg));
  if (help < 0 || command < help) return argv;
  const rest = argv.filter((_, i) => i !== help);
  rest.splice(command, 0, argv[help]);
  return rest;
}

/**
 * For an option given before its command (`--limit 5 top`), the line that says where it goes; for
 * an option the command does not take but others do (`ignore G --in-version 5.3`), the line
 * that says which: commander's own suggestion is the nearest name among the command's options
 * and the global ones, which sent `--in-version` to `--version`, the filter of `top`.
 */
function optionOfOtherCommands(program: Command, argv: string[], message: string): string | null {
  const flag = /'(-[^'=]+)/.exec(message)?.[1];
  const running = argv.find((arg) => hasCommand(program, arg));
  if (!flag || !running) return null;
  const takes = (c: Command) => c.options.some((o) => o.long === flag || o.short === flag);
  // `--limit 5 top`: the command's own option, put before it, where only global ones go.
  const at = argv.findIndex((arg) => arg === flag || arg.startsWith(`${flag}=`));
  const own = program.commands.find((c) => c.name() === running)!;
  if (at >= 0 && at < argv.indexOf(running) && takes(own)) {
    return `${flag} is an option of ${running}: put it after the command, as in jcs-errors ${running} ${flag} ...\n`;
  }
  const takers = program.commands.filter((c) => c.name() !== running && takes(c));
  // `audit verify --limit`: audit takes it, its subcommand does not; that has a line of its own.
  if (takers.length === 0 || program.commands.some((c) => c.name() === running && takes(c))) {
    return null;
  }
  // `audit verify --dump`: named as typed, the subcommand too.
  const command = program.commands.find((c) => c.name() === running)!;
  const sub = argv[argv.indexOf(running) + 1];
  const typed = command.commands.some((c) => c.name() === sub) ? `${running} ${sub}` : running;
  const names = takers.map((c) => c.name());
  const them = names.length === 1 ? `${names[0]} takes it` : `${names.join(', ')} take it`;
  return `${typed} takes no ${flag} option (${them}): see jcs-errors ${typed} --help\n`;
}

/** `jcs-errors audit verify`: the command as typed, to name its help. */
function commandPath(command: Command): string {
  const names: string[] = [];
  for (let c: Command | null = command; c; c = c.parent) names.unshift(c.name());
  return names.join(' ');
}

/**
 * Commander's "too many arguments for 'audit'. Expected 0 arguments but got 1" as a line that names
 * the command's subcommands, where it has any (`audit verify`). The arguments themselves are not
 * echoed: `erase asmith` (a forgotten --username) would put a name on the screen and in logs.
 */
function tooManyArguments(command: Command): string {
  const expected = command.registeredArguments.length;
  const name = commandPath(command).replace(/^jcs-errors /, '');
  const takes =
    expected === 0
      ? 'takes no arguments'
      : `takes ${expected} argument${expected === 1 ? '' : 's'} (${command.registeredArguments.map((a) => a.name()).join(', ')})`;
  const subs = command.commands.map((c) => `${name} ${c.name()}`);
  const also = subs.length
    ? `; its command${subs.length === 1 ? ' is' : 's are'} ${subs.join(', ')}`
    : '';
  return `${name} ${takes}, but was given ${command.args.length}${also}`;
}

function hasCommand(program: Command, name: string): boolean {
  return program.commands.some((c) => c.name() === name || c.aliases().includes(name));
}

function terminalWidth(environment: Environment): number {
  if (environment.stdoutIsTTY && environment.columns && environment.columns > 0) {
    return environment.columns;
  }
  return validColumns(environment) ?? DEFAULT_WIDTH;
}

/** COLUMNS, where it is set to a usable width. */
function validColumns(environment: Environment): number | undefined {
  const columns = Number(environment.env.COLUMNS);
  return Number.isInteger(columns) && columns >= 20 ? columns : undefined;
}

function stackOf(err: unknown): string {
  const parts: string[] = [];
  let current: unknown = err;
  while (current instanceof Error && parts.length < 4) {
    parts.push(current.stack ?? String(current));
    current = current.cause;
  }
  return parts.join('\ncaused by: ');
}
