import { CommandError, EXIT, type Output } from './output';
import { openForCommand } from './open';
import { Command } from 'commander';
import { markFiles, readMark } from '../store/audit-marks';
import { DATA_DIR_HELP, type CommandContext } from './context';

/**
 * `jcs-collector audit verify`: walks the access log's hash chain and compares it with the marks
 * in the keys folder. Intact: prints the number of entries, exit 0. Broken: prints the first bad
 * sequence number, exit 1. Safe while `serve` runs (it only reads).
 *
 * @example
 * await auditVerifyCommand('./jcs-data', stdio); // stdout: "intact: 1042 entries"
 */
export async function auditVerifyCommand(
  dataDir: string,
  out: Output,
  json = false,
): Promise<void> {
  const c = openForCommand({ dataDir });
  let result;
  let headless: boolean;
  try {
    result = c.audit.verify();
    headless = headMissing(c.keyring.dir);
  } finally {
    c.close();
  }
  if (json) out.out(JSON.stringify(result));
  if (result.ok) {
    if (!json) out.out(`intact: ${result.entries} ${result.entries === 1 ? 'entry' : 'entries'}`);
    // The head is what shows a cut tail; with none, the newest entries could have gone unseen.
    // (A collector stopped before its first head write has none either, and writes one next.)
    if (headless && result.entries > 0) {
      out.err(
        'note: keys/audit-head.json is missing or unreadable, so newest entries cut off would not show; serve writes it again with its next entry, and if it was removed, find out who removed it',
      );
    }
    return;
  }
  if (!json) out.out(`broken at entry ${result.brokenAt}`);
  throw new CommandError(
    `the access log is broken at entry ${result.brokenAt}: an entry there was changed, removed or reordered, or the newest were cut off; keep a copy of collector.db (and any -wal) and keys/audit-* as evidence, never the day keys (keys/days/, which expiry must still destroy), and investigate from that entry against a backup`,
    EXIT.failed,
  );
}

function headMissing(keysDir: string): boolean {
  try {
    return readMark(markFiles(keysDir).head) === null;
  } catch {
    return true; // not readable: as good as missing for what it would show
  }
}

/**
 * `audit verify`, wired.
 *
 * @example
 * program.addCommand(makeAuditCommand(context));
 */
export function makeAuditCommand(c: CommandContext): Command {
  const audit = new Command('audit').description('the access log');
  audit
    .command('verify')
    .description("check the access log's hash chain; exit 1 where it is broken")
    .option('--json', 'print {"ok": true, "entries": N} or {"ok": false, "brokenAt": seq}')
    .option('--data-dir <dir>', DATA_DIR_HELP)
    .action(async (o: { json?: boolean }, cmd: Command) => {
      await auditVerifyCommand(c.dataDir(cmd), c.out, o.json);
    });
  return audit;
}
