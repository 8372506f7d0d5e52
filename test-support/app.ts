import fs from 'node:fs';
import path from 'node:path';
import type { Express } from 'express';
import { createApp, openCollector, type Collector, type AppOptions } from '@jcs/collector';
import { createKeys } from '../packages/collector/src/crypto/keyring';
import { openDatabase } from '../packages/collector/src/store/db';
import { dataPaths } from '../packages/collector/src/paths';
import { makeTempDir } from './collector';

/** A clock tests can move: `clock.set('2026-01-01T00:00:00Z')`, `clock.advance(ms)`. */
export interface TestClock {
  (): number;
  set(at: string | number): void;
  advance(ms: number): void;
}

export function testClock(start: string | number = '2026-11-01T12:00:00Z'): TestClock {
  let now = typeof start === 'number' ? start : Date.parse(start);
  const clock = (() => now) as TestClock;
  clock.set = (at) => (now = typeof at === 'number' ? at : Date.parse(at));
  clock.advance = (ms) => (now += ms);
  return clock;
}

export interface TestCollector {
  collector: Collector;
  app: Express;
  dataDir: string;
  clock: TestClock;
  tokens: { ingest: string; engineer: string; admin: string };
  close(): void;
}

/**
 * An in-process collector on a real SQLite file in a temp dir, with a movable clock, for
 * supertest. Use `startCollector` (collector.ts) where the real bin must run.
 */
export function makeTestCollector(
  options: { clock?: TestClock; retentionDays?: number; app?: AppOptions } = {},
): TestCollector {
  const dataDir = path.join(makeTempDir(), 'data');
  fs.mkdirSync(dataDir, { mode: 0o700 });
  const paths = dataPaths(dataDir);
  openDatabase(paths.db, { create: true }).close();
  createKeys(paths.keys, {});
  const clock = options.clock ?? testClock();
  const collector = openCollector({
    dataDir,
    clock,
    retentionDays: options.retentionDays,
    env: {},
  });
  const tokens = {
    ingest: collector.tokens.create('app', 'ingest', clock()),
    engineer: collector.tokens.create('alice', 'engineer', clock()),
    admin: collector.tokens.create('root', 'admin', clock()),
  };
  return {
    collector,
    app: createApp(collector, options.app),
    dataDir,
    clock,
    tokens,
    close: () => collector.close(),
  };
}

/**
 * The same data dir, clock and tokens in a new collector (the old one is closed): what a restart
 * of the process finds.
 */
export function reopenTestCollector(previous: TestCollector, options: { app?: AppOptions } = {}) {
  previous.close();
  const collector = openCollector({ dataDir: previous.dataDir, clock: previous.clock, env: {} });
  return {
    ...previous,
    collector,
    app: createApp(collector, options.app),
    close: () => collector.close(),
  } satisfies TestCollector;
}
