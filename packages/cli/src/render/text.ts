import stringWidth from 'string-width';

// C0 and C1 controls (escape sequences start with them), and every format character (Unicode's
// Cf: the bidirectional overrides and marks that make text read differently from what it is, the
// zero-width spaces and joiners, the byte-order mark, the soft hyphen, tag characters) and the
// line and paragraph separators: invisible, they made two different names look the same, and
// tables count them a column wide where terminals draw nothing. Matching them is the point,
// hence the lint pragmas.
// eslint-disable-next-line no-control-regex
const CONTROLS = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f\p{Cf}\u2028\u2029]/gu;
// eslint-disable-next-line no-control-regex
const ANY_CONTROL = /[\u0000-\u001f\u007f-\u009f\p{Cf}\u2028\u2029]+/gu;

const HAS_CONTROL = new RegExp(ANY_CONTROL.source, 'u');

/**
 * Whether text holds a control or format character that {@link safeText} would replace (tabs and
 * line breaks included).
 *
 * @example
 * hasControls('5.2\u001b]0;x'); // true
 */
export function hasControls(text: string): boolean {
  return HAS_CONTROL.test(text);
}

/**
 * Report fields come from any desktop that holds an ingest token, so before they reach the
 * engineer's terminal every control character is replaced: an escape sequence in a description
 * must not be able to move the cursor or rewrite the screen. Keeps line breaks and tabs.
 *
 * @example
 * safeText('bad\u001b[2Jthing'); // 'bad\uFFFD[2Jthing'
 */
export function safeText(text: string): string {
  return text.replace(/\r\n?/g, '\n').replace(CONTROLS, replaceControl);
}

/**
 * U+FFFD for a match of the controls, but for a zero-width joiner or non-joiner between two
 * characters beyond ASCII: Persian writes ZWNJ inside words, and emoji sequences (👩‍💻) are
 * joined by ZWJ. Between ASCII letters, where a name could hide one, it is replaced.
 */
function replaceControl(match: string, offset: number, whole: string): string {
  const joiner = match === '\u200c' || match === '\u200d';
  if (joiner && beyondAscii(whole[offset - 1]) && beyondAscii(whole[offset + 1])) return match;
  return '\uFFFD';
}

function beyondAscii(c: string | undefined): boolean {
  return c !== undefined && c > '\u007f' && !/[\s\p{Cf}\u0080-\u009f]/u.test(c);
}

/**
 * {@link safeText} for one table cell: line breaks and tabs become single spaces.
 *
 * @example
 * oneLine('Object variable\r\nnot set'); // 'Object variable not set'
 */
export function oneLine(text: string, trim = true): string {
  const line = text.replace(/[\r\n\t]+/g, ' ').replace(ANY_CONTROL, replaceControl);
  return trim ? line.trim() : line;
}

/**
 * The line without its trailing spaces. Not `/ +$/`: on a line with a long run of spaces inside
 * (a piped table's column as wide as a group's 10,000 versions), that regex tries the run from
 * each of its spaces, and took 32 s of a `top` that printed one group.
 *
 * @example
 * trimSpaces('id  count   '); // 'id  count'
 */
export function trimSpaces(line: string): string {
  let end = line.length;
  while (end > 0 && line.charCodeAt(end - 1) === 32) end--;
  return line.slice(0, end);
}

/** A JCS token (`jcs_adm_...`): never echoed in a message, where it would reach logs and mail. */
const TOKEN = /\bjcs_(adm|eng|ing)_[A-Za-z0-9_-]+/g;
const SHOWN_MAX = 60;

/**
 * What the user typed, fit to quote back in a one-line message: controls replaced, a token
 * masked (one passed by mistake as an id must not land in cron mail), long input cut. `trim`
 * false keeps spaces at either end, for a value matched exactly (a licence to erase).
 *
 * @example
 * shown('jcs_adm_tGMkKLJ54tioD70huDcf'); // 'jcs_adm_…'
 */
export function shown(text: string, trim = true): string {
  const safe = [...oneLine(text, trim).replace(TOKEN, 'jcs_$1_\u2026')];
  // Cut between characters, not inside a surrogate pair: half an emoji would print as U+FFFD,
  // which here means a control character replaced.
  return safe.length > SHOWN_MAX ? `${safe.slice(0, SHOWN_MAX - 1).join('')}\u2026` : safe.join('');
}

/**
 * A count with thousands separators.
 *
 * @example
 * formatCount(12345); // '12,345'
 */
export function formatCount(n: number): string {
  return n.toLocaleString('en-US');
}

/**
 * The plural of a noun after a count.
 *
 * @example
 * plural(1, 'report'); // '1 report'
 * plural(3, 'licence'); // '3 licences'
 */
export function plural(n: number, noun: string, nouns = `${noun}s`): string {
  return `${formatCount(n)} ${n === 1 ? noun : nouns}`;
}

/**
 * The end of a list's summary line when the page came back full: a full page may be all there
 * is, so it says "may"; at the route's largest limit there is no bigger page to ask for.
 *
 * @example
 * moreHint(20, 20, 40, 500); // '; there may be more: --limit 40'
 * moreHint(500, 500, 500, 500, 'narrow it with --since'); // '; 500 is the most one request lists: narrow it with --since'
 */
export function moreHint(
  shown: number,
  limit: number,
  next: number,
  max: number,
  narrow?: string,
): string {
  if (shown < limit) return '';
  if (limit < max) return `; there may be more: --limit ${Math.min(next, max)}`;
  return `; ${max} is the most one request lists${narrow ? `: ${narrow}` : ''}`;
}

/**
 * A sentence for a terminal `width` columns wide, broken between words onto as many lines as it
 * needs (a word longer than the width keeps its own line). Piped output passes no width and gets
 * the sentence whole, one line for grep.
 *
 * @example
 * wrapWords('20 groups since 2026-11-25 10:30 UTC, most occurrences first', 30);
 * // '20 groups since 2026-11-25\n10:30 UTC, most occurrences\nfirst'
 */
export function wrapWords(text: string, width?: number): string {
  if (width === undefined || stringWidth(text) <= width) return text;
  const lines: string[] = [];
  let line = '';
  // Words with the spaces before them, so a double space inside a line stays double.
  for (const [, spaces, word] of text.matchAll(/( *)([^ ]+)/g)) {
    if (line !== '' && stringWidth(line) + spaces.length + stringWidth(word) > width) {
      lines.push(line);
      line = word;
    } else {
      line = line === '' ? word : `${line}${spaces}${word}`;
    }
  }
  lines.push(line);
  return lines.join('\n');
}

/**
 * A value under a label, `Label       value`, its lines (a description or a line of code may hold
 * several) wrapped between words to what the terminal leaves beside the label, each line under
 * the first and indented as it was (a wrapped line's rest two columns further), and coloured
 * line by line; piped, whole lines for grep.
 *
 * @example
 * labelled('Description', 'Object variable not set', 12, output);
 * // 'Description Object variable not set'
 */
export function labelled(
  label: string,
  value: string,
  labelWidth: number,
  output: { width: number; piped?: boolean; palette: { bold(s: string): string } },
  color: (s: string) => string = (s) => s,
): string {
  const room = output.piped ? undefined : Math.max(20, output.width - labelWidth);
  const lines = value.split('\n').flatMap((line) => {
    const indent = /^ */.exec(line)![0];
    if (room === undefined || stringWidth(line) <= room) return [line];
    // Continued two columns further in, so that a wrapped line does not read as the next one.
    return wrapWords(line.slice(indent.length), Math.max(10, room - indent.length - 2))
      .split('\n')
      .map((part, i) => `${indent}${i === 0 ? '' : '  '}${part}`);
  });
  const pad = ' '.repeat(labelWidth);
  return lines
    .map(
      (line, i) => `${i === 0 ? output.palette.bold(label.padEnd(labelWidth)) : pad}${color(line)}`,
    )
    .join('\n');
}

/**
 * A footer line under a table: wrapped to the terminal (not when piped) and dimmed line by line,
 * so a terminal that resets attributes at a line's end keeps the whole of it dim.
 *
 * @example
 * footer('3 reports of group 3fa9c1d2e4b7, newest first', output); // dimmed, fitted to output.width
 */
export function footer(
  text: string,
  output: { width: number; piped?: boolean; palette: { dim(s: string): string } },
): string {
  return wrapWords(text, output.piped ? undefined : output.width)
    .split('\n')
    .map((line) => output.palette.dim(line))
    .join('\n');
}
