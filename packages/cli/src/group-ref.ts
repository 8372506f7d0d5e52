import type { ApiClient, GroupIdMatches } from './client';
import { NotFoundError, ServerError, UsageError } from './errors';
import { shown } from './render/text';

/** Every group id is this long; shorter input is a prefix. */
const FULL_LENGTH = 12;

const CANDIDATES_SHOWN = 5;

/** As many as `GET /v1/group-ids` answers at once. */
const MATCHES_LISTED = 20;

/** A group the user named, resolved to its full id. */
export interface GroupRef {
  id: string;
}

/**
 * Resolves what the user typed as a group, as git does with hashes: the full 12-character id is
 * taken as it is; a shorter prefix is looked up among every group the collector knows (any
 * status, any age) and must match exactly one. No match (or text that is no id's prefix at all)
 * exits 4, more than one exits 2 and lists them, and so does an empty GROUP.
 *
 * The look-up is the collector's `GET /v1/group-ids`, a route beyond the contract. A collector
 * without it (an older one, or another that keeps to the contract's routes) answers 404: then the
 * prefix is matched among the groups `GET /v1/groups` lists over the whole retention span.
 *
 * @example
 * const { id } = await resolveGroup(client, '3fa9'); // '3fa9c1d2e4b7'
 */
export async function resolveGroup(client: ApiClient, text: string): Promise<GroupRef> {
  const prefix = text.trim().toLowerCase();
  // `resolve "$G"` with G unset: the script's mistake, not a group that has gone.
  if (prefix === '') {
    throw new UsageError(
      `GROUP is empty: give a group id or a prefix of one; run ${client.invocation} top to list groups`,
    );
  }
  // No group has any other id: not found (exit 4), as the contract's codes say, with the form.
  if (!/^[0-9a-f]+$/.test(prefix) || prefix.length > FULL_LENGTH) {
    throw new NotFoundError(
      `no group "${shown(text)}": a group is its id or a prefix of it, in hex such as 3fa9c1; run ${client.invocation} top to list groups`,
    );
  }
  if (prefix.length === FULL_LENGTH) return { id: prefix };

  const data = await groupsByPrefix(client, prefix);
  const matches = data.groups;
  if (matches.length === 0) throw groupNotFound(text, client.invocation);
  if (matches.length > 1) {
    const candidates = matches
      .slice(0, CANDIDATES_SHOWN)
      .map((g) => `${g.id} (${shown(`${g.module}.${g.procedure}`)})`)
      .join(', ');
    const others = matches.length - CANDIDATES_SHOWN;
    const more = data.more ? ' and more' : others > 0 ? ` and ${others} more` : '';
    throw new UsageError(
      `group ${prefix} is ambiguous, it could be ${candidates}${more}: give more characters`,
    );
  }
  return { id: matches[0].id };
}

async function groupsByPrefix(client: ApiClient, prefix: string): Promise<GroupIdMatches> {
  try {
    return (await client.groupIds(prefix)).data;
  } catch (err) {
    if (!(err instanceof ServerError && err.status === 404)) throw err;
  }
  // Six weeks: a report is kept at most 42 days, so every group with a report left is listed
  // (up to the route's 500, most recently seen first). A wrong --server path 404s here as well,
  // and says so.
  const { data } = await client.listGroups({
    since: '6w',
    status: 'all',
    sort: 'last',
    limit: 500,
  });
  const found = data.groups
    .filter((g) => g.id.startsWith(prefix))
    .sort((a, b) => a.id.localeCompare(b.id));
  return {
    groups: found
      .slice(0, MATCHES_LISTED)
      .map((g) => ({ id: g.id, module: g.module, procedure: g.procedure })),
    more: found.length > MATCHES_LISTED,
  };
}

/**
 * The error for a group the collector does not know, with what to do about it.
 *
 * @example
 * throw groupNotFound('3fa9c1'); // no group 3fa9c1: run jcs-errors top to list groups
 */
export function groupNotFound(text: string, invocation = 'jcs-errors'): NotFoundError {
  return new NotFoundError(`no group ${text.trim()}: run ${invocation} top to list groups`);
}

/**
 * Runs a request about a group, turning the collector's 404 into {@link groupNotFound}.
 *
 * @example
 * const detail = await aboutGroup('3fa9', () => client.getGroup(id)); // a 404 says: no group 3fa9: ...
 */
export async function aboutGroup<T>(
  text: string,
  request: () => Promise<T>,
  invocation?: string,
): Promise<T> {
  try {
    return await request();
  } catch (err) {
    if (err instanceof NotFoundError) throw groupNotFound(text, invocation);
    throw err;
  }
}
