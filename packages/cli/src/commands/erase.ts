import { Command } from 'commander';
import { LIMITS, codePointLength } from '@jcs/protocol';
import type { ApiClient, DataSubject } from '../client';
import { UsageError } from '../errors';
import { plural, wrapWords } from '../render/text';
import { jsonText, type Output, type Wiring } from './context';

/** The options of `jcs-errors erase`: exactly one of them. */
export interface EraseOptions {
  username?: string;
  license?: string;
  /** read the username from stdin (the bin's wiring does, into `username`) */
  usernameStdin?: boolean;
}

/**
 * How much of stdin is read at most: far more than any name (256 characters of up to 4 bytes),
 * so that a file given by mistake is told as one rather than read whole.
 */
export const MAX_STDIN_BYTES = 64 * 1024;

/**
 * `jcs-errors erase`: GDPR erasure of one data subject (admin): every report with that username,
 * or every report of that licence, is destroyed now.
 *
 * @example
 * await erase({ username: 'asmith' }, client, output); // 'erased 12 reports of the username given: ...'
 */
export async function erase(
  options: EraseOptions,
  client: ApiClient,
  output: Output,
): Promise<string> {
  const subject = dataSubject(options);
  const answer = await client.erase(subject);
  if (output.json) return jsonText(answer.body);
  // Neither the username nor the licence is said back: this line may end in a job's log, and
  // would name the data subject erased there (the access log names them by a keyed hash only).
  const who = 'username' in subject ? 'the username given' : 'the licence given';
  const n = answer.data.erasedReports;
  // Honest about copies: a backup made before holds the reports until their day's key goes.
  const them = n === 1 ? 'it' : 'them';
  const exactly =
    'username' in subject
      ? ' (a username matches only as the app sent it, case and spaces included: try the spellings it may have sent)'
      : subject.license.trim() !== subject.license
        ? ' (it has spaces at either end, and a licence matches only as the app sent it)'
        : '';
  const said =
    n === 0
      ? `no reports of ${who} are stored: nothing to erase${exactly}`
      : `erased ${plural(n, 'report')} of ${who}: no read returns ${them} now (backups made before keep ${them} until the day's key goes, at most 42 days and a few hours after receipt)`;
  return `${wrapWords(said, output.piped ? undefined : output.width)}\n`;
}

const EXACTLY_ONE =
  'erase takes --username U, --username-stdin or --license L, exactly one of them';

function dataSubject(options: EraseOptions): DataSubject {
  const { username, license } = options;
  if ((username === undefined) === (license === undefined)) {
    throw new UsageError(EXACTLY_ONE);
  }
  if (username !== undefined) {
    // An empty name would match every report sent without one: never what erasure means. A name
    // of spaces is a name the app may have sent (the contract allows it): matched as typed.
    if (username === '') throw new UsageError('--username takes a non-empty name');
    checkLength(username, '--username', LIMITS.username.max, 'no report can carry a longer name');
    checkDecoded(username, '--username');
    return { username };
  }
  if (license === undefined || license === '') {
    throw new UsageError('--license takes a non-empty licence number');
  }
  checkLength(license, '--license', LIMITS.license.max, 'no report can carry a longer one');
  checkDecoded(license, '--license');
  return { license };
}

/**
 * The name `--username-stdin` read: one line, its line end dropped. Nothing else is trimmed, as
 * a name is matched exactly as the app sent it.
 */
function usernameFromStdin(text: string): string {
  const name = text.replace(/\r?\n$/, '');
  if (/[\r\n]/.test(name)) {
    throw new UsageError(
      '--username-stdin takes one name on one line, and stdin held more lines: give one name',
    );
  }
  if (name === '') throw new UsageError('--username-stdin read no name: give one on stdin');
  return name;
}

/**
 * Node reads the command line as UTF-8 and turns bytes that are not (a Latin-1 terminal's `ü`)
 * into U+FFFD, so `M\xfcller` arrived as `M\uFFFDller`: erased, it destroyed the reports of a
 * name that holds U+FFFD, and left Müller's. An erasure cannot be undone: refused instead.
 */
function checkDecoded(value: string, flag: string): void {
  if (!value.includes('\uFFFD')) return;
  throw new UsageError(
    `${flag} holds U+FFFD (\uFFFD), which is what a character not typed in UTF-8 becomes: set the terminal to UTF-8 and type it again (a name that really holds U+FFFD is erased with POST /v1/erase)`,
  );
}

/**
 * Over the schema's bound nothing can match: said here, in the option's name, rather than as the
 * collector's "/username must NOT have more than 256 characters". The value is not said back.
 */
function checkLength(value: string, flag: string, max: number, why: string): void {
  const n = codePointLength(value);
  if (n > max) throw new UsageError(`${flag} takes at most ${max} characters (${why}), not ${n}`);
}

/**
 * The commander wiring of `erase`.
 *
 * @example
 * program.addCommand(makeEraseCommand(wiring)); // jcs-errors erase --username asmith
 */
export function makeEraseCommand(wiring: Wiring): Command {
  return new Command('erase')
    .description('GDPR erasure: destroy every report of one user or licence now (admin)')
    .option('--username <name>', "the user's name, as the reports carry it")
    .option(
      '--username-stdin',
      'read the name from stdin instead (one line), so it is not on the command line, which other users of the machine can read',
    )
    .option('--license <number>', 'the licence number, e.g. JCS-000123')
    .action(async (options: EraseOptions, command: Command) => {
      const { client, output } = wiring.context(command);
      if (options.usernameStdin) {
        // Every usage error before stdin is read: on a terminal that read would wait unseen.
        if (options.username !== undefined) {
          throw new UsageError('give --username or --username-stdin, not both');
        }
        if (options.license !== undefined) throw new UsageError(EXACTLY_ONE);
        const reading = wiring.stdin();
        if (!reading) {
          throw new UsageError(
            '--username-stdin reads the name from a pipe or a file, not the terminal: jcs-errors erase --username-stdin < name.txt',
          );
        }
        const read = await reading;
        // Over the bound the bin stops reading: no name is that long.
        if (Buffer.byteLength(read) > MAX_STDIN_BYTES) {
          throw new UsageError('--username-stdin read more than a name: give one name on stdin');
        }
        options = { ...options, username: usernameFromStdin(read) };
      }
      wiring.finish(await erase(options, client, output));
    });
}
