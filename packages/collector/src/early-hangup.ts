/**
 * Imported first by the bin, before the modules that take `serve` some 0.3 s to load: from then
 * on a SIGHUP to `jcs-collector serve` is held rather than left to its default action, which ends
 * the process with exit 129. systemd counts that as clean and does not restart it, so a
 * certificate renewal's `systemctl reload` during a start or restart left the collector down.
 * serve takes SIGHUP over with its own handler (commands/serve.ts) and releases this one.
 */
let held = 0;
const hold = () => {
  held++;
};
// Any argument named serve: at worst another short command ignores a hang-up while it runs.
if (process.argv.slice(2).includes('serve')) process.on('SIGHUP', hold);

/**
 * Stops holding SIGHUP; answers how many came while it was held.
 *
 * @example
 * process.on('SIGHUP', onHangup);
 * if (releaseEarlyHangup() > 0) onHangup();
 */
export function releaseEarlyHangup(): number {
  process.off('SIGHUP', hold);
  return held;
}
