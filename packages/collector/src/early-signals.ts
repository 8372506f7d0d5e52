/**
 * Imported first by the bin, before the modules that take `serve` some 0.3 s to load: from then
 * on the signals serve handles are held rather than left to their default action, and serve
 * takes them over with its own handlers (commands/serve.ts).
 * - SIGHUP's default ends the process with exit 129, which systemd counts as clean and does not
 *   restart: a certificate renewal's `systemctl reload` during a start left the collector down.
 * - SIGTERM's and SIGINT's end it with 143 and 130, where the contract says a stopped serve exits
 *   0: a supervisor that stops the collector as it starts saw a failure.
 */
let hangups = 0;
let stop: 'SIGTERM' | 'SIGINT' | undefined;
const onHup = () => {
  hangups++;
};
const onTerm = () => {
  stop ??= 'SIGTERM';
};
const onInt = () => {
  stop ??= 'SIGINT';
};
// Any argument named serve: a command that turns out not to be serve lets go of them as it
// starts (releaseEarlySignals), and one that came meanwhile then takes effect.
const holding = process.argv.slice(2).includes('serve');
if (holding) {
  process.on('SIGHUP', onHup);
  process.on('SIGTERM', onTerm);
  process.on('SIGINT', onInt);
}

/**
 * Stops holding SIGHUP; answers how many came while it was held.
 *
 * @example
 * process.on('SIGHUP', onHangup);
 * if (releaseEarlyHangup() > 0) onHangup();
 */
export function releaseEarlyHangup(): number {
  process.off('SIGHUP', onHup);
  return hangups;
}

/**
 * Stops holding SIGTERM and SIGINT; answers the first that came while they were held. Call once
 * serve's own handlers are on.
 *
 * @example
 * process.on('SIGTERM', onTerm); // serve's own handlers first
 * const early = releaseEarlyStop(); // 'SIGTERM': stop as soon as started
 */
export function releaseEarlyStop(): 'SIGTERM' | 'SIGINT' | undefined {
  process.off('SIGTERM', onTerm);
  process.off('SIGINT', onInt);
  return stop;
}

/**
 * For a command other than serve (its arguments named serve: `token create --name serve`): stops
 * holding all three, and a signal that came while they were held is raised again, to end the
 * process as it would have without the hold.
 *
 * @example
 * program.hook('preAction', (_, action) => action.name() !== 'serve' && releaseEarlySignals());
 */
export function releaseEarlySignals(): void {
  const hangup = releaseEarlyHangup() > 0;
  const came = releaseEarlyStop() ?? (hangup ? 'SIGHUP' : undefined);
  if (came) process.kill(process.pid, came);
}
