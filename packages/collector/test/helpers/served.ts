import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import type { AddressInfo } from 'node:net';
import type { Express } from 'express';
import { createApp, type AppOptions } from '../../src/app';
import { listen, type ListenOptions, type RunningServer } from '../../src/server';
import { auditServerRefusal } from '../../src/http/audited';
import { openCollector, type Collector } from '../../src/collector';
import { createKeys } from '../../src/crypto/keyring';
import { openDatabase } from '../../src/store/db';
import { dataPaths } from '../../src/paths';
import { testClock, type TestClock } from '../../../../test-support/app';
import { makeTempDir } from '../../../../test-support/collector';
import { captureLog, type CapturedLog } from './log-capture';

export interface ServedCollector {
  collector: Collector;
  app: Express;
  dataDir: string;
  clock: TestClock;
  tokens: { ingest: string; engineer: string; admin: string };
  url: string;
  log: CapturedLog;
  /** stops listening, then closes the database */
  stop(): Promise<void>;
}

/**
 * An in-process collector as `makeTestCollector()` makes it (temp data dir, movable clock, one
 * token per role), its log captured in memory from the start, listening on a free loopback port:
 * for tests that need a real socket (raw bytes, chunked bodies, aborted requests) or the log.
 *
 * @example
 * const s = await serveTestCollector();
 * await fetch(`${s.url}/v1/health`);
 * await s.stop();
 */
export async function serveTestCollector(
  options: { app?: AppOptions } = {},
): Promise<ServedCollector> {
  const dataDir = path.join(makeTempDir(), 'data');
  fs.mkdirSync(dataDir, { mode: 0o700 });
  const paths = dataPaths(dataDir);
  openDatabase(paths.db, { create: true }).close();
  createKeys(paths.keys, {});
  const clock = testClock();
  const log = captureLog();
  const collector = openCollector({ dataDir, clock, env: {}, logger: log.logger });
  const tokens = {
    ingest: collector.tokens.create('app', 'ingest', clock()),
    engineer: collector.tokens.create('alice', 'engineer', clock()),
    admin: collector.tokens.create('root', 'admin', clock()),
  };
  const app = createApp(collector, options.app);
  const server = http.createServer(app);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    collector,
    app,
    dataDir,
    clock,
    tokens,
    url: `http://127.0.0.1:${port}`,
    log,
    stop: async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      collector.close();
    },
  };
}

/**
 * serveTestCollector() behind the server `serve` runs (`listen()`: its timeouts, its handling of
 * Expect: 100-continue and of pipelining), rather than a bare http.Server.
 *
 * @example
 * const { s, server, stop } = await listenTestCollector();
 * await fetch(`${server.url}/v1/health`);
 * await stop();
 */
export async function listenTestCollector(options: Partial<ListenOptions> = {}): Promise<{
  s: ServedCollector;
  server: RunningServer;
  stop(): Promise<void>;
}> {
  const s = await serveTestCollector();
  const server = await listen(s.app, {
    host: '127.0.0.1',
    port: 0,
    onRefusal: auditServerRefusal(s.collector),
    ...options,
  });
  return {
    s,
    server,
    stop: async () => {
      server.server.closeAllConnections();
      await server.close();
      await s.stop();
    },
  };
}
