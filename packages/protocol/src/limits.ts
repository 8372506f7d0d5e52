/**
 * Every bound of report schema 1 in one place, so the schema, the SDK's normaliser and the tests
 * cannot drift apart. String bounds count Unicode code points, as JSON Schema does.
 */
export const LIMITS = {
  appName: { min: 1, max: 64 },
  appVersion: { min: 1, max: 64 },
  license: { min: 1, max: 64 },
  username: { min: 0, max: 256 },
  description: { min: 0, max: 4096 },
  module: { min: 1, max: 256 },
  procedure: { min: 1, max: 256 },
  code: { min: 0, max: 4096 },
  keyId: { min: 1, max: 64 },
  errorNumber: { min: -2147483648, max: 2147483647 },
  line: { min: 0, max: 2147483647 },
  repeats: { min: 0, max: 2147483647 },
  /** a request body, in bytes */
  bodyBytes: 512 * 1024,
  /** a dump's plaintext JSON, in bytes */
  dumpPlaintextBytes: 256 * 1024,
} as const;

/**
 * The length of `text` as LIMITS count it: in code points, so an emoji is one, not two.
 *
 * @example
 * codePointLength('😀a'); // 2
 */
export function codePointLength(text: string): number {
  let n = 0;
  for (const _ of text) n++;
  return n;
}

/** Lowercase hex 8-4-4-4-12. */
export const UUID_PATTERN = '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$';

/** Dotted numbers such as 5.2.1.345. */
export const VERSION_PATTERN = '^[0-9]+(\\.[0-9]+)*$';
/**
 * RFC 3339's date-time (section 5.6), which the `date-time` format alone does not enforce: it
 * lets `+02` and `+0200` through, where RFC 3339 has `+02:00`. `t`, `z` and a space for `T` are
 * RFC 3339's own allowances.
 */
export const DATE_TIME_PATTERN =
  '^[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt ][0-9]{2}:[0-9]{2}:[0-9]{2}(\\.[0-9]+)?([Zz]|[+-][0-9]{2}:[0-9]{2})$';
