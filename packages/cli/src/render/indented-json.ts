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
