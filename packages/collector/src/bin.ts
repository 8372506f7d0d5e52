#!/usr/bin/env node
// First: holds SIGHUP, SIGTERM and SIGINT while the rest loads (early-signals.ts says why).
import './early-signals';
import { CommanderError } from 'commander';
import { helpRequest } from '@jcs/protocol';
import { makeProgram, missingCommand } from './program';
import { CommandError, EXIT, stdio } from './commands/output';
import { systemFailure } from './commands/system-failure';

/**
 * stdout's first failure. A closed pipe (`token list | head -1`) is the reader's choice; any
 * other (a full disk) fails the command once it is done, in one line, without a stack trace.
 */
let outputError: NodeJS.ErrnoException | undefined;
process.stdout.on('error', (err: NodeJS.ErrnoException) => {
  outputError ??= err;
});

// stderr going nowhere (`2>&1 | true`) cannot be told anywhere; the exit code still tells.
process.stderr.on('error', () => undefined);

function afterOutput(code: number): number {
  if (!outputError || outputError.code === 'EPIPE' || code !== EXIT.ok) return code;
  stdio.err(
    `jcs-collector: cannot write the output (${outputError.code ?? outputError.message}): check where stdout goes (a full disk?) and run again`,
  );
  return EXIT.failed;
}

/** The only place that exits: commands return or throw, and the exit code follows from that. */
async function main(): Promise<number> {
  // Database, WAL and key files are for this user alone.
  process.umask(0o077);
  const program = makeProgram(stdio);
  const asked = helpRequest(program, process.argv.slice(2));
  if ('unknown' in asked) {
    stdio.err(`jcs-collector: unknown command '${asked.unknown}': see ${asked.see} --help`);
    return EXIT.usage;
  }
  try {
    await program.parseAsync(asked.args, { from: 'user' });
    return EXIT.ok;
  } catch (e) {
    // `help serve` shows the help that was asked for (exit code 0); a missing command shows it
    // as an error (1), which is a usage error here.
    if (e instanceof CommanderError && e.code === 'commander.help' && e.exitCode !== 0) {
      stdio.err(`jcs-collector: ${missingCommand(program, process.argv.slice(2))}`);
      return EXIT.usage;
    }
    if (e instanceof CommanderError) {
      // help and version are not failures; commander already printed the reason otherwise
      return e.code === 'commander.helpDisplayed' ||
        e.code === 'commander.version' ||
        e.exitCode === 0
        ? EXIT.ok
        : EXIT.usage;
    }
    if (e instanceof CommandError) {
      stdio.err(`jcs-collector: ${e.message}`);
      return e.exitCode;
    }
    const machine = systemFailure(e);
    if (machine) {
      stdio.err(`jcs-collector: ${machine}`);
      return EXIT.failed;
    }
    stdio.err(
      `jcs-collector: unexpected failure: ${(e as Error)?.message ?? e}: run again with JCS_DEBUG=1 and report what it prints`,
    );
    if (process.env.JCS_DEBUG) stdio.err(String((e as Error)?.stack));
    return EXIT.failed;
  }
}

void main().then(async (result) => {
  await stdio.written?.();
  const code = afterOutput(result);
  process.exitCode = code;
  // Exit once output is flushed; a lingering handle must not keep a finished command alive.
  setImmediate(() => process.exit(code)).unref();
});
