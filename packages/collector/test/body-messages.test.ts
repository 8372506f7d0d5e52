import { makeReport } from '../../../test-support/reports';
import { serveTestCollector, type ServedCollector } from './helpers/served';
import { rawRequest } from './helpers/raw-http';
import { ingestRowCounts } from './helpers/ingest-rows';

/**
 * A body that is not JSON gets the same words on every route that takes one: where parsing
 * stopped, or what the client must change (a byte-order mark), under the route's own code.
 */

let s: ServedCollector;
beforeEach(async () => (s = await serveTestCollector()));
afterEach(() => s.stop());

const send = (method: string, path: string, token: string, body: string) =>
  rawRequest(s.url, {
    method,
    path,
    body,
    headers: { 'Content-Type': 'application/json', Authorization: `Bearer ${token}` },
  });

describe('a byte-order mark before the JSON', () => {
  it('POST /v1/reports: 400 invalid_json that names it, and nothing is stored', async () => {
    const before = ingestRowCounts(s.collector.db);
    const a = await send(
      'POST',
      '/v1/reports',
      s.tokens.ingest,
      `\uFEFF${JSON.stringify(makeReport())}`,
    );
    expect(a.status).toBe(400);
    expect(a.json).toEqual({
      error: {
        code: 'invalid_json',
        message:
          'The request body starts with a byte-order mark (U+FEFF): send the JSON without it.',
        details: [{ path: '', message: 'must be JSON without a byte-order mark' }],
      },
    });
    expect(ingestRowCounts(s.collector.db)).toEqual(before);
  });

  it('PATCH /v1/groups/:id: 400 invalid_request with the same words', async () => {
    const report = makeReport();
    const stored = await send('POST', '/v1/reports', s.tokens.ingest, JSON.stringify(report));
    expect(stored.status).toBe(202);
    const a = await send(
      'PATCH',
      `/v1/groups/${stored.json.group}`,
      s.tokens.engineer,
      '\uFEFF{"status": "resolved"}',
    );
    expect(a.status).toBe(400);
    expect(a.json.error).toMatchObject({
      code: 'invalid_request',
      message: 'The request body starts with a byte-order mark (U+FEFF): send the JSON without it.',
    });
  });
});

it('a PATCH body cut off says where parsing stopped, as a report does', async () => {
  const stored = await send('POST', '/v1/reports', s.tokens.ingest, JSON.stringify(makeReport()));
  const a = await send(
    'PATCH',
    `/v1/groups/${stored.json.group}`,
    s.tokens.engineer,
    '{"status": ',
  );
  expect(a.status).toBe(400);
  expect(a.json.error.code).toBe('invalid_request');
  expect(a.json.error.message).toMatch(/^The request body is not valid JSON \(at .+\)\.$/);
});
