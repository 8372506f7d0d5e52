import { makeReport } from '../../../test-support/reports';
import { serveTestCollector, type ServedCollector } from './helpers/served';
import { rawRequest } from './helpers/raw-http';

/**
 * An error answer repeats back only what is an id: other text in an id's place or a query value
 * may be a name pasted in the wrong place, and personal data stays out of error messages.
 */

let s: ServedCollector;
beforeEach(async () => (s = await serveTestCollector()));
afterEach(() => s.stop());

const NAME = 'Anne-Marie Smith';
const get = (path: string) =>
  rawRequest(s.url, {
    method: 'GET',
    path,
    headers: { Authorization: `Bearer ${s.tokens.engineer}` },
  });

it.each([
  [
    `/v1/reports/${encodeURIComponent(NAME)}`,
    'No report has that id (a report id is a lowercase UUID): list reports with GET /v1/groups/:id/reports.',
  ],
  [
    `/v1/groups/${encodeURIComponent(NAME)}`,
    'No group has that id (a group id is 12 lowercase hex digits): list groups with GET /v1/groups.',
  ],
  [
    `/v1/groups/${encodeURIComponent(NAME)}/reports`,
    'No group has that id (a group id is 12 lowercase hex digits): list groups with GET /v1/groups.',
  ],
])('GET %s: 404 without the text', async (path, message) => {
  const a = await get(path);
  expect(a.status).toBe(404);
  expect(a.json).toEqual({ error: { code: 'not_found', message } });
});

it("an id of the right form is named: it is no one's data", async () => {
  const id = makeReport().id;
  expect((await get(`/v1/reports/${id}`)).json.error.message).toBe(
    `No report ${id}: it may have expired (42 days) or been erased.`,
  );
  expect((await get('/v1/groups/0123456789ab')).json.error.message).toBe(
    'No group 0123456789ab: list groups with GET /v1/groups.',
  );
});

it('a bad since or until names the parameter and the forms, not the value', async () => {
  const a = await get(`/v1/groups?since=${encodeURIComponent(NAME)}`);
  expect(a.status).toBe(400);
  expect(a.json.error.code).toBe('invalid_request');
  expect(a.json.error.details).toEqual([
    { path: 'since', message: 'must be 30m, 12h, 7d, 6w or an ISO date' },
  ]);
  expect(a.text).not.toContain('Anne');
});
