import { createApp } from '../app';
import { listen } from '../server';
import { createLogger } from '../log';
import { openForCommand } from './open';
import { CommandError, EXIT, type Output } from './output';

export interface ServeOptions {
  dataDir: string;
  host: string;
  port: number;
  tlsCert?: string;
  tlsKey?: string;
  expiry: boolean;
  retentionDays?: number;
}

/**
 * `jcs-collector serve`: serves until SIGTERM or SIGINT, then stops taking requests, finishes
 * those in flight, closes the database and resolves (the bin exits 0).
 */
export async function serveCommand(o: ServeOptions, out: Output): Promise<void> {
  if (Boolean(o.tlsCert) !== Boolean(o.tlsKey)) {
    throw new CommandError(
      '--tls-cert and --tls-key go together: give both, or neither for plain HTTP',
      EXIT.usage,
    );
  }
  const log = createLogger();
  const c = openForCommand({ dataDir: o.dataDir, logger: log, retentionDays: o.retentionDays });
  let server;
  try {
    server = await listen(createApp(c), {
      host: o.host,
      port: o.port,
      tlsCert: o.tlsCert,
      tlsKey: o.tlsKey,
    });
  } catch (e) {
    c.close();
    throw new CommandError(`cannot listen on ${o.host}:${o.port}: ${(e as Error).message}`);
  }
  out.out(`listening on ${server.url}`);
  log.info({ url: server.url, retentionDays: c.retentionDays, expiry: o.expiry }, 'serving');

  await new Promise<void>((resolve) => {
    const stop = (signal: string) => {
      process.off('SIGTERM', onTerm);
      process.off('SIGINT', onInt);
      log.info({ signal }, 'stopping: finishing requests in flight');
      resolve();
    };
    const onTerm = () => stop('SIGTERM');
    const onInt = () => stop('SIGINT');
    process.on('SIGTERM', onTerm);
    process.on('SIGINT', onInt);
  });
  await server.close();
  await c.batcher.drain();
  c.close();
  log.info('stopped');
  await new Promise<void>((resolve) => log.flush(() => resolve()));
}
