import request from 'supertest';
import { groupId } from '@jcs/protocol';
import { makeTestCollector } from '../../../test-support/app';
import { makeReport } from '../../../test-support/reports';
import { KnownGroups } from '../src/ingest/known-groups';

describe('KnownGroups', () => {
  it('knows the groups in the database and those it was told of, forgetting the oldest told past its bound', async () => {
    const t = makeTestCollector();
    try {
      const report = makeReport();
      await request(t.app)
        .post('/v1/reports')
        .set('Authorization', `Bearer ${t.tokens.ingest}`)
        .send(report)
        .expect(202);
      const e = report.error;
      const stored = groupId(report.app.name, e.number, e.module, e.procedure);
      const known = new KnownGroups(t.collector.db, 2);
      expect(known.has(stored)).toBe(true);
      expect(known.has('0123456789ab')).toBe(false);
      // told of (stored but, as in the inbox during expiry, not yet in the table)
      known.add('000000000001');
      expect(known.has('000000000001')).toBe(true);
      // two kept: the stored group, learnt first, is forgotten, and found in the table again
      known.add('000000000002');
      expect(known.has(stored)).toBe(true);
      // which pushed out 000000000001, which the table does not have
      expect(known.has('000000000001')).toBe(false);
    } finally {
      t.close();
    }
  });
});
