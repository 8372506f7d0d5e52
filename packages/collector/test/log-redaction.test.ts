import { makeReport } from '../../../test-support/reports';
import { captureLog } from './helpers/log-capture';

describe('the logger', () => {
  // A second line of defence: no call logs these today, and a mistake that does must not leak.
  test('blanks what may be personal data, at the top of a line and one level down', () => {
    const log = captureLog();
    const report = makeReport({
      username: 'canary-user-7f3a',
      error: { description: 'canary-description-7f3a', code: 'canary-code-7f3a' },
    });
    log.logger.warn({ ...report }, 'a report spread into a line');
    log.logger.warn({ report }, 'a report under its name');
    log.logger.warn({ stored: report }, 'a report under another name');
    log.logger.warn({ error: report.error }, 'its error part');
    log.logger.warn({ got: { body: 'canary-body-7f3a', token: 'canary-token-7f3a' } }, 'a request');
    const text = log
      .lines()
      .map((l) => JSON.stringify(l))
      .join('\n');
    expect(log.lines()).toHaveLength(5);
    expect(text).not.toMatch(/canary/);
    expect(text).toContain(report.id); // ids are not personal data, and are what a log is for
  });

  test('keeps error codes, which are not a line of code', () => {
    const log = captureLog();
    log.logger.warn({ err: 'disk full', code: 'unavailable', route: '/v1/reports' }, 'refused');
    expect(log.lines()[0]).toMatchObject({ err: 'disk full', code: 'unavailable' });
  });
});
