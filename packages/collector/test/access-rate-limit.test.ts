import fs from 'node:fs';
import path from 'node:path';
import type { AddressInfo } from 'node:net';
import request from 'supertest';
import {
  makeTestCollector,
  reopenTestCollector,
  type TestCollector,
} from '../../../test-support/app';
import { makeReport } from '../../../test-support/reports';
import { collectorCli, startCollector } from '../../../test-support/collector';
import { KeyedRateLimiter } from '../src/auth/rate-limit';
import { RequestLimits, type RequestLimitsOptions } from '../src/auth/request-limits';
import { rangesOf, senderKey } from '../src/auth/client-address';

jest.setTimeout(30_000);

/** A clock for the buckets that moves only when told: no test depends on timing. */
function frozen() {
  let now = 1_000_000;
  const clock = () => now;
  clock.advance = (ms: number) => (now += ms);
  return clock;
}

describe('KeyedRateLimiter', () => {
  it('allows a burst, then answers the seconds to wait, and refills with time', () => {
    const clock = frozen();
    const l = new KeyedRateLimiter({ perMinute: 60, burst: 3, now: clock });
    expect([l.take('a'), l.take('a'), l.take('a')]).toEqual([0, 0, 0]);
    expect(l.take('a')).toBe(1);
    expect(l.peek('a')).toBe(1);
    expect(l.take('b')).toBe(0);
    clock.advance(1000);
    expect(l.peek('a')).toBe(0);
    expect(l.take('a')).toBe(0);
    expect(l.take('a')).toBe(1);
  });

  it('rounds the wait up to whole seconds, at least 1', () => {
    const clock = frozen();
    const slow = new KeyedRateLimiter({ perMinute: 1, burst: 1, now: clock });
    slow.take('a');
    expect(slow.take('a')).toBe(60);
    clock.advance(59_500);
    expect(slow.take('a')).toBe(1);
  });

  it('is off at 0 a minute', () => {
    const l = new KeyedRateLimiter({ perMinute: 0, burst: 0 });
    for (let i = 0; i < 1000; i++) expect(l.take('a')).toBe(0);
    expect(l.size).toBe(0);
  });

  it('keeps memory bounded: idle buckets are dropped, and never more than maxKeys are held', () => {
    const clock = frozen();
    const l = new KeyedRateLimiter({ perMinute: 120, burst: 30, maxKeys: 1000, now: clock });
    for (let i = 0; i < 5000; i++) l.take(`licence-${i}`);
    expect(l.size).toBeLessThanOrEqual(1000);
    // a full refill later, every bucket is idle: the next request sweeps them all
    clock.advance(15_000);
    l.take('fresh');
    expect(l.size).toBe(1);
  });
});

describe('RequestLimits: what each refusal gives back', () => {
  const actor = { name: 'desktop', role: 'ingest' } as const;
  const limitsFor = (o: RequestLimitsOptions) => new RequestLimits({ now: frozen(), ...o });

  it("storage that could not take a valid report gives back its token and licence shares, not the sender's", () => {
    const l = limitsFor({ tokenBurst: 1, licenceBurst: 1, addressBurst: 2 });
    l.reserveReport(actor, '203.0.113.7');
    l.takeReport(actor, 'JCS-1', '203.0.113.7');
    l.giveBack(actor, 'JCS-1', '203.0.113.7');
    // token and licence were 1 deep: taken again, each is there
    l.reserveReport(actor, '203.0.113.7');
    expect(() => l.takeReport(actor, 'JCS-1', '203.0.113.7')).not.toThrow();
    l.giveBack(actor, 'JCS-1', '203.0.113.7');
    // the sender's 2 are both spent: a failing storage is no free rein
    expect(() => l.reserveReport(actor, '203.0.113.7')).toThrow(/from this address/);
  });

  it("a body released without its sender (pushed out for arriving slowly) keeps the sender's share spent", () => {
    const l = limitsFor({ tokenBurst: 5, addressBurst: 1 });
    l.reserveReport(actor, '203.0.113.7');
    l.releaseReport(actor, undefined);
    expect(() => l.reserveReport(actor, '203.0.113.7')).toThrow(/from this address/);
    // the collector's own refusal, with the sender: given back
    l.reserveReport(actor, '198.51.100.2');
    l.releaseReport(actor, '198.51.100.2');
    expect(() => l.reserveReport(actor, '198.51.100.2')).not.toThrow();
  });
});

describe('rate limits on the API', () => {
  let t: TestCollector;
  let clock: ReturnType<typeof frozen>;
  // A test may start more than one (another set of limits); each is closed after it.
  const opened: TestCollector[] = [];
  const start = (limits: RequestLimitsOptions) => {
    clock = frozen();
    t = makeTestCollector({ app: { rateLimits: { ...limits, now: clock } } });
    opened.push(t);
  };
  afterEach(() => {
    for (const each of opened.splice(0)) each.close();
  });
  const post = (license: string) =>
    request(t.app)
      .post('/v1/reports')
      .set('Authorization', `Bearer ${t.tokens.ingest}`)
      .send(makeReport({ license }));

  it('answers a burst from one licence with 429 and Retry-After, while another licence is still accepted', async () => {
    start({ licencePerMin: 300, licenceBurst: 150 });
    for (let i = 0; i < 150; i++) await post('JCS-FLOOD').expect(202);
    const refused = await post('JCS-FLOOD').expect(429);
    expect(refused.body.error.code).toBe('rate_limited');
    expect(refused.headers['retry-after']).toBe('1');
    expect(refused.body.error.message).toMatch(/licence/);
    await post('JCS-CALM').expect(202);
    clock.advance(200); // 300 a minute: one more every 200 ms
    await post('JCS-FLOOD').expect(202);
    await post('JCS-FLOOD').expect(429);
    // a refused report stores nothing
    const n = t.collector.db.prepare('SELECT COUNT(*) AS n FROM reports').get() as { n: number };
    expect(n.n).toBe(152);
  });

  it("does not let a licence's refused flood use up the token's budget the others share", async () => {
    start({ licenceBurst: 2, tokenBurst: 5 });
    for (let i = 0; i < 2; i++) await post('JCS-FLOOD').expect(202);
    for (let i = 0; i < 20; i++) await post('JCS-FLOOD').expect(429);
    for (let i = 0; i < 3; i++) await post(`JCS-OTHER-${i}`).expect(202);
    // now the token's own limit: refused before the body is even read
    const res = await post('JCS-OTHER-9').expect(429);
    expect(res.body.error.message).toMatch(/token/);
    expect(Number(res.headers['retry-after'])).toBeGreaterThanOrEqual(1);
  });

  it('charges refused bodies to the token too: bad requests cannot be sent without bound', async () => {
    start({ tokenBurst: 3 });
    const bad = () =>
      request(t.app)
        .post('/v1/reports')
        .set('Authorization', `Bearer ${t.tokens.ingest}`)
        .set('Content-Type', 'application/json');
    await bad().send('{not json').expect(400);
    await bad().send({ schema: 1 }).expect(400);
    await bad()
      .send({ ...makeReport(), extra: 1 })
      .expect(400);
    const res = await bad().send('{not json').expect(429);
    expect(res.body.error.message).toMatch(/token/);
    await post('JCS-ANY').expect(429);
  });

  it('charges bodies sent at the same time before any is read: no more are read than the budget', async () => {
    start({ tokenBurst: 6 });
    // Forty bad bodies at once on a real socket: each found the last report left, before.
    const server = t.app.listen(0);
    try {
      const { port } = server.address() as AddressInfo;
      const body = JSON.stringify({ ...makeReport(), extra: 'x'.repeat(12_000) });
      const statuses = await Promise.all(
        Array.from({ length: 40 }, () =>
          fetch(`http://127.0.0.1:${port}/v1/reports`, {
            method: 'POST',
            headers: {
              authorization: `Bearer ${t.tokens.ingest}`,
              'content-type': 'application/json',
            },
            body,
          }).then((r) => r.status),
        ),
      );
      expect(statuses.filter((s) => s === 400)).toHaveLength(6);
      expect(statuses.filter((s) => s === 429)).toHaveLength(34);
    } finally {
      server.close();
    }
  });

  it('limits reads per token on their own, and logs the refusal', async () => {
    start({ readBurst: 3, readPerMin: 60 });
    const read = (token: string) =>
      request(t.app).get('/v1/groups').set('Authorization', `Bearer ${token}`);
    for (let i = 0; i < 3; i++) await read(t.tokens.engineer).expect(200);
    const res = await read(t.tokens.engineer).expect(429);
    expect(res.headers['retry-after']).toBe('1');
    await read(t.tokens.admin).expect(200);
    await post('JCS-1').expect(202);
    expect(t.collector.audit.list({ limit: 1 })[0]).toMatchObject({ outcome: 'ok' });
    const refusals = t.collector.audit
      .list({ limit: 10 })
      .filter((e) => e.outcome === 'rate_limited');
    expect(refusals).toEqual([expect.objectContaining({ actor: 'alice' })]);
    clock.advance(1000);
    await read(t.tokens.engineer).expect(200);
  });

  describe('per sending address', () => {
    // supertest connects from loopback: the proxy, trusted, names the sender
    const behindProxy = (limits: RequestLimitsOptions) =>
      start({ ...limits, senderOf: senderKey(rangesOf(['loopback'])) });
    const postFrom = (address: string | undefined, license = 'JCS-1') => {
      const r = request(t.app)
        .post('/v1/reports')
        .set('Authorization', `Bearer ${t.tokens.ingest}`);
      return (address ? r.set('X-Forwarded-For', address) : r).send(makeReport({ license }));
    };

    it("refuses one sender's flood before it touches the token's budget; others go on", async () => {
      behindProxy({ addressBurst: 4, tokenBurst: 10 });
      for (let i = 0; i < 4; i++) await postFrom('203.0.113.7', `JCS-${i}`).expect(202);
      for (let i = 0; i < 30; i++) {
        const res = await postFrom('203.0.113.7', `JCS-${i}`).expect(429);
        expect(res.body.error.message).toMatch(/^Too many reports from this address: retry after/);
        expect(res.headers['retry-after']).toBe('1');
      }
      // the token's 10 are not used up by the 30 refused: 6 left for everyone else
      for (let i = 0; i < 3; i++) await postFrom('198.51.100.2', `JCS-${i}`).expect(202);
      for (let i = 0; i < 3; i++) await postFrom('198.51.100.9', `JCS-${i}`).expect(202);
      expect((await postFrom('198.51.100.3').expect(429)).body.error.message).toMatch(/token/);
      const n = t.collector.db.prepare('SELECT COUNT(*) AS n FROM reports').get() as { n: number };
      expect(n.n).toBe(10);
      clock.advance(60_000);
      await postFrom('203.0.113.7').expect(202);
    });

    it("charges a known sender's bad bodies to that sender alone, not the fleet's token budget", async () => {
      behindProxy({ tokenBurst: 5, addressBurst: 3, addressPerMin: 1 });
      const bad = (address: string) =>
        request(t.app)
          .post('/v1/reports')
          .set('Authorization', `Bearer ${t.tokens.ingest}`)
          .set('X-Forwarded-For', address)
          .set('Content-Type', 'application/json')
          .send('{}');
      for (let i = 0; i < 3; i++) await bad('203.0.113.7').expect(400);
      // the sender's own three are spent
      expect((await bad('203.0.113.7').expect(429)).body.error.message).toMatch(/address/);
      // the fleet's five are all still there, for everyone else
      for (let i = 0; i < 5; i++) await postFrom(`198.51.100.${i + 1}`, `JCS-${i}`).expect(202);
      expect((await postFrom('198.51.100.9').expect(429)).body.error.message).toMatch(/token/);
    });

    it("gives the sender's share back when the fleet's token budget refuses the report", async () => {
      behindProxy({ addressBurst: 3, addressPerMin: 1, tokenBurst: 1, tokenPerMin: 60 });
      await postFrom('10.99.0.3', 'JCS-1').expect(202);
      for (let i = 0; i < 5; i++) {
        const res = await postFrom('10.99.0.3', 'JCS-1').expect(429);
        expect(res.body.error.message).toMatch(/token/);
      }
      // the token refills (one a second); the sender's own two are still there
      clock.advance(1_000);
      await postFrom('10.99.0.3', 'JCS-1').expect(202);
      clock.advance(1_000);
      await postFrom('10.99.0.3', 'JCS-1').expect(202);
      clock.advance(1_000);
      expect((await postFrom('10.99.0.3', 'JCS-1').expect(429)).body.error.message).toMatch(
        /address/,
      );
    });

    it("keeps a licence's bucket per sender: naming another firm's licence spends only one's own share", async () => {
      behindProxy({ licenceBurst: 3 });
      for (let i = 0; i < 3; i++) await postFrom('203.0.113.7', 'JCS-VICTIM').expect(202);
      expect((await postFrom('203.0.113.7', 'JCS-VICTIM').expect(429)).body.error.message).toMatch(
        /licence/,
      );
      for (let i = 0; i < 3; i++) await postFrom('198.51.100.2', 'JCS-VICTIM').expect(202);
    });

    it('limits loopback connections by licence (a relay that adds no header makes remote senders look local), and a proxy on loopback that serve was not told of as one sender', async () => {
      start({ licenceBurst: 3, addressBurst: 5, tokenBurst: 100, senderOf: senderKey() });
      for (let i = 0; i < 3; i++) await postFrom(undefined, 'JCS-LOCAL').expect(202);
      expect((await postFrom(undefined, 'JCS-LOCAL').expect(429)).body.error.message).toMatch(
        /licence/,
      );
      // ... but not by address
      for (let i = 0; i < 20; i++) await postFrom(undefined, `JCS-${i}`).expect(202);
      // X-Forwarded-For from loopback without --trust-proxy: a proxy, all its senders one sender
      for (let i = 0; i < 3; i++) await postFrom('203.0.113.7', 'JCS-VIA').expect(202);
      expect((await postFrom('198.51.100.2', 'JCS-VIA').expect(429)).body.error.message).toMatch(
        /licence/,
      );
      await postFrom('198.51.100.2', 'JCS-OTHER').expect(202);
      expect((await postFrom('198.51.100.3', 'JCS-THIRD').expect(429)).body.error.message).toMatch(
        /address/,
      );
      const n = t.collector.db.prepare('SELECT COUNT(*) AS n FROM reports').get() as { n: number };
      expect(n.n).toBe(27);
    });

    describe('new groups per address', () => {
      const inGroup = (address: string | undefined, procedure: string, license = 'JCS-1') => {
        const r = request(t.app)
          .post('/v1/reports')
          .set('Authorization', `Bearer ${t.tokens.ingest}`);
        const report = makeReport({ license, error: { procedure } });
        return (address ? r.set('X-Forwarded-For', address) : r).send(report);
      };
      const counts = () =>
        t.collector.db
          .prepare(
            'SELECT (SELECT COUNT(*) FROM reports) AS reports, (SELECT COUNT(*) FROM groups) AS groups',
          )
          .get() as { reports: number; groups: number };

      it("refuses one address's reports that start new groups past its budget, storing nothing and giving back the token's and licence's shares; its reports of known groups, and other senders, go on", async () => {
        behindProxy({ newGroupsBurst: 3, newGroupsPerMin: 1, tokenBurst: 7, licenceBurst: 5 });
        for (const p of ['A', 'B', 'C']) await inGroup('203.0.113.7', p).expect(202);
        const res = await inGroup('203.0.113.7', 'D').expect(429);
        expect(res.body.error).toEqual({
          code: 'rate_limited',
          message: 'Too many new error groups from this address: retry after 60 s.',
        });
        expect(res.headers['retry-after']).toBe('60');
        expect(counts()).toEqual({ reports: 3, groups: 3 });
        // a group it made, and one another sender made, are known: not charged; and the licence's
        // five (per sender) are not spent by the refused one: 3 + these 2
        await inGroup('198.51.100.2', 'E').expect(202);
        await inGroup('203.0.113.7', 'A').expect(202);
        await inGroup('203.0.113.7', 'E').expect(202);
        expect((await inGroup('203.0.113.7', 'A').expect(429)).body.error.message).toMatch(
          /licence/,
        );
        // nor the token's seven: 6 stored, one left
        await inGroup('198.51.100.9', 'A').expect(202);
        expect((await inGroup('198.51.100.10', 'A').expect(429)).body.error.message).toMatch(
          /token/,
        );
        expect(counts()).toEqual({ reports: 7, groups: 4 });
      });

      it("gives the new group's share back when storage cannot take the report", async () => {
        behindProxy({ newGroupsBurst: 1, newGroupsPerMin: 1 });
        // a new day whose key cannot be written: a real storage failure (503)
        const days = path.join(t.dataDir, 'keys', 'days');
        t.clock.advance(86_400_000);
        fs.renameSync(days, `${days}.away`);
        fs.writeFileSync(days, 'not a folder');
        try {
          expect((await inGroup('203.0.113.7', 'NEW').expect(503)).body.error.code).toBe(
            'unavailable',
          );
          await inGroup('203.0.113.7', 'NEW').expect(503);
        } finally {
          fs.rmSync(days);
          fs.renameSync(`${days}.away`, days);
        }
        await inGroup('203.0.113.7', 'NEW').expect(202);
        expect((await inGroup('203.0.113.7', 'NEWER').expect(429)).body.error.message).toMatch(
          /new error groups/,
        );
      });

      it('knows the groups stored before it started', async () => {
        behindProxy({ newGroupsBurst: 1, newGroupsPerMin: 1 });
        await inGroup('203.0.113.7', 'A').expect(202);
        // a new app over the same database, as after a restart
        const again = reopenTestCollector(t, {
          app: {
            rateLimits: {
              newGroupsBurst: 1,
              newGroupsPerMin: 1,
              now: clock,
              senderOf: senderKey(rangesOf(['loopback'])),
            },
          },
        });
        opened.push(again);
        t = again;
        await inGroup('203.0.113.7', 'A').expect(202);
        await inGroup('203.0.113.7', 'B').expect(202);
        await inGroup('203.0.113.7', 'C').expect(429);
      });

      it('does not limit loopback connections, nor at 0 a minute', async () => {
        start({ newGroupsBurst: 1, newGroupsPerMin: 1, senderOf: senderKey() });
        for (let i = 0; i < 20; i++) await inGroup(undefined, `P${i}`).expect(202);
        behindProxy({ newGroupsPerMin: 0 });
        for (let i = 0; i < 20; i++) await inGroup('203.0.113.7', `P${i}`).expect(202);
      });
    });

    it('is not applied at 0 a minute, nor to loopback connections', async () => {
      behindProxy({ addressPerMin: 0 });
      for (let i = 0; i < 40; i++) await postFrom('203.0.113.7', `JCS-${i}`).expect(202);
      // loopback connections, with no proxy trusted
      start({ addressBurst: 2, senderOf: senderKey() });
      for (let i = 0; i < 40; i++) await postFrom(undefined, `JCS-${i}`).expect(202);
      // through a trusted proxy that names no sender: one shared bucket, not none
      behindProxy({ addressBurst: 2 });
      for (let i = 0; i < 2; i++) await postFrom(undefined, `JCS-${i}`).expect(202);
      expect((await postFrom(undefined, 'JCS-9').expect(429)).body.error.message).toMatch(
        /address/,
      );
      await postFrom('203.0.113.7').expect(202);
    });
  });

  it('has no limits when the app is made without them (embedding, tests)', async () => {
    clock = frozen();
    t = makeTestCollector();
    opened.push(t);
    for (let i = 0; i < 40; i++) await post('JCS-1').expect(202);
  });
});

/** The log is written asynchronously: waits (up to 5 s) for a line holding `text`. */
async function logged(c: { logs(): string }, text: string): Promise<void> {
  for (let i = 0; i < 100 && !c.logs().includes(text); i++) {
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

describe('serve --rate-*', () => {
  it('warns at start when --trust-proxy trusts addresses across the internet, and logs the list it trusts', async () => {
    // ::ffff:0:0/96 takes in every IPv4 address, as 0.0.0.0/0 does
    const c = await startCollector({
      serveArgs: ['--no-expiry', '--trust-proxy', 'loopback,::/0,::ffff:0:0/96'],
    });
    try {
      await logged(c, '"msg":"serving"');
      expect(c.logs()).toMatch(/"msg":"--trust-proxy trusts addresses across the internet/);
      const serving = c
        .logs()
        .split('\n')
        .find((l) => l.includes('"msg":"serving"'))!;
      expect(JSON.parse(serving).trustProxy).toEqual(
        expect.arrayContaining(['Subnet: IPv6 ::/0', 'Subnet: IPv4 127.0.0.0/8']),
      );
    } finally {
      expect(await c.stop()).toBe(0);
    }
  });

  it('limits a proxy on loopback that --trust-proxy does not name as one sender, and warns once', async () => {
    const c = await startCollector({
      serveArgs: ['--no-expiry', '--rate-licence-per-min', '1', '--rate-licence-burst', '2'],
    });
    try {
      const post = (xff?: string) => {
        const r = request(c.url)
          .post('/v1/reports')
          .set('Authorization', `Bearer ${c.tokens.ingest}`);
        return (xff ? r.set('X-Forwarded-For', xff) : r).send(makeReport({ license: 'JCS-L' }));
      };
      await post().expect(202);
      await post().expect(202);
      expect((await post().expect(429)).body.error.message).toMatch(/licence/);
      // through the proxy: one sender of its own, apart from plain loopback
      await post('203.0.113.7').expect(202);
      await post('203.0.113.8').expect(202);
      expect((await post('203.0.113.9').expect(429)).body.error.message).toMatch(/licence/);
      await logged(c, 'carries X-Forwarded-For');
      const warned = c
        .logs()
        .split('\n')
        .filter((l) => l.includes('carries X-Forwarded-For'));
      expect(warned).toHaveLength(1);
      expect(warned[0]).toMatch(/give --trust-proxy loopback/);
    } finally {
      expect(await c.stop()).toBe(0);
    }
  });

  it('applies the limits given at serve, and refuses a bad value with exit 2', async () => {
    const bad = collectorCli(['serve', '--rate-licence-per-min', 'lots', '--data-dir', '/none']);
    expect(bad.status).toBe(2);
    expect(bad.stderr).toMatch(/--rate-licence-per-min takes a whole number/);
    const proxy = collectorCli(['serve', '--trust-proxy', 'loopback,nginx', '--data-dir', '/none']);
    expect(proxy).toMatchObject({
      status: 2,
      stderr: expect.stringMatching(/--trust-proxy takes addresses, CIDR ranges .*not "nginx"\n$/),
    });
    const c = await startCollector({
      serveArgs: [
        '--no-expiry',
        '--rate-licence-per-min',
        '1',
        '--rate-licence-burst',
        '2',
        '--trust-proxy',
        'loopback',
        '--rate-address-per-min',
        '1',
        '--rate-address-burst',
        '3',
      ],
    });
    try {
      // through the proxy on loopback, per sender
      const from = (address: string | undefined, license = `JCS-${Math.random()}`) => {
        const r = request(c.url)
          .post('/v1/reports')
          .set('Authorization', `Bearer ${c.tokens.ingest}`);
        return (address ? r.set('X-Forwarded-For', address) : r).send(makeReport({ license }));
      };
      await from('198.51.100.50', 'JCS-A').expect(202);
      await from('198.51.100.50', 'JCS-A').expect(202);
      const res = await from('198.51.100.50', 'JCS-A').expect(429);
      expect(res.body.error.message).toMatch(/licence/);
      expect(Number(res.headers['retry-after'])).toBeGreaterThan(50);
      await from('198.51.100.51', 'JCS-A').expect(202);
      for (let i = 0; i < 3; i++) await from('203.0.113.7').expect(202);
      expect((await from('203.0.113.7').expect(429)).body.error.message).toMatch(/address/);
      await from('203.0.113.8').expect(202);
      // a proxy that names no sender: one shared bucket, and a warning, once
      await from(undefined).expect(202);
      await logged(c, 'names no sender');
      const warned = c
        .logs()
        .split('\n')
        .filter((l) => l.includes('names no sender'));
      expect(warned).toHaveLength(1);
    } finally {
      expect(await c.stop()).toBe(0);
    }
  });
});
