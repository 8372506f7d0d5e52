import { EXIT } from './exit-codes';

/**
 * The part of a commander `Command` this needs. Structural, so the protocol package does not
 * depend on commander; both bins pass their own commands.
 */
export interface OptionsCommand {
  readonly options: readonly {
    required?: boolean;
    optional?: boolean;
    long?: string;
    short?: string;
    name(): string;
  }[];
  readonly commands: readonly OptionsCommand[];
  on(event: string, listener: (value: unknown) => void): unknown;
  error(message: string, options: { exitCode: number; code: string }): never;
}

/**
 * Makes every option that takes a value a usage error (exit 2) when given twice with different
 * values (`token create --role admin --role ingest`): commander keeps the last one without a
 * word, and a script that builds its flags badly would get an ingest token where it asked for
 * admin. The HTTP API refuses a query parameter given twice the same way. The same value twice is
 * let be, and so are flags without a value (`--json`). Values are compared as typed: `7d` and
 * `1w` differ. For `jcs-collector` and `jcs-errors` alike.
 *
 * @example
 * refuseRepeatedOptions(program); // then parseAsync as usual
 */
export function refuseRepeatedOptions(command: OptionsCommand): void {
  const given = new Map<string, unknown>();
  for (const option of command.options) {
    if (!option.required && !option.optional) continue;
    const name = option.name();
    command.on(`option:${name}`, (value: unknown) => {
      // The values stay out of the message: `erase --username` takes personal data.
      if (given.has(name) && given.get(name) !== value) {
        command.error(
          `error: option '${option.long ?? name}' was given twice, with different values: give it once`,
          { exitCode: EXIT.usage, code: 'commander.optionRepeated' },
        );
      }
      given.set(name, value);
    });
  }
  for (const sub of command.commands) refuseRepeatedOptions(sub);
}
