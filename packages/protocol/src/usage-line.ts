/**
 * A commander error message as the one line both bins print: without commander's `error: `,
 * its "Did you mean" suggestion (which commander puts on a line of its own) on the same line,
 * and no closing full stop, so that the bin can add what to do after a colon.
 *
 * @example
 * usageLine("error: unknown command 'tokn'\n(Did you mean token?)");
 * // "unknown command 'tokn' (did you mean token?)"
 */
export function usageLine(message: string): string {
  return message
    .trim()
    .replace(/^error: /, '')
    .replace(/\s*\n\s*\(Did you mean/, ' (did you mean')
    .replace(/\s*\n\s*/g, ' ')
    .replace(/\.$/, '');
}
