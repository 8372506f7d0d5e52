#!/usr/bin/env node
import * as os from 'node:os';
import { run } from './program';

/**
 * stdout could not take the output. A closed pipe (`jcs-errors top | head`) is the reader's
 * choice, not a failure; anything else (a full disk behind `> groups.json`) is: a script must
 * not take a missing or cut-off file for success.
 */
let failing = false;
function outputFailed(err: NodeJS.ErrnoException, exitCode: number): void {
  if (failing) return; // the write's callback and the stream's 'error' both tell
  failing = true;
  if (err.code === 'EPIPE') process.exit(exitCode);
  process.stderr.write(
    `cannot write the output (${err.code ?? err.message}): check where stdout goes (a full disk?) and run again\n`,
    () => process.exit(1),
  );
}

let exitCode = 0;
process.stdout.on('error', (err: NodeJS.ErrnoException) => outputFailed(err, exitCode));

run(process.argv.slice(2), {
  env: process.env,
  homeDir: os.homedir(),
  stdoutIsTTY: process.stdout.isTTY === true,
  columns: process.stdout.columns,
}).then(
  (result) => {
    exitCode = result.exitCode;
    // Exit only once both streams have flushed: pipes may still be writing when exit is called.
    process.stderr.write(result.stderr, () => {
      process.stdout.write(result.stdout, (err) => {
        if (err) outputFailed(err, exitCode);
        else process.exit(exitCode);
      });
    });
  },
  (err: unknown) => {
    // run() catches everything it knows; this is a bug in the CLI itself.
    process.stderr.write(
      `jcs-errors crashed: ${String(err)}: run again with DEBUG=1 and report it\n`,
    );
    if (process.env.DEBUG) process.stderr.write(`${(err as Error)?.stack ?? ''}\n`);
    process.exit(1);
  },
);
