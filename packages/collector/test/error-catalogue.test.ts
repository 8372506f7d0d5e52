import fs from 'node:fs';
import path from 'node:path';
import { ERRORS, type ErrorCode } from '@jcs/protocol';

/**
 * One error catalogue (packages/protocol/src/errors.ts), documented in docs/api.md: every code has
 * a row of the error table with its status, and the table lists no code the catalogue lacks.
 */

const API_DOC = path.resolve(__dirname, '../../../docs/api.md');
const doc = fs.readFileSync(API_DOC, 'utf8');

/** The rows of the error table: `| \`code\` | status | when |`. */
const rows = new Map(
  [...doc.matchAll(/^\|\s*`([a-z_]+)`\s*\|\s*(\d{3})\s*\|\s*(.+?)\s*\|\s*$/gm)].map((m) => [
    m[1],
    { status: Number(m[2]), when: m[3] },
  ]),
);

describe('the error catalogue in docs/api.md', () => {
  it.each(Object.keys(ERRORS) as ErrorCode[])(
    '%s is documented with its status and when',
    (code) => {
      const row = rows.get(code);
      expect(row).toBeDefined();
      expect(row!.status).toBe(ERRORS[code].status);
      expect(row!.when.length).toBeGreaterThan(20);
    },
  );

  it('documents no code that the catalogue does not have', () => {
    expect([...rows.keys()].filter((code) => !(code in ERRORS))).toEqual([]);
  });
});
