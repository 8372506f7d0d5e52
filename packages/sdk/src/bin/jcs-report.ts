#!/usr/bin/env node
/**
 * `jcs-report --config FILE`: one shell call that reports an error for a host not written in
 * JavaScript (VB6, .NET). The report is queued in the config's `queueDir`, sent once if the
 * collector answers, and its id printed alone on stdout; what could not be sent goes out on the
 * next run. Exit codes: 0 the report is stored or delivered; 1 it could not even be stored;
 * 2 a usage or configuration error.
 */
import path from 'node:path';
import tty from 'node:tty';
import { packageVersion } from '@jcs/protocol';
import { createReporterCore } from '../create-reporter';
import type { ReporterOptions } from '../options';
import { LOST_REPORT_CODES, type Diagnostic } from '../diagnostics';
import { certificateAdvice, tlsHandshakeAdvice } from '../certificate-advice';
import { proxyAdvice } from '../proxy';
import {
  FIELD_OPTIONS,
  USAGE,
  UsageError,
  checkWholeNumber,
  consentFlag,
  parseErrorMessage,
  parseReportArgs,
} from './report-args';
import { readJsonFile, readStdinJson } from './report-input';
import { resetStderr, say, sayWithheld } from './report-stderr';

/** Runs jcs-report with these arguments (no node or script name); resolves to its exit code. */
export async function main(argv: string[]): Promise<number> {
  resetStderr();
  let args: ReturnType<typeof parseReportArgs>;
  try {
    args = parseReportArgs(argv);
  } catch (e) {
    say(`${parseErrorMessage(e)}\n${USAGE}`);
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
  let run: Run | undefined;
  try {
    run = prepare(args.values, diagnostics);
  } catch (e) {
    if (e instanceof UsageError || e instanceof TypeError) {
      say(e.message.replace(/^createReporter: /, 'config: '));
      return 2;
    }
    throw e;
  }

  if (!run) return 0;
  if (run.preview) {
    process.stdout.write(`${JSON.stringify(run.reporter.preview(run.input), null, 2)}\n`);
    return 0;
  }
  const { reporter, input, timeoutMs } = run;
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
  // Counted on a report that carries an error loop's repeats: this call's flush sends it at
  // once where the window allows (as flush() does in one process), else it waits for the
  // window's end: said, as the id is that report's, and the loop is not held up sending.
  if (diagnostics.some((d) => d.code === 'rate_limited' && d.reportId === id)) {
    await reporter.flush(0);
    const held = diagnostics.find((d) => d.code === 'flood_held' && d.reportId === id);
    if (held) {
      // An ended window's carrier this call queued goes now, not with some later call.
      if (reporter.floodReleased() > 0) await reporter.flush(timeoutMs);
      await reporter.close(0);
      if (!run.verbose) say(held.message);
      return 0;
    }
  }
  const delivered = await reporter.flush(timeoutMs);
  const waitEnds = reporter.collectorWaitUntil();
  const stillQueued = !delivered && reporter.queueHolds(id);
  await reporter.close(0);
  if (!storedAtOnce && delivered) {
    process.stdout.write(`${id}\n`);
    // Sent, but the offline queue is broken: the next report made while the collector is
    // down would be lost, which the host must hear of without --verbose.
    const broken = diagnostics.find((d) => d.code === 'queue_unavailable');
    if (broken) say(broken.message);
  }
  const dropped = diagnostics.some(
    (d) =>
      d.reportId === id && (d.code === 'before_send_dropped' || d.code === 'before_send_failed'),
  );
  if (dropped) {
    say('the report was not valid and was dropped; see --verbose');
    return 1;
  }
  if (!delivered) {
    if (notStored()) {
      say(
        'the report could not be stored in queueDir nor sent; check the folder and the collector address',
      );
      return 1;
    }
    // Diagnostic messages carry no report values: safe to print. This report's loss is its
    // last word; another's (a corrupt file met in the queue) is said, and then what became of
    // this one, which a host would otherwise read as lost.
    const lost = diagnostics.filter((d) => LOST_REPORT_CODES.has(d.code));
    const mine = lost.find((d) => d.reportId === id);
    if (mine) {
      say(mine.message);
      return 0;
    }
    if (lost.length > 0) say(lost[0].message);
    // Another run sharing the queue may have sent it (this run's flush waits for the whole
    // queue): gone from the folder, and not lost above, it was delivered.
    if (!stillQueued) return 0;
    const busy = diagnostics.some((d) => d.code === 'collector_busy') || waitEnds > Date.now();
    // The last failure's reason (a network or TLS error code, an HTTP status): no report values.
    const failure = diagnostics.filter((d) => d.code === 'send_failed').pop();
    say(queuedMessage(busy, failure?.reason));
  }
  return 0;
}

/**
 * Why a report is left queued, as stderr says it: the collector asking to wait (`busy`), else the
 * last send's failure `reason`, else that it was not tried in time.
 *
 * @example
 * queuedMessage(false, 'ECONNREFUSED'); // 'the collector could not be reached (ECONNREFUSED); ...'
 */
function queuedMessage(busy: boolean, reason: string | undefined): string {
  if (busy) {
    return 'the collector asked to wait (429 or 503); the report is queued and goes out on a later run';
  }
  // Not tried in time (--timeout 0, a slow start, other reports ahead of it).
  if (!reason) return 'the report is queued and goes out on the next run';
  // A refused certificate (a CA this machine does not know, out of its dates, for another name)
  // fails every run until someone acts: said with what to do, as the library says it.
  const advice = certificateAdvice(reason, 'config');
  if (advice) {
    return `the collector's TLS certificate was refused (${reason}); the report is queued: ${advice}, and it goes out on the next run`;
  }
  const handshake = tlsHandshakeAdvice(reason, 'config');
  if (handshake) {
    return `no TLS handshake with the collector (${reason}); the report is queued: ${handshake}, and it goes out on the next run`;
  }
  const proxy = proxyAdvice(reason);
  if (proxy) {
    return `the proxy refused the connection to the collector (${reason}); the report is queued: ${proxy}, and it goes out on the next run`;
  }
  if (reason.startsWith('HTTP ')) {
    // It answered, but not as a collector takes a report (a 5xx, a wrong endpoint).
    return `the report was not taken (${reason}); it is queued and goes out on the next run`;
  }
  if (reason === 'timed out') {
    // Connected or not, nothing came back within --timeout.
    return 'no answer from the collector in time (timed out); the report is queued and goes out on the next run';
  }
  return `the collector could not be reached (${reason}); the report is queued and goes out on the next run`;
}

/** What one run reports, and how. */
interface Run {
  reporter: ReturnType<typeof createReporterCore>;
  input: Record<string, unknown>;
  preview: boolean;
  timeoutMs: number;
  verbose: boolean;
}

/**
 * Reads the config, stdin and the data file into a reporter and the report's input; undefined
 * when reporting is turned off. Throws a UsageError (exit 2) for what the user must mend.
 */
function prepare(
  v: ReturnType<typeof parseReportArgs>['values'],
  diagnostics: Diagnostic[],
): Run | undefined {
  let timeoutMs = 10_000;
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
    if (v.verbose) say('reporting is turned off (enabled: false)', true);
    return undefined;
  }
  const options = { ...(config as Record<string, unknown>) } as unknown as ReporterOptions;
  if (typeof options.queueDir !== 'string' || options.queueDir === '') {
    throw new UsageError('the config file must set "queueDir": reports wait there until sent');
  }
  // A preview opens no queue (below), so a variable its name needs is not needed either: a
  // consent dialog still shows what would be sent where the queue's variable is missing.
  const preview = v.preview === true;
  if (!preview) {
    options.queueDir = path.resolve(path.dirname(configFile), expandVariables(options.queueDir));
  }
  const consent = consentFlag(v['dump-consent']);
  if (consent !== undefined) options.dumpConsent = consent;

  const fieldsGiven = FIELD_OPTIONS.some((k) => v[k] !== undefined);
  const note = (message: string) => {
    if (v.verbose) say(message, true);
  };
  // Stdin is read when asked (--stdin) or when no field is given, but not, unasked, from a
  // console (a VB6 `Shell` gives the call a hidden one): that read waits for typing no one does
  // (to Ctrl+Z), so the call would hang for good. It is taken as empty: the usage error below.
  const readStdin = v.stdin === true || (!fieldsGiven && !tty.isatty(0));
  const input = readStdin ? readStdinJson() : {};
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
      say(`${e.message}: the report goes without its dump`);
      // So that the report says why it has none (`dumpWithheld: "unserializable"`), as report()
      // says for data it cannot describe: a revoked Proxy is such data, and nothing else.
      const unreadable = Proxy.revocable({}, {});
      unreadable.revoke();
      input.data = unreadable.proxy;
    }
  }
  if (
    input.username !== undefined &&
    input.username !== null &&
    typeof input.username !== 'string'
  ) {
    note('invalid_input: username on stdin is not a string: the report goes without one');
  }
  const username = v.username ?? (typeof input.username === 'string' ? input.username : undefined);
  delete input.username;
  if (username !== undefined) options.username = username;
  if (v.timeout !== undefined) {
    // Number('') is 0, which would only queue: an empty value (a script's unset variable) is
    // refused, as an empty --number is.
    timeoutMs = v.timeout.trim() === '' ? NaN : Number(v.timeout);
    if (!Number.isSafeInteger(timeoutMs) || timeoutMs < 0) {
      throw new UsageError('--timeout must be a whole number of milliseconds');
    }
  }
  // The wait is --timeout in all: a request that hangs may not outlast it.
  if (timeoutMs > 0) {
    const own = typeof options.requestTimeoutMs === 'number' ? options.requestTimeoutMs : 10_000;
    options.requestTimeoutMs = Math.max(1, Math.min(own, timeoutMs));
  }
  options.onDiagnostic = (d) => {
    diagnostics.push(d);
    if (v.verbose) say(`${d.code}: ${d.message}`, true);
  };
  // A preview stores nothing, so it opens no queue: it must not make the folder or its key
  // (the config's queueDir may not be the user's yet, or not be meant for this machine).
  if (preview) delete options.queueDir;
  // Each call is a process: flood control's windows are kept in the queue dir, for all of them.
  const reporter = createReporterCore(options, {
    autoSend: false,
    floodAcrossProcesses: !preview,
  });
  // After the config's own checks, which say more. Nothing to report (stdin empty, closed or
  // `{}`): a report of error 0 in (unknown) is nobody's error.
  if (!FIELD_OPTIONS.some((k) => input[k] !== undefined && input[k] !== null)) {
    throw new UsageError(
      'no report fields given: pass --number, --description, --module, --procedure and --line, or one JSON object on stdin',
    );
  }
  return { reporter, input, preview, timeoutMs, verbose: v.verbose === true };
}

/**
 * The config's `queueDir` with each `%NAME%` replaced by that environment variable, on every
 * platform: the config is installed in the app's folder (Program Files), which a standard user
 * cannot write, so the queue is named per user (`%LOCALAPPDATA%\JCS\queue`). A name is a
 * letter or `_`, then letters, digits, `_` and parentheses (`%ProgramFiles(x86)%`); any other `%`
 * is kept as written. A variable that is not set, or is empty, is a UsageError, rather than a
 * folder literally named `%LOCALAPPDATA%` beside the config.
 *
 * @example
 * expandVariables('%LOCALAPPDATA%\\JCS\\queue'); // 'C:\\Users\\asmith\\AppData\\Local\\JCS\\queue'
 */
function expandVariables(queueDir: string): string {
  return queueDir.replace(/%([A-Za-z_][\w()]*)%/g, (_, name: string) => {
    const value = process.env[name];
    if (!value) {
      throw new UsageError(
        `"queueDir" in the config file names %${name}%, which is not set in this environment`,
      );
    }
    return value;
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
      sayWithheld();
      process.exitCode = code;
    },
    (e: unknown) => {
      say(`failed unexpectedly (${(e as Error)?.name ?? 'error'})`);
      sayWithheld();
      process.exitCode = 1;
    },
  );
}

if (require.main === module) runFromCommandLine();
