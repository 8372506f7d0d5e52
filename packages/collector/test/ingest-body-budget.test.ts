import net from 'node:net';
import { makeReport } from '../../../test-support/reports';
import { bodyBuffer } from '../src/http/body';
import { serveTestCollector, type ServedCollector } from './helpers/served';
import { rawRequest, rawSocket } from './helpers/raw-http';

/**
 * The memory that bodies still arriving may hold at once is bounded: past it the collector
 * answers 503 with Retry-After (the load of other clients, not this one's input), and lets go of
 * a held body when its client gives up.
 */

let s: ServedCollector;
// Rate limits on, with a small token bucket: the collector's own 503s must not spend it.
beforeAll(
  async () =>
    (s = await serveTestCollector({ app: { rateLimits: { tokenBurst: 3, tokenPerMin: 1 } } })),
);
afterAll(() => s.stop());

const head = (lines: string[], token = s.tokens.ingest) =>
  [
    'POST /v1/reports HTTP/1.1',
    'Host: localhost',
    `Authorization: Bearer ${token}`,
    'Content-Type: application/json',
    ...lines,
  ].join('\r\n') + '\r\n\r\n';
const send = (bytes: string, options?: Parameters<typeof rawSocket>[2]) =>
  rawSocket(s.url, bytes, options);
const reportText = () => JSON.stringify(makeReport());
/** Waits (up to 2 s) until bodies still arriving hold `bytes`. */
async function heldReaches(bytes: number): Promise<void> {
  for (let i = 0; i < 100 && bodyBuffer.held !== bytes; i++) {
    await new Promise((r) => setTimeout(r, 20));
  }
  expect(bodyBuffer.held).toBe(bytes);
}

it('bodies held open past the memory budget: the next is a 503 with Retry-After, not more memory', async () => {
  const saved = bodyBuffer.budgetBytes;
  bodyBuffer.budgetBytes = 3200; // the held 3,000 bytes and not one more report (325)
  try {
    // A client sends 3,000 bytes of a declared 5,000 and stops: they stay in memory meanwhile.
    const holding = send(head(['Content-Length: 5000']) + 'x'.repeat(3000), { waitMs: 1500 });
    await heldReaches(3000);
    const post = () =>
      rawRequest(s.url, {
        path: '/v1/reports',
        headers: {
          Authorization: `Bearer ${s.tokens.ingest}`,
          'Content-Type': 'application/json',
        },
        body: reportText(),
      });
    const refused = await post();
    expect(refused.status).toBe(503);
    expect(refused.json.error.code).toBe('unavailable');
    expect(refused.headers['retry-after']).toBe('1');
    await holding; // the client gives up: its bytes are let go
    expect(bodyBuffer.held).toBe(0);
    expect((await post()).status).toBe(202);
  } finally {
    bodyBuffer.budgetBytes = saved;
  }
});

it('a 503 for too much at once is not charged to the token: the fleet shares it', async () => {
  const saved = bodyBuffer.budgetBytes;
  const post = () =>
    rawRequest(s.url, {
      path: '/v1/reports',
      headers: { Authorization: `Bearer ${s.tokens.ingest}`, 'Content-Type': 'application/json' },
      body: reportText(),
    });
  bodyBuffer.budgetBytes = 10;
  try {
    for (let i = 0; i < 3; i++) expect((await post()).status).toBe(503);
  } finally {
    bodyBuffer.budgetBytes = saved;
  }
  // The first test took two from the bucket of 3 (the body its client gave up on, and one
  // report); the 503s above took none: one is left.
  expect((await post()).status).toBe(202);
  expect((await post()).status).toBe(429);
});

it('when the budget is full, a body slow to arrive gives way to a new one', async () => {
  const saved = { ...bodyBuffer };
  bodyBuffer.budgetBytes = 3200;
  bodyBuffer.slowMs = 300;
  try {
    // One client holds most of the budget with a body it stopped sending. (The admin token, which
    // may post reports too: the tests above spent the ingest token's small bucket.)
    const admin = s.tokens.admin;
    const holding = send(head(['Content-Length: 5000'], admin) + 'x'.repeat(3000), {
      waitMs: 3000,
    });
    await heldReaches(3000);
    const post = () =>
      rawRequest(s.url, {
        path: '/v1/reports',
        headers: { Authorization: `Bearer ${admin}`, 'Content-Type': 'application/json' },
        body: reportText(),
      });
    // Not yet slow: the newcomer is the one refused.
    expect((await post()).status).toBe(503);
    await new Promise((r) => setTimeout(r, 400));
    // Slow now: it gives way, with a 503 of its own, and the newcomer is read.
    const answer = await post();
    expect(answer.status).not.toBe(503);
    expect(answer.status).toBeLessThan(500);
    const raw = await holding;
    expect(raw).toMatch(/^HTTP\/1\.1 503 /);
    expect(raw).toMatch(/slow to arrive/);
    expect(bodyBuffer.held).toBe(0);
  } finally {
    Object.assign(bodyBuffer, { budgetBytes: saved.budgetBytes, slowMs: saved.slowMs });
  }
});

it('a slow body that needs room for its own next chunk is refused, its bytes all let go', async () => {
  const saved = { ...bodyBuffer };
  bodyBuffer.budgetBytes = 3200;
  bodyBuffer.slowMs = 300;
  try {
    // 3,000 bytes of a declared 5,000, a pause past slowMs, then 1,000 more: past the budget,
    // with no other body to give way.
    const { port } = new URL(s.url);
    const raw = await new Promise<string>((resolve) => {
      let received = '';
      const socket = net.connect(Number(port), '127.0.0.1', () => {
        socket.write(head(['Content-Length: 5000'], s.tokens.admin) + 'x'.repeat(3000));
        setTimeout(() => socket.write('x'.repeat(1000)), 500);
      });
      socket.setEncoding('utf8');
      socket.on('data', (d: string) => (received += d));
      socket.on('error', () => {});
      socket.on('close', () => resolve(received));
      setTimeout(() => socket.destroy(), 1500);
    });
    expect(raw).toMatch(/^HTTP\/1\.1 503 /);
    expect(bodyBuffer.held).toBe(0);
  } finally {
    Object.assign(bodyBuffer, { budgetBytes: saved.budgetBytes, slowMs: saved.slowMs });
  }
});
