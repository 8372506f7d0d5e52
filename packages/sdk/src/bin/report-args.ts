import { parseArgs } from 'node:util';

/**
 * jcs-report's command line: its options, how they are read, and the checks on them that need
 * no config. A UsageError is exit 2.
 */
export const USAGE = `usage: jcs-report --config FILE [--number N] [--description TEXT] [--module NAME]
       [--procedure NAME] [--line N] [--code TEXT] [--username NAME] [--data-file FILE]
       [--dump-consent yes|no] [--stdin] [--preview] [--timeout MS] [--verbose]
The report's fields come from the options, or as one JSON object on stdin
({"number":91,"description":"...","module":"...","procedure":"...","line":120,"data":{...}}).
Prints the report id. jcs-report --version prints its version.`;

export class UsageError extends Error {}

/** The options that give a report's fields (else they come as JSON on stdin). */
export const FIELD_OPTIONS = [
  'number',
  'description',
  'module',
  'procedure',
  'line',
  'code',
] as const;

/**
 * `--dump-consent yes|no`, and true|false or 1|0 in any case, as VB6's `CStr(True)` and .NET's
 * `bool.ToString()` write it; undefined when not given.
 */
export function consentFlag(value: string | undefined): boolean | undefined {
  if (value === undefined) return undefined;
  if (/^(yes|true|1)$/i.test(value)) return true;
  if (/^(no|false|0)$/i.test(value)) return false;
  throw new UsageError('--dump-consent must be yes or no (true or false, 1 or 0, are taken too)');
}

/** Free text: its value is taken whatever it starts with (an `Err.Description` of `--x`). */
const TEXT_OPTIONS = new Set(['--description', '--code', '--username']);

const STRING_OPTIONS = new Set([
  '--config',
  '--number',
  '--description',
  '--module',
  '--procedure',
  '--line',
  '--code',
  '--username',
  '--data-file',
  '--dump-consent',
  '--timeout',
]);

/**
 * A number given on the command line is taken as written or refused (exit 2): the SDK would mend
 * `--number x` to 0 and send a report of error 0, which is nobody's error.
 */
export function checkWholeNumber(flag: string, value: string | undefined, min: number): void {
  if (value === undefined) return;
  const n = Number(value);
  if (/^\s*-?\d+\s*$/.test(value) && n >= min && n <= 2147483647) return;
  throw new UsageError(
    `${flag} takes a whole number from ${min} to 2147483647, not ${JSON.stringify(value)}`,
  );
}

/**
 * VB error numbers are often negative (`vbObjectError + n`), and parseArgs takes `-2147221504`
 * for an option: join such a value to its option so `--number -2147221504` works as written.
 */
function joinDashValues(argv: string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const next = argv[i + 1];
    const dashed = next !== undefined && (TEXT_OPTIONS.has(argv[i]) ? /^-/ : /^-(?!-)/).test(next);
    if (STRING_OPTIONS.has(argv[i]) && dashed) {
      out.push(`${argv[i]}=${next}`);
      i++;
    } else out.push(argv[i]);
  }
  return out;
}

/**
 * parseArgs's message, but never a stray argument's text: an unquoted `--description Client
 * Smith failed` leaves words of the report over, and the host may log what jcs-report prints.
 */
export function parseErrorMessage(e: unknown): string {
  if ((e as { code?: string }).code === 'ERR_PARSE_ARGS_UNEXPECTED_POSITIONAL') {
    return 'an argument is not the value of an option: quote a value with spaces as one argument (--description "Client not found")';
  }
  return (e as Error).message;
}

/** The options, or a parseArgs error (see parseErrorMessage). */
export function parseReportArgs(argv: string[]) {
  return parseArgs({
    args: joinDashValues(argv),
    strict: true,
    allowPositionals: false,
    options: {
      config: { type: 'string' },
      number: { type: 'string' },
      description: { type: 'string' },
      module: { type: 'string' },
      procedure: { type: 'string' },
      line: { type: 'string' },
      code: { type: 'string' },
      username: { type: 'string' },
      'data-file': { type: 'string' },
      'dump-consent': { type: 'string' },
      stdin: { type: 'boolean' },
      preview: { type: 'boolean' },
      timeout: { type: 'string' },
      verbose: { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
      version: { type: 'boolean', short: 'V' },
    },
  });
}
