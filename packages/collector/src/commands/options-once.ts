import type { Command } from 'commander';

/**
 * Makes every option that takes a value a usage error when given twice (`token create --role
 * admin --role ingest`): commander keeps the last one without a word, and a script that builds
 * its flags badly would get an ingest token where it asked for admin. The HTTP API refuses a
 * query parameter given twice the same way. The same value twice is let be, and so are flags
 * without a value (`--json`).
 *
 * @example
 * refuseRepeatedOptions(program); // then parseAsync as usual
 */
export function refuseRepeatedOptions(command: Command): void {
  const given = new Map<string, unknown>();
  for (const option of command.options) {
    if (!option.required && !option.optional) continue;
    const name = option.name();
    command.on(`option:${name}`, (value: unknown) => {
      // The values stay out of the message: `erase --username` takes personal data.
      if (given.has(name) && given.get(name) !== value) {
        command.error(
          `error: option '${option.long ?? name}' was given twice, with different values: give it once`,
          { exitCode: 2, code: 'commander.optionRepeated' },
        );
      }
      given.set(name, value);
    });
  }
  for (const sub of command.commands) refuseRepeatedOptions(sub);
}
