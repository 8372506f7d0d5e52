import { Command } from 'commander';
import type { ApiClient } from '../client';
import { aboutGroup, resolveGroup } from '../group-ref';
import { checkLimit } from '../options';
import { footer, moreHint, plural } from '../render/text';
import { atCollectorTime, jsonText, type Output, type Wiring, hint } from './context';
import { GONE_WHY, reportTable } from './show';

/** The options of `jcs-errors reports`. */
export interface ReportsOptions {
  limit?: string;
}

const MAX_LIMIT = 500;
const DEFAULT_LIMIT = 20;

/**
 * `jcs-errors reports GROUP`: the group's reports, newest first, with the full ids that
 * `jcs-errors report` takes.
 *
 * @example
 * const text = await reports('3fa9', { limit: '50' }, client, output);
 */
export async function reports(
  group: string,
  options: ReportsOptions,
  client: ApiClient,
  output: Output,
): Promise<string> {
  const limit = options.limit === undefined ? undefined : checkLimit(options.limit, MAX_LIMIT);
  const { id } = await resolveGroup(client, group);
  const answer = await aboutGroup(
    group,
    () => client.listReports(id, { limit }),
    client.invocation,
  );
  if (output.json) return jsonText(answer.body);

  const list = answer.data.reports;
  if (list.length === 0) {
    return `no reports of group ${id} are kept: ${GONE_WHY}\n`;
  }
  const more = moreHint(list.length, limit ?? DEFAULT_LIMIT, MAX_LIMIT, MAX_LIMIT);
  return [
    reportTable(list, atCollectorTime(output, answer.serverDate)),
    '',
    footer(`${plural(list.length, 'report')} of group ${id}, newest first${more}`, output),
    footer(`${hint(output, 'report ID')} for one, with --dump for its data`, output),
    '',
  ].join('\n');
}

/**
 * The commander wiring of `reports`.
 *
 * @example
 * program.addCommand(makeReportsCommand(wiring)); // jcs-errors reports 3fa9c1 --limit 50
 */
export function makeReportsCommand(wiring: Wiring): Command {
  return new Command('reports')
    .description("a group's reports, newest first, with their full ids")
    .argument('<group>', 'the group id, or any unique prefix of it')
    .option('--limit <n>', `at most this many reports, 1-${MAX_LIMIT} (default: ${DEFAULT_LIMIT})`)
    .action(async (group: string, options: ReportsOptions, command: Command) => {
      const { client, output } = wiring.context(command);
      wiring.finish(await reports(group, options, client, output));
    });
}
