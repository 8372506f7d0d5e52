import { EXIT } from './exit-codes';
import type { OptionsCommand } from './repeated-options';

/**
 * Makes an option whose value is another option's flag a usage error (exit 2). Commander gives a
 * value-taking option the next argument whatever it is, so `jcs-errors --token --json top` ran with
 * the token "--json" and failed as unauthorised (exit 3), and `token create --name --role admin`
 * complained that `--role` was missing. What is missing is the value before it, and that is what
 * the message says. Only the flags these programs define are taken for a forgotten value; any other
 * text starting with `-` is still a value. For `jcs-collector` and `jcs-errors` alike.
 *
 * @example
 * refuseOptionsAsValues(program); // then parseAsync as usual
 */
export function refuseOptionsAsValues(root: OptionsCommand): void {
  const flags = new Set<string>();
  const collect = (command: OptionsCommand) => {
    for (const option of command.options) {
      if (option.long) flags.add(option.long);
      if (option.short) flags.add(option.short);
    }
    for (const sub of command.commands) collect(sub);
  };
  collect(root);
  // The bins handle these before commander, or commander adds them itself.
  for (const flag of ['--help', '-h', '--version', '-V']) flags.add(flag);

  const watch = (command: OptionsCommand) => {
    for (const option of command.options) {
      if (!option.required && !option.optional) continue;
      command.on(`option:${option.name()}`, (value: unknown) => {
        if (typeof value !== 'string') return;
        const flag = value.split('=', 1)[0];
        if (!flags.has(flag)) return;
        command.error(
          `error: option '${option.long ?? option.name()}' is missing its value (the next word, '${flag}', is an option)`,
          { exitCode: EXIT.usage, code: 'commander.optionMissingArgument' },
        );
      });
    }
    for (const sub of command.commands) watch(sub);
  };
  watch(root);
}
