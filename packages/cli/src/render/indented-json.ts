/** Deeper than this, a dump is printed compact: indenting 255 levels turned 120 KB into 20 MB. */
export const MAX_INDENT_LEVELS = 16;

/**
 * JSON text indented by two spaces for its first `maxLevels` levels and compact below them, so a
 * deeply nested value prints at about its own size. A value too deep for JSON.stringify itself
 * (tens of thousands of levels) is said to be so rather than failing the command.
 *
 * @example
 * indentedJson({ client: { name: 'Smith' } }); // '{\n  "client": {\n    "name": "Smith"\n  }\n}'
 */
export function indentedJson(value: unknown, maxLevels = MAX_INDENT_LEVELS): string {
  try {
    return indent(value, 0, maxLevels);
  } catch (e) {
    if (e instanceof RangeError) return '"[nested too deep to print: see it with --json]"';
    throw e;
  }
}

function indent(value: unknown, level: number, maxLevels: number): string {
  if (value === null || typeof value !== 'object' || level >= maxLevels) {
    return JSON.stringify(value) ?? 'null';
  }
  const pad = '  '.repeat(level + 1);
  const close = '  '.repeat(level);
  if (Array.isArray(value)) {
    if (value.length === 0) return '[]';
    const items = value.map((item) => pad + indent(item, level + 1, maxLevels));
    return `[\n${items.join(',\n')}\n${close}]`;
  }
  const entries = Object.entries(value as Record<string, unknown>);
  if (entries.length === 0) return '{}';
  const items = entries.map(
    ([key, item]) => `${pad}${JSON.stringify(key)}: ${indent(item, level + 1, maxLevels)}`,
  );
  return `{\n${items.join(',\n')}\n${close}}`;
}

/** What JSON.stringify leaves raw that a terminal may obey or hide: C1 controls, format characters. */
const RAW_CONTROLS = /[\u007f-\u009f\p{Cf}\u2028\u2029]/gu;

/**
 * indentedJson for a terminal: every control or format character JSON.stringify leaves raw is
 * written as its `\u` escape, so the text is still exactly the value (copied, it parses to the
 * same data) and nothing in it can drive the terminal or hide from the reader.
 *
 * @example
 * terminalJson({ name: 'a\u202eb' }); // '{\n  "name": "a\\u202eb"\n}'
 */
export function terminalJson(value: unknown, maxLevels = MAX_INDENT_LEVELS): string {
  return indentedJson(value, maxLevels).replace(RAW_CONTROLS, (c) =>
    Array.from(
      { length: c.length },
      (_, i) => `\\u${c.charCodeAt(i).toString(16).padStart(4, '0')}`,
    ).join(''),
  );
}
