import { Command } from 'commander';
import { terminalJson } from '../render/indented-json';
import { UUID_PATTERN, type DumpWithheld, type FullReport } from '@jcs/protocol';
import type { ApiClient } from '../client';
import { NotFoundError, UsageError } from '../errors';
import { absoluteTime, relativeTime } from '../render/relative-time';
import { formatCount, labelled, plural, safeText } from '../render/text';
import { atCollectorTime, jsonText, type Output, type Wiring, hint } from './context';
import { shown } from '../render/text';

/** The options of `jcs-errors report`. */
export interface ReportOptions {
  dump?: boolean;
}

const WITHHELD: Record<DumpWithheld, string> = {
  'user-opt-out': 'the user did not consent to sending data',
  // The SDK also sends this when its offline queue was full and it kept the report, not the data.
  'too-large': 'the data was too large to send, or left out while the app’s offline queue was full',
  unserializable: 'the data could not be serialised',
};

const LABEL_WIDTH = 12;

/**
 * `jcs-errors report ID`: every field of one report, labelled. With `dump`, the collector
 * decrypts the dump of data values, which is printed as indented JSON; that access is logged.
 *
 * @example
 * const text = await report('3f2b8c1e-9a4d-4e6f-8b2a-1c3d5e7f9a0b', { dump: true }, client, output);
 */
export async function report(
  id: string,
  options: ReportOptions,
  client: ApiClient,
  output: Output,
): Promise<string> {
  const reportId = id.trim().toLowerCase();
  // `report "$ID"` with ID unset: the script's mistake, not a report that has gone.
  if (reportId === '') {
    throw new UsageError(
      `ID is empty: give a report id; run ${hint(output, 'reports GROUP')} to list them`,
    );
  }
  // No report has any other id: not found (exit 4), as the contract's codes say, with the form.
  if (!new RegExp(UUID_PATTERN).test(reportId)) {
    throw new NotFoundError(
      `no report "${shown(id)}": a report id is a full UUID such as 3f2b8c1e-9a4d-4e6f-8b2a-1c3d5e7f9a0b; run ${hint(output, 'reports GROUP')} to list them`,
    );
  }
  let answer;
  try {
    answer = await client.getReport(reportId, { dump: options.dump === true });
  } catch (err) {
    if (err instanceof NotFoundError) {
      throw new NotFoundError(
        `no report ${reportId}: it may have expired (reports are kept at most 42 days) or been erased; run ${hint(output, 'reports GROUP')} to list them`,
      );
    }
    throw err;
  }
  if (output.json) return jsonText(answer.body);
  return renderReport(
    answer.data,
    options.dump === true,
    atCollectorTime(output, answer.serverDate),
  );
}

/**
 * The text of `report`.
 *
 * @example
 * renderReport((await client.getReport(id, { dump: true })).data, true, output);
 */
export function renderReport(r: FullReport, dumpAsked: boolean, output: Output): string {
  const { palette, now } = output;
  const none = '(none)';
  const dim = palette.dim;
  const fields: [string, string, ((s: string) => string)?][] = [
    ['Report', r.id],
    ['Group', r.group],
    [
      'Occurred',
      `${absoluteTime(r.occurredAt)} (${relativeTime(r.occurredAt, now)}, client clock)`,
    ],
    ['Received', `${absoluteTime(r.receivedAt)} (${relativeTime(r.receivedAt, now)})`],
    ['App', `${safeText(r.app.name)} ${safeText(r.app.version)}`],
    ['Licence', safeText(r.license)],
    r.username === undefined || r.username === ''
      ? ['Username', none, dim]
      : ['Username', safeText(r.username)],
    ['Error', String(r.error.number)],
    r.error.description === ''
      ? ['Description', none, dim]
      : ['Description', safeText(r.error.description)],
    [
      'Where',
      `${safeText(r.error.module)}.${safeText(r.error.procedure)}, ${r.error.line === 0 ? 'line unknown' : `line ${r.error.line}`}`,
    ],
    r.error.code === undefined || r.error.code === ''
      ? ['Code', none, dim]
      : ['Code', safeText(r.error.code)],
    ['Repeats', formatCount(r.repeats ?? 0)],
  ];

  const hasDump = r.dump !== undefined && r.dump !== null;
  const withheld = r.dumpWithheld
    ? `withheld: ${WITHHELD[r.dumpWithheld] ?? r.dumpWithheld}`
    : undefined;
  if (!dumpAsked) {
    fields.push(
      withheld
        ? ['Dump', withheld]
        : [
            'Dump',
            'not shown: add --dump to decrypt it, if there is one (the access is logged)',
            dim,
          ],
    );
  } else if (!hasDump) {
    // The API answers `"dump": null` for a dump it holds but cannot open (docs/api.md), and
    // leaves the field out when there is none.
    const unreadable =
      r.dump === null
        ? 'stored but cannot be opened: sealed to a key this collector does not hold (see jcs-collector key rotate) or damaged, unless its value is null'
        : undefined;
    // The SDK's report of occurrences its flood control held back never carries one: their data
    // was never read. Said, so an engineer looks for the dump in the group's other reports.
    const repeatsOnly = r.repeats
      ? `none: this report counts ${plural(r.repeats, 'held-back repeat', 'held-back repeats')}, sent without a dump; ${hint(output, `reports ${r.group}`)} lists the group's others`
      : undefined;
    fields.push([
      'Dump',
      withheld ?? unreadable ?? repeatsOnly ?? 'none: the report carries no dump',
    ]);
  }

  const lines = fields.map(([label, value, color]) =>
    labelled(label, value, LABEL_WIDTH, output, color),
  );
  if (dumpAsked && hasDump) {
    lines.push(palette.bold('Dump'));
    // JSON.stringify escapes C0 controls but not C1 ones, which some terminals still obey.
    lines.push(terminalJson(r.dump));
    lines.push('');
    lines.push(palette.yellow('This access to the dump was written to the audit log.'));
  }
  return `${lines.join('\n')}\n`;
}

/**
 * The commander wiring of `report`.
 *
 * @example
 * program.addCommand(makeReportCommand(wiring)); // jcs-errors report <uuid> --dump
 */
export function makeReportCommand(wiring: Wiring): Command {
  return new Command('report')
    .description('one report, every field labelled; --dump decrypts its data values')
    .argument('<id>', 'the full report id, from jcs-errors reports or show')
    .option('--dump', 'decrypt and print the dump (the access is written to the audit log)')
    .action(async (id: string, options: ReportOptions, command: Command) => {
      const { client, output } = wiring.context(command);
      wiring.finish(await report(id, options, client, output));
    });
}
