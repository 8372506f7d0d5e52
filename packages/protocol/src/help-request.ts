/** The part of a commander `Command` this needs (structural: protocol does not depend on commander). */
export interface HelpCommand {
  name(): string;
  aliases(): string[];
  readonly commands: readonly HelpCommand[];
  readonly options: readonly { long?: string; short?: string; required?: boolean }[];
  readonly registeredArguments: readonly unknown[];
}

/** What to parse instead, or the command named that does not exist. */
export type HelpRequest =
  | { args: string[] }
  | { unknown: string; /** the help to read instead, as `jcs-errors audit` */ see: string };

const HELP_FLAGS = new Set(['-h', '--help']);

/**
 * Reads a call that asks for help the way its user meant it, before commander does. Commander
 * answers a help flag with the nearest help it has: `bogus --help` printed the program's help and
 * exited 0, so a script that mistyped a command was told it succeeded, and `help audit verify`
 * printed `audit`'s help. Here `help A B` becomes `A B --help`, `help help` is the program's help,
 * and a help flag or `help` naming a command that does not exist is `unknown`, a usage error.
 * For `jcs-collector` and `jcs-errors` alike.
 *
 * @example
 * helpRequest(program, ['help', 'audit', 'verify']); // { args: ['audit', 'verify', '--help'] }
 * helpRequest(program, ['bogus', '--help']); // { unknown: 'bogus', see: 'jcs-errors' }
 */
export function helpRequest(program: HelpCommand, args: string[]): HelpRequest {
  const path = [program.name()];
  // Every command's options, not only those of the commands passed: `--since 7d top -h` puts
  // top's option before it, and its value is no command.
  const takesValue = new Set<string>();
  const learn = (c: HelpCommand) => {
    for (const option of c.options) {
      if (!option.required) continue;
      if (option.long) takesValue.add(option.long);
      if (option.short) takesValue.add(option.short);
    }
    c.commands.forEach(learn);
  };
  learn(program);
  const asksHelp = args.some((arg) => HELP_FLAGS.has(arg));
  let command = program;
  for (let i = 0; i < args.length; i++) {
    const arg = args[i];
    if (arg === '--') break;
    if (arg.startsWith('-')) {
      if (takesValue.has(arg)) i++;
      continue;
    }
    // Below a command without commands of its own (`top`) or one that takes arguments
    // (`show GROUP`), the words are its business.
    if (command.commands.length === 0) break;
    const sub = findCommand(command, arg);
    if (sub) {
      command = sub;
      path.push(sub.name());
      continue;
    }
    if (arg === 'help') return helpWith(command, path, args, i);
    if (!asksHelp || command.registeredArguments.length > 0) break;
    return { unknown: [...path.slice(1), arg].join(' '), see: path.join(' ') };
  }
  return { args };
}

/**
 * `help A B` where `help` is args[at]: `A B --help`, or the first of A, B that is not a command.
 * `help help` is the help of the command `help` follows.
 */
function helpWith(from: HelpCommand, path: string[], args: string[], at: number): HelpRequest {
  // `help -- top`: the `--` ends nothing here, as there is nothing to parse as an option.
  args = args.filter((arg, i) => i <= at || arg !== '--');
  let end = args.findIndex((arg, i) => i > at && arg.startsWith('-'));
  if (end < 0) end = args.length;
  let topics = args.slice(at + 1, end);
  if (topics[0] === 'help') topics = topics.slice(1);
  let command = from;
  const named = [...path];
  for (const topic of topics) {
    const sub = findCommand(command, topic);
    if (!sub) return { unknown: [...named.slice(1), topic].join(' '), see: named.join(' ') };
    command = sub;
    named.push(sub.name());
  }
  return { args: [...args.slice(0, at), ...topics, '--help', ...args.slice(end)] };
}

function findCommand(command: HelpCommand, name: string): HelpCommand | undefined {
  return command.commands.find((c) => c.name() === name || c.aliases().includes(name));
}
