import * as fs from 'node:fs';
import { EXIT } from '@jcs/protocol';

/** Where a command writes: injectable so commands are plain functions that tests can call. */
export interface Output {
  out(line: string): void;
  err(line: string): void;
  /**
   * Resolves once what `out` wrote so far has gone, with the error that stopped it (a full
   * disk, a closed pipe) or undefined: for output that must not be lost unseen (a new token).
   */
  written?(): Promise<NodeJS.ErrnoException | undefined>;
  /** Whether `out` goes to /dev/null (where Node puts a stdout that was closed at start). */
  goesNowhere?(): boolean;
}

let lastOut: Promise<NodeJS.ErrnoException | undefined> = Promise.resolve(undefined);

export const stdio: Output = {
  out: (line) => {
    lastOut = new Promise((resolve) =>
      process.stdout.write(line + '\n', (err) => resolve(err ?? undefined)),
    );
  },
  err: (line) => process.stderr.write(line + '\n'),
  written: () => lastOut,
  goesNowhere: () => {
    try {
      const out = fs.fstatSync(1);
      const nowhere = fs.statSync('/dev/null');
      return out.isCharacterDevice() && out.rdev === nowhere.rdev;
    } catch {
      return false; // no /dev/null (Windows), or no stdout to ask about: written() still tells
    }
  },
};

/** Exit codes shared with jcs-errors (contract section 5). */
export { EXIT };

/** A failure with the exit code and the one line to print. */
export class CommandError extends Error {
  constructor(
    message: string,
    readonly exitCode: number = EXIT.failed,
  ) {
    super(message);
  }
}

/**
 * Rows as a plain table, columns two spaces apart, the first row its header.
 *
 * @example
 * printTable([['NAME', 'ROLE'], ['alice', 'engineer']], stdio); // NAME   ROLE / alice  engineer
 */
export function printTable(rows: string[][], out: Output): void {
  const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => r[i].length)));
  for (const r of rows) {
    out.out(
      r
        .map((cell, i) => cell.padEnd(widths[i]))
        .join('  ')
        .trimEnd(),
    );
  }
}
