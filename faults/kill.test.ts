/**
 * The collector killed under load. 20,000 reports go out 200 at a time, each on its own
 * kept-alive socket; part-way through, the collector is SIGKILLed (no chance to clean up) or
 * SIGTERMed (the graceful path). A 202 must mean "on disk": every acknowledged report is stored,
 * and nothing is stored or counted twice, even when everything is sent again.
 */
import {
  acknowledged,
  initDataDir,
  inspect,
  killAll,
  logLines,
  manyReports,
  sendAll,
  serve,
  storedIds,
  type Outcome,
} from './helpers';

const TOTAL = 20_000;
const CONCURRENCY = 200;

jest.setTimeout(240_000);
afterAll(killAll);

test('SIGKILL under load: every acknowledged report survives, none twice, and a full resend is exactly-once', async () => {
  const d = initDataDir();
  const first = await serve(d.dataDir);
  const reports = manyReports(TOTAL);
  let killedAt = 0;
  const outcomes = await sendAll(first.url, d.token, reports, {
    concurrency: CONCURRENCY,
    onOutcome: (_o, all) => {
      // Kill once a good share is acknowledged, with 200 requests in flight.
      if (!killedAt && all.filter(acknowledged).length >= TOTAL * 0.4) {
        killedAt = Date.now();
        first.signal('SIGKILL');
      }
    },
  });
  expect(await first.exited).toBeNull(); // killed by the signal
  expect(killedAt).toBeGreaterThan(0);

  const acked = outcomes.filter(acknowledged);
  const failed = outcomes.filter((o) => o.status === undefined);
  expect(acked.length).toBeGreaterThanOrEqual(TOTAL * 0.4);
  expect(failed.length).toBeGreaterThan(0); // the kill did cut requests off
  expect(outcomes.filter((o) => o.status !== undefined && !acknowledged(o))).toEqual([]);

  // Restarted on the same data dir: every 202 is there; nothing half-written.
  const second = await serve(d.dataDir, { port: first.port });
  const afterKill = inspect(d.dbFile);
  expect(afterKill.integrity).toBe('ok');
  expect(
    storedIds(
      d.dbFile,
      acked.map((o) => o.id),
    ).size,
  ).toBe(acked.length);
  expect(afterKill.distinctIds).toBe(afterKill.count);
  expect(afterKill.counted).toBe(afterKill.count);
  expect(afterKill.orphans).toBe(0);
  expect(afterKill.count).toBeGreaterThan(0);
  expect(afterKill.brokenRecords).toBe(0);
  // Reports whose answer was lost with the process may be stored too (committed, not yet
  // answered): at most the requests that were in flight.
  expect(afterKill.count - acked.length).toBeLessThanOrEqual(CONCURRENCY);

  // The clients send everything again (an SDK retries whatever it has no answer for).
  const resent = await sendAll(second.url, d.token, reports, {
    concurrency: CONCURRENCY,
    retries: 3,
  });
  expect(resent.filter((o) => !acknowledged(o))).toEqual([]);
  const ackedIds = new Set(acked.map((o) => o.id));
  // Every report acknowledged before the kill is recognised, not stored again.
  expect(resent.filter((o) => ackedIds.has(o.id) && o.status !== 200)).toEqual([]);
  second.signal('SIGTERM');
  expect(await second.exited).toBe(0);

  const end = inspect(d.dbFile);
  expect(end.count).toBe(TOTAL);
  expect(end.brokenRecords).toBe(0);
  expect(end.distinctIds).toBe(TOTAL);
  expect(end.counted).toBe(TOTAL);
  console.log(
    `SIGKILL: ${acked.length} acknowledged before the kill, ${failed.length} cut off; ` +
      `${afterKill.count} stored after restart; after a full resend ${end.count} stored, counted ${end.counted}`,
  );
});

test('SIGTERM under load: requests in flight are answered, exit 0, nothing acknowledged is lost', async () => {
  const d = initDataDir();
  const s = await serve(d.dataDir);
  const reports = manyReports(TOTAL);
  let termAt = 0;
  const outcomes = await sendAll(s.url, d.token, reports, {
    concurrency: CONCURRENCY,
    onOutcome: (_o, all) => {
      if (!termAt && all.filter(acknowledged).length >= TOTAL * 0.3) {
        termAt = Date.now();
        s.signal('SIGTERM');
      }
    },
  });
  expect(await s.exited).toBe(0);
  expect(termAt).toBeGreaterThan(0);

  const acked = outcomes.filter(acknowledged);
  // Sent before the signal, answered after it: the in-flight requests the shutdown let finish.
  const finishedAfter = outcomes.filter(
    (o: Outcome) => o.sentAt <= termAt && o.answeredAt >= termAt && acknowledged(o),
  );
  expect(finishedAfter.length).toBeGreaterThan(0);
  expect(outcomes.filter((o) => o.status !== undefined && !acknowledged(o))).toEqual([]);

  const end = inspect(d.dbFile);
  expect(end.integrity).toBe('ok');
  expect(end.brokenRecords).toBe(0);
  expect(
    storedIds(
      d.dbFile,
      acked.map((o) => o.id),
    ).size,
  ).toBe(acked.length);
  expect(end.counted).toBe(end.count);
  // Every answer the collector logged as sent reached its client: no acknowledgement was
  // written to a socket the shutdown then dropped.
  const logged = logLines(s.stderr(), 'request').filter(
    (l) => l.route === '/v1/reports' && (l.status === 202 || l.status === 200),
  );
  expect(logged.length).toBe(acked.length);
  expect(logLines(s.stderr(), 'stopped')).toHaveLength(1);
  const cutOff = outcomes.filter((o) => o.status === undefined && o.sentAt <= termAt).length;
  console.log(
    `SIGTERM: ${acked.length} acknowledged and stored (${finishedAfter.length} of them answered after the signal); ` +
      `${cutOff} requests sent before the signal got no answer (refused or reset as the listener closed); exit 0`,
  );
});
