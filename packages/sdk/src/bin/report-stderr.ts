/**
 * jcs-report's stderr, bounded per call. Node writes to a pipe synchronously on Windows, and a
 * pipe there holds some 4 KiB: a host that reads stderr only after stdout's end (the README's VB6
 * example), or never, would otherwise hold the call for good once `--verbose` wrote more, with
 * the queue's claims held. So a call writes at most STDERR_BUDGET bytes of lines, the diagnostics
 * `--verbose` adds at most VERBOSE_BUDGET of them (what the call itself has to say keeps room),
 * and a last line counts those left out.
 */
export const STDERR_BUDGET = 3 * 1024;
const VERBOSE_BUDGET = 2 * 1024;

let written = 0;
let withheld = 0;

/** A new call: nothing written yet. */
export function resetStderr(): void {
  written = 0;
  withheld = 0;
}

/**
 * Writes `jcs-report: <text>` as a line to stderr, or counts it as left out when it would take
 * the call past its budget (`verbose`: a diagnostic --verbose asked for).
 *
 * @example
 * say('the report is queued and goes out on the next run');
 */
export function say(text: string, verbose = false): void {
  const line = `jcs-report: ${text}\n`;
  const bytes = Buffer.byteLength(line);
  if (written + bytes > (verbose ? VERBOSE_BUDGET : STDERR_BUDGET)) {
    withheld++;
    return;
  }
  written += bytes;
  process.stderr.write(line);
}

/** At the call's end: how many lines were left out, if any (a line of under 100 bytes). */
export function sayWithheld(): void {
  if (withheld === 0) return;
  process.stderr.write(
    `jcs-report: ... ${withheld} more line${withheld === 1 ? '' : 's'} not shown (stderr is cut at ${STDERR_BUDGET / 1024} KiB a call)\n`,
  );
  withheld = 0;
}
