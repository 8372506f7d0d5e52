#!/usr/bin/env node
/**
 * `jcs-report --config FILE`: one shell call that reports an error for a host not written in
 * JavaScript (VB6, .NET). The report is queued in the config's `queueDir`, sent once if the
 * collector answers, and its id printed alone on stdout; what could not be sent goes out on the
 * next run. Exit codes: 0 the report is stored or delivered; 1 it could not even be stored;
 * 2 a usage or configuration error.
 */
import fs from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { isUtf8 } from 'node:buffer';
import { packageVersion } from '@jcs/protocol';
import { createReporterCore } from '../reporter';
import type { ReporterOptions } from '../options';
import { LOST_REPORT_CODES, type Diagnostic } from '../diagnostics';
import { certificateAdvice } from '../certificate-advice';

const USAGE = `usage: jcs-report --config FILE [--number N] [--description TEXT] [--module NAME]
       [--procedure NAME] [--line N] [--code TEXT] [--username NAME] [--data-file FILE]
       [--dump-consent yes|no] [--stdin] [--preview] [--timeout MS] [--verbose]
The report's fields come from the options, or as one JSON object on stdin
({"number":91,"description":"...","module":"...","procedure":"...","line":120,"data":{...}}).
Prints the report id. jcs-report --version prints its version.`;

class UsageError extends Error {}

const FIELD_OPTIONS = ['number', 'description', 'module', 'procedure', 'line', 'code'] as const;

function readJsonFile(file: string, what: string): unknown {
  let bytes: Buffer;
  try {
    bytes = fs.readFileSync(file);
  } catch {
    throw new UsageError(`cannot read the ${what} ${file}`);
  }
  const { text, guessed } = decodeText(bytes);
  if (guessed) {
    process.stderr.write(
      `jcs-report: the ${what} ${file} is not UTF-8: read as Windows-1252 (ANSI); write it as UTF-8 so that every character arrives as it was\n`,
    );
  }
  try {
    return JSON.parse(text.replace(/^\uFEFF/, ''));
  } catch {
    throw new UsageError(`the ${what} ${file} is not valid JSON`);
  }
}

/**
 * A file's text as a Windows host writes it: UTF-8 (with or without a BOM), UTF-16 with its BOM
 * (FileSystemObject's Unicode files, .NET's Encoding.Unicode), else the ANSI code page of
 * Western Windows (VB6's `Print #`), which is `guessed`.
 */
function decodeText(bytes: Buffer): { text: string; guessed?: true } {
  if (bytes[0] === 0xff && bytes[1] === 0xfe) {
    return { text: new TextDecoder('utf-16le').decode(bytes.subarray(2)) };
  }
  if (bytes[0] === 0xfe && bytes[1] === 0xff) {
    return { text: new TextDecoder('utf-16be').decode(bytes.subarray(2)) };
  }
  if (isUtf8(bytes)) return { text: bytes.toString('utf8') };
  let text = '';
  for (const byte of bytes) {
    text += String.fromCharCode(byte >= 0x80 && byte < 0xa0 ? CP1252_80_9F[byte - 0x80] : byte);
  }
  return { text, guessed: true };
}

/**
 * Windows-1252's 0x80-0x9F (€, ‚, ƒ, „, …): Node's TextDecoder reads them as Latin-1's control
 * characters. The rest of the code page is Latin-1. Undefined bytes stay as they are.
 */
const CP1252_80_9F = [
  0x20ac, 0x81, 0x201a, 0x0192, 0x201e, 0x2026, 0x2020, 0x2021, 0x02c6, 0x2030, 0x0160, 0x2039,
  0x0152, 0x8d, 0x017d, 0x8f, 0x90, 0x2018, 0x2019, 0x201c, 0x201d, 0x2022, 0x2013, 0x2014, 0x02dc,
  0x2122, 0x0161, 0x203a, 0x0153, 0x9d, 0x017e, 0x0178,
];

function readStdinJson(note: (message: string) => void): Record<string, unknown> {
  let bytes: Buffer;
  try {
    bytes = fs.readFileSync(0);
  } catch {
    return {};
  }
  // A host writing in its console's code page instead of UTF-8 (a .NET default on Windows).
  if (!isUtf8(bytes)) note('stdin is not UTF-8: characters it could not read became U+FFFD');
  const text = bytes.toString('utf8');
  if (text.trim() === '') return {};
  let parsed: unknown;
  try {
    parsed = JSON.parse(text.replace(/^\uFEFF/, ''));
  } catch {
    throw new UsageError('stdin is not a JSON object');
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    throw new UsageError('stdin is not a JSON object');
  }
  return parsed as Record<string, unknown>;
}

function consentFlag(value: string | undefined): boolean | undefined {
  if (value === undefined) return undefined;
  if (/^(yes|true|1)$/i.test(value)) return true;
  if (/^(no|false|0)$/i.test(value)) return false;
  throw new UsageError('--dump-consent must be yes or no');
}

export async function main(argv: string[]): Promise<number> {
  let args: ReturnType<typeof parse>;
  try {
    args = parse(argv);
  } catch (e) {
    process.stderr.write(`jcs-report: ${parseErrorMessage(e)}\n${USAGE}\n`);
    return 2;
  }
  if (args.values.help) {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  if (args.values.version) {
    // dist/bin/ is two levels below package.json
    process.stdout.write(`${packageVersion(path.join(__dirname, '..'))}\n`);
    return 0;
  }
  const diagnostics: Diagnostic[] = [];
  let reporter: ReturnType<typeof createReporterCore>;
  let input: Record<string, unknown>;
  let preview = false;
  let timeoutMs = 10_000;
  try {
    const v = args.values;
    if (!v.config) throw new UsageError('--config FILE is required');
    const configFile = path.resolve(v.config);
    const config = readJsonFile(configFile, 'config file');
    if (typeof config !== 'object' || config === null || Array.isArray(config)) {
      throw new UsageError(`the config file ${configFile} must hold a JSON object`);
    }
    // Reporting turned off (an administrator, a customer opting out): nothing read, stored or
    // sent, and no id, since none would ever be found on the collector.
    const enabled = (config as { enabled?: unknown }).enabled;
    if (enabled !== undefined && typeof enabled !== 'boolean') {
      throw new UsageError(`"enabled" in the config file must be true or false`);
    }
    if (enabled === false) {
      if (v.verbose) process.stderr.write('jcs-report: reporting is turned off (enabled: false)\n');
      return 0;
    }
    const options = { ...(config as Record<string, unknown>) } as unknown as ReporterOptions;
    if (typeof options.queueDir !== 'string' || options.queueDir === '') {
      throw new UsageError('the config file must set "queueDir": reports wait there until sent');
    }
    options.queueDir = path.resolve(path.dirname(configFile), options.queueDir);
    const consent = consentFlag(v['dump-consent']);
    if (consent !== undefined) options.dumpConsent = consent;

    const fieldsGiven = FIELD_OPTIONS.some((k) => v[k] !== undefined);
    const note = (message: string) => {
      if (v.verbose) process.stderr.write(`jcs-report: ${message}\n`);
    };
    input = v.stdin || !fieldsGiven ? readStdinJson(note) : {};
    for (const k of FIELD_OPTIONS) if (v[k] !== undefined) input[k] = v[k];
    checkWholeNumber('--number', v.number, -2147483648);
    checkWholeNumber('--line', v.line, 0);
    for (const k of ['number', 'line'] as const) {
      if (typeof input[k] === 'string' && (input[k] as string).trim() !== '') {
        input[k] = Number(input[k]);
      }
    }
    // With consent withheld the data is not even read. A data file that cannot be read costs the
    // report its dump, not the report: the error itself is what the engineer needs.
    const dumpConsent = consent ?? options.dumpConsent === true;
    if (v['data-file'] && dumpConsent) {
      try {
        input.data = readJsonFile(path.resolve(v['data-file']), 'data file');
      } catch (e) {
        if (!(e instanceof UsageError)) throw e;
        process.stderr.write(`jcs-report: ${e.message}: the report goes without its dump\n`);
      }
    }
    if (
      input.username !== undefined &&
      input.username !== null &&
      typeof input.username !== 'string'
    ) {
      note('invalid_input: username on stdin is not a string: the report goes without one');
    }
    const username =
      v.username ?? (typeof input.username === 'string' ? input.username : undefined);
    delete input.username;
    if (username !== undefined) options.username = username;
    if (v.timeout !== undefined) {
      timeoutMs = Number(v.timeout);
      if (!Number.isSafeInteger(timeoutMs) || timeoutMs < 0) {
        throw new UsageError('--timeout must be a whole number of milliseconds');
      }
    }
    // The wait is --timeout in all: a request that hangs may not outlast it.
    if (timeoutMs > 0) {
      const own = typeof options.requestTimeoutMs === 'number' ? options.requestTimeoutMs : 10_000;
      options.requestTimeoutMs = Math.max(1, Math.min(own, timeoutMs));
    }
    preview = v.preview === true;
    options.onDiagnostic = (d) => {
      diagnostics.push(d);
      if (v.verbose) process.stderr.write(`jcs-report: ${d.code}: ${d.message}\n`);
    };
    reporter = createReporterCore(options, { autoSend: false });
    // After the config's own checks, which say more. Nothing to report (stdin empty, closed or
    // `{}`): a report of error 0 in (unknown) is nobody's error.
    if (!FIELD_OPTIONS.some((k) => input[k] !== undefined && input[k] !== null)) {
      throw new UsageError(
        'no report fields given: pass --number, --description, --module, --procedure and --line, or one JSON object on stdin',
      );
    }
  } catch (e) {
    if (e instanceof UsageError || e instanceof TypeError) {
      process.stderr.write(`jcs-report: ${e.message.replace(/^createReporter: /, 'config: ')}\n`);
      return 2;
    }
    throw e;
  }

  if (preview) {
    process.stdout.write(`${JSON.stringify(reporter.preview(input), null, 2)}\n`);
    return 0;
  }
  const id = reporter.report(input);
  const notStored = () =>
    diagnostics.some(
      (d) =>
        (d.code === 'queue_write_failed' || d.code === 'queue_unavailable') &&
        (d.reportId === undefined || d.reportId === id),
    );
  // The id is the reference the user is shown: at once when the report is stored, else only
  // once it is delivered (a report that exists nowhere has no reference to quote).
  const storedAtOnce = !notStored();
  if (storedAtOnce) process.stdout.write(`${id}\n`);
  const delivered = await reporter.flush(timeoutMs);
  const waitEnds = reporter.collectorWaitUntil();
  const stillQueued = !delivered && reporter.queueHolds(id);
  await reporter.close(0);
  if (!storedAtOnce && delivered) {
    process.stdout.write(`${id}\n`);
    // Sent, but the offline queue is broken: the next report made while the collector is
    // down would be lost, which the host must hear of without --verbose.
    const broken = diagnostics.find((d) => d.code === 'queue_unavailable');
    if (broken) process.stderr.write(`jcs-report: ${broken.message}\n`);
  }
  const dropped = diagnostics.some(
    (d) =>
      d.reportId === id && (d.code === 'before_send_dropped' || d.code === 'before_send_failed'),
  );
  if (dropped) {
    process.stderr.write('jcs-report: the report was not valid and was dropped; see --verbose\n');
    return 1;
  }
  if (!delivered) {
    if (notStored()) {
      process.stderr.write(
        'jcs-report: the report could not be stored in queueDir nor sent; check the folder and the collector address\n',
      );
      return 1;
    }
    // Diagnostic messages carry no report values: safe to print.
    const lost = diagnostics.find((d) => LOST_REPORT_CODES.has(d.code));
    if (lost) {
      process.stderr.write(`jcs-report: ${lost.message}\n`);
      return 0;
    }
    // Another run sharing the queue may have sent it (this run's flush waits for the whole
    // queue): gone from the folder, and not lost above, it was delivered.
    if (!stillQueued) return 0;
    const busy = diagnostics.some((d) => d.code === 'collector_busy') || waitEnds > Date.now();
    // The last failure's reason (a network or TLS error code, an HTTP status): no report values.
    const failure = diagnostics.filter((d) => d.code === 'send_failed').pop();
    const reason = failure?.reason;
    // A refused certificate (a CA this machine does not know, out of its dates, for another
    // name) fails every run until someone acts: said with what to do, as the library says it.
    const advice = reason === undefined ? undefined : certificateAdvice(reason, 'config');
    process.stderr.write(
      busy
        ? 'jcs-report: the collector asked to wait (429 or 503); the report is queued and goes out on a later run\n'
        : advice
          ? `jcs-report: the collector's TLS certificate was refused (${reason}); the report is queued: ${advice}, and it goes out on the next run\n`
          : reason?.startsWith('HTTP ')
            ? // It answered, but not as a collector takes a report (a 5xx, a wrong endpoint).
              `jcs-report: the report was not taken (${reason}); it is queued and goes out on the next run\n`
            : reason
              ? `jcs-report: the collector could not be reached (${reason}); the report is queued and goes out on the next run\n`
              : // Not tried in time (--timeout 0, a slow start, other reports ahead of it).
                'jcs-report: the report is queued and goes out on the next run\n',
    );
  }
  return 0;
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
function checkWholeNumber(flag: string, value: string | undefined, min: number): void {
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
function parseErrorMessage(e: unknown): string {
  if ((e as { code?: string }).code === 'ERR_PARSE_ARGS_UNEXPECTED_POSITIONAL') {
    return 'an argument is not the value of an option: quote a value with spaces as one argument (--description "Client not found")';
  }
  return (e as Error).message;
}

function parse(argv: string[]) {
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

/**
 * Runs the command on this process's arguments and sets its exit code: what `jcs-report` does
 * (bin/jcs-report.js, the file npm links, calls it).
 *
 * @example
 * require('@jcs/sdk/dist/bin/jcs-report.js').runFromCommandLine();
 */
export function runFromCommandLine(): void {
  // A host that stops reading (it closed our stdout or stderr) must not turn into a crash with a
  // stack trace: the report is stored by then, and the exit code still says so.
  process.stdout.on('error', () => undefined);
  process.stderr.on('error', () => undefined);
  main(process.argv.slice(2)).then(
    (code) => {
      process.exitCode = code;
    },
    (e: unknown) => {
      process.stderr.write(`jcs-report: failed unexpectedly (${(e as Error)?.name ?? 'error'})\n`);
      process.exitCode = 1;
    },
  );
}

if (require.main === module) runFromCommandLine();
