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
   * This machine's clock, read again once the collector has answered (atCollectorTime), so that
   * an age the collector just computed (expire's cut-off, 41 days) is not shown as a moment short
   * ("40d ago"); absent (a test's fixed clock), `now` stands.
   */
  clock?: () => Date;
  /**
   * stdout is not a terminal and COLUMNS is not set (a script, a pipe, a file): tables print
   * whole values (full ids, every version) rather than fit `width`.
   */
  piped?: boolean;
  /**
   * How hints write this program's command line: `jcs-errors`, or with the `--server` given on
   * the command line (`jcs-errors --server https://errors.jcs.example`), so that a hint copied as
   * it stands asks the same collector.
   */
  invocation?: string;
}

/**
 * The command line a hint should show, `rest` after the program and any `--server` it needs.
 *
 * @example
 * hint(output, 'top'); // 'jcs-errors top', or 'jcs-errors --server http://10.0.0.5:8080 top'
 */
export function hint(output: Pick<Output, 'invocation'>, rest: string): string {
  return `${output.invocation ?? 'jcs-errors'} ${rest}`;
}

/**
 * `output` with "now" as the time of the collector's answer: this machine's clock read again, or
 * the collector's clock where this machine's is off by more than a few seconds (the `Date` header
 * has whole seconds only): ages shown ("3h ago") are then the ones the collector's own times make,
 * not ones a wrong local clock invents ("in 9m").
 *
 * @example
 * const answer = await client.listGroups();
 * renderTop(answer.data, {}, atCollectorTime(output, answer.serverDate));
 */
export function atCollectorTime(output: Output, serverDate: Date | undefined): Output {
  const now = output.clock?.() ?? output.now;
  if (!serverDate || Math.abs(now.getTime() - serverDate.getTime()) < 5_000) {
    return now === output.now ? output : { ...output, now };
  }
  return { ...output, now: new Date(serverDate.getTime() + 500) };
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
  /**
   * All of stdin as text (`erase --username-stdin`); the bin reads the real one. Null where
   * stdin is a terminal: a name is given by a pipe or a file, not typed blind.
   */
  stdin(): Promise<string> | null;
}

/** C1 controls, line and paragraph separators, and bidi marks, embeddings, overrides, isolates. */
const TERMINAL_CONTROLS =
  /[\u0080-\u009f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g;

/**
 * For `--json`: the API's body, the same JSON value, ending in a newline so shells and jq are
 * happy.
 *
 * @example
 * jsonText('{"ok":true}'); // '{"ok":true}\n'
 */
export function jsonText(body: string): string {
  // Text from a desktop client can hold C1 controls and bidi overrides, which JSON leaves raw and
  // some terminals obey. Written as \u escapes they mean the same to a JSON parser and nothing to
  // a terminal. (JSON's structure is ASCII, so only string contents change.)
  const safe = body.replace(
    TERMINAL_CONTROLS,
    (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`,
  );
  return safe.endsWith('\n') ? safe : `${safe}\n`;
}
