#!/usr/bin/env node
import * as os from 'node:os';
import { run } from './program';
import { MAX_STDIN_BYTES } from './commands/erase';

/**
 * stdout could not take the output: a full disk behind `> groups.json` fails the command, as a
 * script must not take a missing or cut-off file for success. (A closed pipe, `jcs-errors top |
 * head`, is the reader's choice, not a failure: it does not come here.)
 */
let failing = false;
function outputFailed(err: NodeJS.ErrnoException): void {
  if (failing) return; // the write's callback and the stream's 'error' both tell
  failing = true;
  process.stderr.write(
    `cannot write the output (${err.code ?? err.message}): check where stdout goes (a full disk?) and run again\n`,
    () => process.exit(1),
  );
}

// A closed pipe is handled where the output is written (what goes to stderr still goes).
process.stdout.on('error', (err: NodeJS.ErrnoException) => {
  if (err.code !== 'EPIPE') outputFailed(err);
});

// stderr going nowhere (`2>&1 | true`) cannot be told anywhere; the exit code still tells.
process.stderr.on('error', () => undefined);

/** All of stdin, for `erase --username-stdin`; more than a name could be is not read on. */
async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of process.stdin as AsyncIterable<Buffer>) {
    chunks.push(chunk);
    size += chunk.length;
    if (size > MAX_STDIN_BYTES) break;
  }
  return Buffer.concat(chunks).toString('utf8');
}

run(process.argv.slice(2), {
  env: process.env,
  readStdin,
  stdinIsTTY: process.stdin.isTTY === true,
  homeDir: os.homedir(),
  stdoutIsTTY: process.stdout.isTTY === true,
  columns: process.stdout.columns,
}).then(
  (result) => {
    // The output, then what went wrong or what to do about it (status's reasons, say), as a
    // terminal shows them in that order. Exit only once both streams have flushed: pipes may
    // still be writing when exit is called.
    process.stdout.write(result.stdout, (err) => {
      const code = (err as NodeJS.ErrnoException | null | undefined)?.code;
      if (err && code !== 'EPIPE') return outputFailed(err);
      process.stderr.write(result.stderr, () => process.exit(result.exitCode));
    });
  },
  (err: unknown) => {
    // run() catches everything it knows; this is a bug in the CLI itself.
    process.stderr.write(
      `jcs-errors crashed: ${String(err)}: run again with JCS_DEBUG=1 and report it\n`,
    );
    if (process.env.JCS_DEBUG) process.stderr.write(`${(err as Error)?.stack ?? ''}\n`);
    process.exit(1);
  },
);
