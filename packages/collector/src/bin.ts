#!/usr/bin/env node
import { CommanderError } from 'commander';
import { makeProgram, missingCommand } from './program';
import { CommandError, EXIT, stdio } from './commands/output';

/** The only place that exits: commands return or throw, and the exit code follows from that. */
async function main(): Promise<number> {
  // Database, WAL and key files are for this user alone.
  process.umask(0o077);
  const program = makeProgram(stdio);
  try {
    await program.parseAsync(process.argv);
    return EXIT.ok;
  } catch (e) {
    if (e instanceof CommanderError && e.code === 'commander.help') {
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
    stdio.err(
      `jcs-collector: unexpected failure: ${(e as Error)?.message ?? e}: run again with DEBUG=1 and report what it prints`,
    );
    if (process.env.DEBUG) stdio.err(String((e as Error)?.stack));
    return EXIT.failed;
  }
}

void main().then((code) => {
  process.exitCode = code;
  // Exit once output is flushed; a lingering handle must not keep a finished command alive.
  setImmediate(() => process.exit(code)).unref();
});
