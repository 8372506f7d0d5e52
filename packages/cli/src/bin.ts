#!/usr/bin/env node
import * as os from 'node:os';
import { run } from './program';

// `jcs-errors top | head` closes the pipe early; that is the reader's choice, not a failure.
process.stdout.on('error', (err: NodeJS.ErrnoException) => {
  if (err.code === 'EPIPE') process.exit(0);
  throw err;
});

run(process.argv.slice(2), {
  env: process.env,
  homeDir: os.homedir(),
  stdoutIsTTY: process.stdout.isTTY === true,
  columns: process.stdout.columns,
}).then(
  ({ stdout, stderr, exitCode }) => {
    // Exit only once both streams have flushed: pipes may still be writing when exit is called.
    process.stderr.write(stderr, () => {
      process.stdout.write(stdout, () => process.exit(exitCode));
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
