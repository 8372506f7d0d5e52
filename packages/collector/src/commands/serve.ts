import type { Collector } from '../collector';
import { ApiError } from '@jcs/protocol';
import type { AddressInfo } from 'node:net';
import { createApp } from '../app';
import { auditServerRefusal } from '../http/audited';
import { checkTlsFiles, listen, TlsSetupError } from '../server';
import { createLogger, envLogLevel, LOG_LEVELS, type Logger } from '../log';
import { scheduleExpiry, type ExpirySchedule } from '../retention/schedule';
import { openForCommand } from './open';
import { lockDataDir, serveRunningOn } from './serve-lock';
import { probePort } from './port-probe';
import { sayStartWarnings } from './serve-start-warnings';
import { stopSignal } from './stop-signals';
import { dataPaths } from '../paths';
import { recoverAfterUncleanStop, uncleanStop } from '../store/recovery';
import { zeroNotedWipes } from '../store/sealed-wipes';
import { connectionKey } from '../auth/client-address';
import { rateLimitsFromFlags, type RateLimitFlags } from './rate-options';
import { CommandError, EXIT, type Output } from './output';
import { Command } from 'commander';
import { rateOption, trustProxyOption } from './rate-options';
import { minFreeDiskOption } from './disk-option';
import {
  connectionsPerAddressOption,
  DEFAULT_CONNECTIONS_PER_ADDRESS,
  maxConnectionsOption,
} from './connection-options';
import { defaultTotalConnections } from '../http/connection-limits';
import { DEFAULT_FREE_SPACE, DiskReserve, type FreeSpaceRule } from '../ingest/disk-reserve';
import { walRelief } from '../ingest/wal-relief';
import { releaseEarlyHangup } from '../early-signals';
import { servedCertificate, watchCertificateDates } from '../http/certificate-dates';
import {
  DATA_DIR_HELP,
  portNumber,
  retentionDays,
  RETENTION_DAYS_HELP,
  type CommandContext,
} from './context';

/** The longest `serve` waits, once stopped, for its log lines to be written. */
const LOG_FLUSH_MS = 1000;

/** The access log's outcome for a request pipelined after the stop began, never served. */
const NOT_SERVED_STOPPING = new ApiError(
  'unavailable',
  'The collector is stopping: this request was not served. Send it again.',
);

export interface ServeOptions extends RateLimitFlags {
  dataDir: string;
  host: string;
  port: number;
  tlsCert?: string;
  tlsKey?: string;
  expiry: boolean;
  retentionDays?: number;
  /** `--min-free-disk`: the free space reports may not take (ingest/disk-reserve.ts) */
  minFreeDisk?: FreeSpaceRule;
  /** `--connections-per-address`, `--max-connections` (http/connection-limits.ts) */
  connectionsPerAddress?: number;
  maxConnections?: number;
}

/**
 * `jcs-collector serve`: serves until SIGTERM or SIGINT, then stops taking requests, finishes
 * those in flight, closes the database and resolves (the bin exits 0). If the writer thread
 * stops, it shuts down the same way and then fails (exit 1).
 */
export async function serveCommand(o: ServeOptions, out: Output): Promise<void> {
  // A script's unset "$CERT": said as it is, not as a missing option.
  for (const [flag, value] of [
    ['--tls-cert', o.tlsCert],
    ['--tls-key', o.tlsKey],
  ] as const) {
    if (value === '') {
      throw new CommandError(
        `${flag} is empty: give the path of its PEM file, or leave out both --tls-cert and --tls-key for plain HTTP`,
        EXIT.usage,
      );
    }
  }
  // Node reads an empty host as "every interface": a script's unset "$HOST" must not open the
  // collector to the network, so it is refused like the other empty options.
  if (o.host.trim() === '') {
    throw new CommandError(
      '--host is empty: give an address of this machine to listen on, such as 127.0.0.1 (0.0.0.0 for every interface)',
      EXIT.usage,
    );
  }
  if (Boolean(o.tlsCert) !== Boolean(o.tlsKey)) {
    throw new CommandError(
      '--tls-cert and --tls-key go together: give both, or neither for plain HTTP',
      EXIT.usage,
    );
  }
  const level = envLogLevel();
  if (level === null) {
    throw new CommandError(
      `JCS_LOG_LEVEL must be one of ${LOG_LEVELS.join(', ')}, not ${JSON.stringify(process.env.JCS_LOG_LEVEL)}`,
      EXIT.usage,
    );
  }
  const log = createLogger({ level });
  // SIGHUP (a certificate renewed; a closed terminal) would otherwise kill the process uncleanly,
  // exit 129, which systemd counts as clean and does not restart. Over HTTPS it reloads the
  // certificate and key; until serving, and over plain HTTP, it is only logged.
  const hangup: Hangup = { reload: () => log.info('SIGHUP: not serving yet, nothing to reload') };
  const onHangup = () => hangup.reload();
  // The TLS files and the port before the data dir: a serve that cannot start leaves it as it was.
  try {
    if (o.tlsCert && o.tlsKey) checkTlsFiles(o.tlsCert, o.tlsKey);
    await probePort(o.host, o.port);
  } catch (e) {
    // A second serve with the first one's settings: the line that names the first says more.
    const running = (e as NodeJS.ErrnoException).code === 'EADDRINUSE' && serveRunningOn(o.dataDir);
    throw running ? new CommandError(running) : startRefused(o, e);
  }
  const lock = lockDataDir(o.dataDir);
  process.on('SIGHUP', onHangup);
  // One that came while the bin was loading was held (early-signals.ts): said now.
  if (releaseEarlyHangup() > 0) onHangup();
  try {
    await serveLocked(o, out, log, hangup);
  } finally {
    process.off('SIGHUP', onHangup);
    lock?.release();
  }
}

/** What SIGHUP does now: replaced as serve starts and stops. */
interface Hangup {
  reload(): void;
}

/** serve, once the data dir is this process's alone (commands/serve-lock.ts). */
async function serveLocked(
  o: ServeOptions,
  out: Output,
  log: Logger,
  hangup: Hangup,
): Promise<void> {
  // Handlers first: until they are installed a signal kills the process outright, and a
  // supervisor may send SIGTERM the moment it reads "listening".
  const stopRequested = stopSignal(log);
  const unclean = uncleanStop(dataPaths(o.dataDir).db);
  // Without its writer thread the collector can only refuse reports: better to stop, with an
  // exit code a supervisor restarts on, than to answer 503 until someone notices.
  let writerFailed: Error | undefined;
  let onWriterFailure = (err: Error) => void err;
  const failed = new Promise<void>((resolve) => {
    onWriterFailure = (err) => {
      writerFailed = err;
      log.error({ err: err.message }, 'the ingest writer thread stopped: stopping');
      resolve();
    };
  });
  const c = openForCommand({
    dataDir: o.dataDir,
    logger: log,
    retentionDays: o.retentionDays,
    backgroundCheckpoint: true,
    writerThread: true,
    triageThread: true,
    onWriterFailure: (err) => onWriterFailure(err),
  });
  const recovery = unclean ? recoverAfterUncleanStop(c.db) : undefined;
  zeroLeftWipes(c);
  const reserve = await DiskReserve.open({
    dir: o.dataDir,
    rule: o.minFreeDisk ?? DEFAULT_FREE_SPACE,
    log,
    onShort: walRelief(c),
  });
  const connections = {
    perSender: o.connectionsPerAddress ?? DEFAULT_CONNECTIONS_PER_ADDRESS,
    total: o.maxConnections ?? defaultTotalConnections(),
  };
  let server;
  try {
    const onUnnamed = warnOnce(
      log,
      'a request through a --trust-proxy proxy names no sender in X-Forwarded-For (missing, or not an address): such requests share one per-address bucket; have the proxy set the header',
    );
    const onLoopbackProxy = warnOnce(
      log,
      'a request from loopback carries X-Forwarded-For, but --trust-proxy does not name loopback: all requests through that proxy share one per-address bucket; give --trust-proxy loopback',
    );
    const app = createApp(c, {
      rateLimits: rateLimitsFromFlags(o, onUnnamed, onLoopbackProxy),
      diskReserve: reserve,
    });
    const auditRefused = auditServerRefusal(c);
    server = await listen(app, {
      host: o.host,
      port: o.port,
      tlsCert: o.tlsCert,
      tlsKey: o.tlsKey,
      // The method only: the path is whatever the client typed. An engineer's or admin's is in
      // the access log too, as every request with such a token is, served or not.
      onLateRequest: (req) => {
        log.info(
          { method: req.method, status: null },
          'request pipelined after the stop began: not served, its connection closes',
        );
        auditRefused(req, NOT_SERVED_STOPPING);
      },
      onRefusal: auditRefused,
      connectionLimits: { ...connections, keyOf: connectionKey(o.trustProxy), log },
    });
  } catch (e) {
    c.close();
    throw startRefused(o, e);
  }
  if (recovery) {
    // Said on stderr as well as in the log: whoever restarts the collector after a crash reads
    // it. Only once serving: a serve that cannot listen (another one holds the port, and with it
    // the database's WAL) has one line to say, and it is not this.
    out.err(`jcs-collector: ${recovery.message}`);
    if (recovery.ok) log.warn(recovery.message);
    else log.error(recovery.message);
  }
  out.out(`listening on ${server.url}`);
  const served = o.tlsCert ? servedCertificate(o.tlsCert, Date.now) : undefined;
  const certificateWrong = () => served?.wrong();
  // From the socket, not the URL: a link-local host's zone (fe80::1%eth0) is no URL's.
  const port = (server.server.address() as AddressInfo).port;
  sayStartWarnings({ o, out, log, c, reserve, port, certificateWrong });
  const stopCertificateWatch = o.tlsCert
    ? watchCertificateDates(certificateWrong, (m) => log.warn(m))
    : () => undefined;
  const trusted = o.trustProxy?.rules ?? [];
  log.info(
    {
      url: server.url,
      retentionDays: c.retentionDays,
      expiry: o.expiry,
      trustProxy: trusted,
      connectionsPerAddress: connections.perSender,
      maxConnections: connections.total,
      minFreeBytes: reserve.minFreeBytes,
    },
    'serving',
  );
  hangup.reload = () => {
    if (!server.reloadTls) return log.info('SIGHUP: nothing to reload (plain HTTP)');
    try {
      server.reloadTls();
      served?.reloaded();
      log.info({ cert: o.tlsCert }, 'SIGHUP: TLS certificate and key read again');
      const stillWrong = certificateWrong();
      if (stillWrong) log.warn(stillWrong);
    } catch (e) {
      log.error(
        { err: (e as Error).message },
        'SIGHUP: TLS certificate not reloaded; the old one serves',
      );
    }
  };
  // Nightly at 02:30 UTC, and now when a 02:30 came since the last run (retention/schedule.ts).
  const expiry: ExpirySchedule | null = o.expiry ? scheduleExpiry(c) : null;

  await Promise.race([stopRequested, failed]);
  stopCertificateWatch();
  hangup.reload = () => log.info('SIGHUP: stopping, nothing to reload');
  // Stop taking connections first: a request answered while the expiry job winds down must
  // already say `Connection: close`. A nightly run stops between two chunks (what it committed
  // stays deleted; the next run finishes); an on-demand run inside a request is waited for by
  // server.close().
  const serverClosed = server.close();
  await expiry?.stop();
  await serverClosed;
  await c.batcher.drain();
  reserve.close();
  c.close();
  log.info('stopped');
  // A log whose reader has gone (stderr a closed pipe) never calls back: a second, then exit.
  await new Promise<void>((resolve) => {
    const timer = setTimeout(resolve, LOG_FLUSH_MS);
    log.flush(() => {
      clearTimeout(timer);
      resolve();
    });
  });
  if (writerFailed) {
    throw new CommandError(
      `the ingest writer thread stopped (${writerFailed.message}): restart serve`,
    );
  }
}

/**
 * Records of erased reports that an earlier run noted but did not live to zero (killed between an
 * erasure's commit and its zeroing): zeroed now rather than at the next expiry run, which with
 * `--no-expiry` and a nightly cron could be a day away.
 */
function zeroLeftWipes(c: Collector): void {
  const bytes = zeroNotedWipes(c.db, c.log);
  if (bytes > 0) {
    c.log.info({ bytes }, 'records of erased reports an earlier run left unzeroed are zeroed now');
  }
}

/** A warning said once a run: every request that brings it on would say the same. */
function warnOnce(log: Logger, message: string): () => void {
  let told = false;
  return () => {
    if (told) return;
    told = true;
    log.warn(message);
  };
}

/** The one line for a serve that cannot start serving: its TLS files, or its address. */
function startRefused(o: ServeOptions, e: unknown): CommandError {
  if (e instanceof TlsSetupError) return new CommandError(e.message);
  return new CommandError(`cannot listen on ${o.host}:${o.port}: ${listenAdvice(e)}`);
}

/** Why listening failed, and what to do: the usual causes by name. */
function listenAdvice(e: unknown): string {
  const err = e as NodeJS.ErrnoException;
  switch (err.code) {
    case 'EADDRINUSE':
      return 'something already listens there (another serve?): stop it, or choose another --port';
    case 'EADDRNOTAVAIL':
      return 'that is not an address of this machine: check --host';
    case 'EACCES':
      return 'this user may not listen on that port (ports below 1024 need privileges): choose another --port';
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
      return 'no such host name or address: check --host (an address of this machine, such as 127.0.0.1)';
    default:
      return `${err.message}: check --host and --port`;
  }
}

/**
 * `serve`, wired: its listening, TLS, expiry and rate-limit options.
 *
 * @example
 * program.addCommand(makeServeCommand(context));
 */
export function makeServeCommand(c: CommandContext): Command {
  return new Command('serve')
    .description('serve the API until SIGTERM or SIGINT')
    .option('--host <host>', 'address to listen on', '127.0.0.1')
    .option('--port <port>', 'port (0: a free one)', portNumber, 8080)
    .option('--tls-cert <file>', 'certificate (PEM) for HTTPS')
    .option('--tls-key <file>', 'private key (PEM) for HTTPS')
    .option('--no-expiry', 'do not run the nightly expiry job')
    .option('--retention-days <days>', RETENTION_DAYS_HELP, retentionDays)
    .addOption(rateOption('licencePerMin'))
    .addOption(rateOption('licenceBurst'))
    .addOption(rateOption('tokenPerMin'))
    .addOption(rateOption('tokenBurst'))
    .addOption(rateOption('addressPerMin'))
    .addOption(rateOption('addressBurst'))
    .addOption(rateOption('newGroupsPerMin'))
    .addOption(rateOption('newGroupsBurst'))
    .addOption(trustProxyOption())
    .addOption(rateOption('readPerMin'))
    .addOption(rateOption('readBurst'))
    .addOption(connectionsPerAddressOption())
    .addOption(maxConnectionsOption())
    .addOption(minFreeDiskOption())
    .option('--data-dir <dir>', DATA_DIR_HELP)
    .action(async (o: Omit<ServeOptions, 'dataDir'>, cmd: Command) => {
      await serveCommand({ ...o, dataDir: c.dataDir(cmd) }, c.out);
    });
}
