/** Where a command writes: injectable so commands are plain functions that tests can call. */
export interface Output {
  out(line: string): void;
  err(line: string): void;
}

export const stdio: Output = {
  out: (line) => process.stdout.write(line + '\n'),
  err: (line) => process.stderr.write(line + '\n'),
};

/** Exit codes shared with jcs-errors (contract section 5). */
export const EXIT = { ok: 0, failed: 1, usage: 2, unauthorised: 3, notFound: 4 } as const;

/** A failure with the exit code and the one line to print. */
export class CommandError extends Error {
  constructor(
    message: string,
    readonly exitCode: number = EXIT.failed,
  ) {
    super(message);
  }
}
