import type { Command } from 'commander';
import type { ApiClient } from '../client';
import type { ExitCode } from '../errors';
import type { Palette } from '../render/palette';

/** How a command prints: JSON or text, colours, the width to fit, and "now" for relative times. */
export interface Output {
  json: boolean;
  palette: Palette;
  width: number;
  now: Date;
  /**
   * stdout is not a terminal and COLUMNS is not set (a script, a pipe, a file): tables print
   * whole values (full ids, every version) rather than fit `width`.
   */
  piped?: boolean;
}

/**
 * A command's result when it is a finding rather than plain text: `status` when not compliant,
 * `audit verify` when the chain is broken. The text still goes to stdout; `problem` is the one
 * line for stderr.
 */
export interface Outcome {
  text: string;
  exitCode: ExitCode;
  problem?: string;
}

/** What every command function returns: text for stdout, or an {@link Outcome}. */
export type CommandResult = string | Outcome;

/** What the commander wiring of a command needs from the program. */
export interface Wiring {
  /** the client and output, made when the command runs, once the global options are parsed */
  context(command: Command): { client: ApiClient; output: Output };
  /** hands the command's result to the program */
  finish(result: CommandResult): void;
}

/**
 * For `--json`: the API's body unchanged, ending in a newline so shells and jq are happy.
 *
 * @example
 * jsonText('{"ok":true}'); // '{"ok":true}\n'
 */
export function jsonText(body: string): string {
  return body.endsWith('\n') ? body : `${body}\n`;
}
