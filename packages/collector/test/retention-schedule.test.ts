import { makeTestCollector, testClock, type TestCollector } from '../../../test-support/app';
import { runExpiry } from '../src/retention/expire';
import { nextNightlyRun, scheduleExpiry } from '../src/retention/schedule';
import { retentionStatus } from '../src/retention/status';
import { bulkInsert, countReports, DAY, HOUR } from './retention-support';

const NOW = Date.parse('2026-11-01T12:00:00Z');

let t: TestCollector;
beforeEach(() => (t = makeTestCollector({ clock: testClock(NOW) })));
afterEach(() => t.close());

const runs = () =>
  t.collector.db.prepare('SELECT at FROM expiry_runs ORDER BY seq').all() as { at: number }[];
const turn = () => new Promise((resolve) => setImmediate(resolve));
const settle = () => new Promise((resolve) => setTimeout(resolve, 50));

describe('nextNightlyRun', () => {
  it('is the next 02:30 UTC strictly after now', () => {
    const next = (at: string) => new Date(nextNightlyRun(Date.parse(at))).toISOString();
    expect(next('2026-11-01T00:00:00Z')).toBe('2026-11-01T02:30:00.000Z');
    expect(next('2026-11-01T02:29:59.999Z')).toBe('2026-11-01T02:30:00.000Z');
    expect(next('2026-11-01T02:30:00Z')).toBe('2026-11-02T02:30:00.000Z');
    expect(next('2026-12-31T23:00:00Z')).toBe('2027-01-01T02:30:00.000Z');
  });
});

describe('scheduleExpiry (serve)', () => {
  it('runs at start when the job has never run, as system:nightly', async () => {
    const schedule = scheduleExpiry(t.collector);
    await settle();
    await schedule.current();
    await schedule.stop();
    expect(runs()).toEqual([{ at: NOW }]);
    const receipt = t.collector.audit.list({ limit: 5 }).find((e) => e.action === 'expire');
    expect(receipt?.actor).toBe('system:nightly');
  });

  it('runs at start when a nightly slot came since the last run, not before', async () => {
    // Last run at 12:00 (a start-up or manual run, not the nightly one).
    await runExpiry(t.collector);
    // Back at 23:00 the same day: the next slot (02:30) is still to come.
    t.clock.advance(11 * HOUR);
    let schedule = scheduleExpiry(t.collector);
    await settle();
    await schedule.stop();
    expect(runs()).toHaveLength(1);

    // Back at 02:40 the next day, 14h40 after the last run: serve was down at 02:30, so that
    // night's run is made now rather than the next night's, which would come 38h30 after it.
    t.clock.advance(3 * HOUR + 40 * 60_000);
    schedule = scheduleExpiry(t.collector);
    await settle();
    await schedule.current();
    await schedule.stop();
    expect(runs()).toHaveLength(2);

    // And a day later than that, whatever the hour.
    t.clock.advance(DAY + 5 * HOUR);
    schedule = scheduleExpiry(t.collector);
    await settle();
    await schedule.current();
    await schedule.stop();
    expect(runs()).toHaveLength(3);
  });

  it('runs at start, and status is not compliant, when the last run is dated ahead of the clock', async () => {
    // Run while the clock was 30 days ahead, then set right: when it really ran is unknown.
    t.clock.advance(30 * DAY);
    await runExpiry(t.collector);
    t.clock.set(NOW);
    expect(retentionStatus(t.collector, NOW)).toMatchObject({ compliant: false });
    const schedule = scheduleExpiry(t.collector);
    await settle();
    await schedule.current();
    await schedule.stop();
    expect(runs().map((r) => r.at)).toEqual([NOW + 30 * DAY, NOW]);
    expect(retentionStatus(t.collector, NOW)).toMatchObject({ compliant: true });
  });

  it('stops a run between two chunks on shutdown; what was committed stays deleted', async () => {
    bulkInsert(t.collector, 5000, NOW - 60 * DAY, 2);
    const schedule = scheduleExpiry(t.collector);
    while (schedule.current() === null) await turn();
    // The run has committed its first chunk and yielded: stop it there.
    await schedule.stop();
    const left = countReports(t.collector.db);
    expect(left).toBeGreaterThan(0);
    expect(left).toBeLessThan(5000);
    expect(runs()).toEqual([]);
    // The next run finishes the work, and its receipt counts the stopped run's deletions too.
    expect(countReports(t.collector.db)).toBe(left);
    expect((await runExpiry(t.collector)).deletedReports).toBe(5000);
  });
});
