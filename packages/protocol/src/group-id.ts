import { createHash } from 'node:crypto';

/**
 * The stable id of a group: the same on every collector for the same four values, short enough
 * to type (12 hex characters, 48 bits), and a prefix of it is enough for the CLI.
 *
 * @example
 * groupId('JCS', 91, 'modClients', 'LoadClient'); // e.g. '3fa9c1d2e4b7'
 */
export function groupId(
  appName: string,
  errorNumber: number,
  module: string,
  procedure: string,
): string {
  return createHash('sha256')
    .update(JSON.stringify([appName, errorNumber, module, procedure]))
    .digest('hex')
    .slice(0, 12);
}

/**
 * A whole group id: 12 lowercase hex characters.
 *
 * @example
 * GROUP_ID_PATTERN.test('3fa9c1d2e4b7'); // true
 */
export const GROUP_ID_PATTERN = /^[0-9a-f]{12}$/;
