import { Command } from 'commander';
import type { Group } from '@jcs/protocol';
import type { ApiClient, TriageChange } from '../client';
import { aboutGroup, resolveGroup } from '../group-ref';
import { checkVersion } from '../options';
import { where } from '../render/group-format';
import { wrapWords } from '../render/text';
import { jsonText, type Output, type Wiring, hint } from './context';

/** The options of `jcs-errors resolve`. */
export interface ResolveOptions {
  inVersion?: string;
}

/**
 * `jcs-errors resolve GROUP`: marks the group fixed. With `inVersion`, only reports from that
 * version or later reopen it (as a regression); without, any new report does.
 *
 * @example
 * await resolve('3fa9', { inVersion: '5.3' }, client, output);
 * // 'resolved 3fa9c1d2e4b7 (91 modClients.LoadClient) in 5.3: a report from 5.3 or later reopens it'
 */
export async function resolve(
  group: string,
  options: ResolveOptions,
  client: ApiClient,
  output: Output,
): Promise<string> {
  const version =
    options.inVersion === undefined ? undefined : checkVersion(options.inVersion, '--in-version');
  const change: TriageChange = { status: 'resolved' };
  if (version !== undefined) change.resolvedInVersion = version;
  return triage(group, change, client, output, (g) =>
    version === undefined
      ? `resolved ${label(g)}: any new report reopens it`
      : `resolved ${label(g)} in ${version}: a report from ${version} or later reopens it`,
  );
}

/**
 * `jcs-errors ignore GROUP`: keeps counting the group but hides it from the default `top`.
 *
 * @example
 * await ignore('3fa9', client, output);
 */
export async function ignore(group: string, client: ApiClient, output: Output): Promise<string> {
  return triage(
    group,
    { status: 'ignored' },
    client,
    output,
    (g) => `ignored ${label(g)}: still counted, listed by ${hint(output, 'top --status ignored')}`,
  );
}

/**
 * `jcs-errors reopen GROUP`: back to unresolved, as if it had never been resolved or ignored.
 *
 * @example
 * await reopen('3fa9', client, output);
 */
export async function reopen(group: string, client: ApiClient, output: Output): Promise<string> {
  return triage(
    group,
    { status: 'unresolved' },
    client,
    output,
    (g) => `reopened ${label(g)}: unresolved, listed by ${hint(output, 'top')}`,
  );
}

async function triage(
  group: string,
  change: TriageChange,
  client: ApiClient,
  output: Output,
  confirm: (group: Group) => string,
): Promise<string> {
  const { id } = await resolveGroup(client, group);
  const answer = await aboutGroup(
    group,
    () => client.setGroupStatus(id, change),
    client.invocation,
  );
  if (output.json) return jsonText(answer.body);
  return `${wrapWords(confirm(answer.data), output.piped ? undefined : output.width)}\n`;
}

function label(group: Group): string {
  return `${group.id} (${group.number} ${where(group)})`;
}

/**
 * The commander wiring of `resolve`.
 *
 * @example
 * program.addCommand(makeResolveCommand(wiring)); // jcs-errors resolve 3fa9c1 --in-version 5.3
 */
export function makeResolveCommand(wiring: Wiring): Command {
  return new Command('resolve')
    .description('mark a group fixed; a later report reopens it as a regression')
    .argument('<group>', 'the group id, or any unique prefix of it')
    .option('--in-version <version>', 'fixed in this version: only reports from it or later reopen')
    .action(async (group: string, options: ResolveOptions, command: Command) => {
      const { client, output } = wiring.context(command);
      wiring.finish(await resolve(group, options, client, output));
    });
}

/**
 * The commander wiring of `ignore`.
 *
 * @example
 * program.addCommand(makeIgnoreCommand(wiring)); // jcs-errors ignore 3fa9c1
 */
export function makeIgnoreCommand(wiring: Wiring): Command {
  return new Command('ignore')
    .description('hide a group from top; its reports are still counted')
    .argument('<group>', 'the group id, or any unique prefix of it')
    .action(async (group: string, _options: object, command: Command) => {
      const { client, output } = wiring.context(command);
      wiring.finish(await ignore(group, client, output));
    });
}

/**
 * The commander wiring of `reopen`.
 *
 * @example
 * program.addCommand(makeReopenCommand(wiring)); // jcs-errors reopen 3fa9c1
 */
export function makeReopenCommand(wiring: Wiring): Command {
  return new Command('reopen')
    .description('make a resolved or ignored group unresolved again')
    .argument('<group>', 'the group id, or any unique prefix of it')
    .action(async (group: string, _options: object, command: Command) => {
      const { client, output } = wiring.context(command);
      wiring.finish(await reopen(group, client, output));
    });
}
