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

const head = (lines: string[]) =>
  [
    'POST /v1/reports HTTP/1.1',
    'Host: localhost',
    `Authorization: Bearer ${s.tokens.ingest}`,
    'Content-Type: application/json',
    ...lines,
  ].join('\r\n') + '\r\n\r\n';
const send = (bytes: string, options?: Parameters<typeof rawSocket>[2]) =>
  rawSocket(s.url, bytes, options);
const reportText = () => JSON.stringify(makeReport());

it('bodies held open past the memory budget: the next is a 503 with Retry-After, not more memory', async () => {
  const saved = bodyBuffer.budgetBytes;
  bodyBuffer.budgetBytes = 3200; // the held 3,000 bytes and not one more report (325)
  try {
    // A client sends 3,000 bytes of a declared 5,000 and stops: they stay in memory meanwhile.
    const holding = send(head(['Content-Length: 5000']) + 'x'.repeat(3000), { waitMs: 1500 });
    for (let i = 0; i < 100 && bodyBuffer.held !== 3000; i++) {
      await new Promise((r) => setTimeout(r, 20));
    }
    expect(bodyBuffer.held).toBe(3000);
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
