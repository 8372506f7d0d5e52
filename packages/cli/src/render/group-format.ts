import { sortVersionsDescending, type Group } from '@jcs/protocol';
import type { Palette } from './palette';
import type { Cell } from './table';
import { oneLine } from './text';

/**
 * A group's status as one word, coloured: a regression (resolved, then seen again in a fixed
 * version) shows as `regressed` in red, since that is what needs eyes first.
 *
 * @example
 * statusCell({ status: 'unresolved', regressed: true }, makePalette(false)); // { text: 'regressed', ... }
 */
export function statusCell(group: Pick<Group, 'status' | 'regressed'>, palette: Palette): Cell {
  if (group.status === 'unresolved' && group.regressed) {
    return { text: 'regressed', color: (t) => palette.bold(palette.red(t)) };
  }
  if (group.status === 'resolved') return { text: 'resolved', color: palette.green };
  if (group.status === 'ignored') return { text: 'ignored', color: palette.dim };
  return { text: group.status, color: palette.yellow };
}

/**
 * The newest version a group was seen in, and how many others.
 *
 * @example
 * versionsSummary(['5.2.0.12', '5.2.1.345', '5.1']); // '5.2.1.345 +2'
 */
export function versionsSummary(versions: readonly string[]): string {
  if (versions.length === 0) return '–';
  const [newest] = sortVersionsDescending(versions);
  return versions.length === 1 ? newest : `${newest} +${versions.length - 1}`;
}

/**
 * A versions summary cut to `width`: the version gives way, the count of others stays. It is cut
 * after a dot, never inside a number: `5.10.0.1` cut to `5.1…` would read as version 5.1. For the
 * table's column, whose width is known only once every column is fitted.
 *
 * @example
 * fitVersions('5.2.1.345.12345 +1', 12); // '5.2.1.… +1'
 */
export function fitVersions(summary: string, width: number): string {
  if (summary.length <= width) return summary;
  const others = / \+\d+$/.exec(summary)?.[0] ?? '';
  const room = width - others.length;
  if (room < 2) return summary; // the table's own cut, then
  const kept = summary.slice(0, summary.length - others.length).slice(0, room - 1);
  const dot = kept.lastIndexOf('.');
  return `${dot > 0 ? kept.slice(0, dot + 1) : kept}…${others}`;
}

/**
 * Where the error was raised, as VBA code names it.
 *
 * @example
 * where({ module: 'modClients', procedure: 'LoadClient' }); // 'modClients.LoadClient'
 */
export function where(group: Pick<Group, 'module' | 'procedure'>): string {
  return oneLine(`${group.module}.${group.procedure}`);
}

/**
 * A group's identity in one line: error number, where, description.
 *
 * @example
 * identity(group); // '91 modClients.LoadClient: Object variable or With block variable not set'
 */
export function identity(
  group: Pick<Group, 'number' | 'module' | 'procedure' | 'description'>,
): string {
  const description = group.description === null ? '' : `: ${oneLine(group.description)}`;
  return `${group.number} ${where(group)}${description}`;
}

/**
 * The shortest prefixes, at least `min` long, that tell these ids apart, as `git log --oneline`
 * shortens hashes.
 *
 * @example
 * shortIds(['3fa9c1d2e4b7', '3fa9c1ff0011'], 7); // ['3fa9c1d', '3fa9c1f']
 */
export function shortIds(ids: readonly string[], min = 7): string[] {
  return ids.map((id) => {
    let length = Math.min(min, id.length);
    while (
      length < id.length &&
      ids.some((other) => other !== id && other.startsWith(id.slice(0, length)))
    ) {
      length++;
    }
    return id.slice(0, length);
  });
}
