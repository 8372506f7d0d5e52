import net from 'node:net';

/**
 * Listens on `host:port` for a moment and lets go, so that `serve` finds a port another process
 * holds before it opens the data dir: otherwise a refused serve had already made `inbox.db` and
 * `serve.lock` in a fresh one, and rewritten the database's file. It settles nothing: another
 * process may take the port in between, and the real listen then fails as before. Port 0 (any
 * free port) needs no probe.
 *
 * @example
 * await probePort('127.0.0.1', 8080); // throws the listen error (EADDRINUSE ...) if taken
 */
export async function probePort(host: string, port: number): Promise<void> {
  if (port === 0) return;
  const probe = net.createServer();
  await new Promise<void>((resolve, reject) => {
    probe.once('error', reject);
    probe.listen(port, host, () => resolve());
  });
  await new Promise<void>((resolve) => probe.close(() => resolve()));
}
