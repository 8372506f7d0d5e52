import type { Report } from '../src';

/** A valid report with every optional field but the dump; tests change one thing at a time. */
export function validReport(overrides: Partial<Report> = {}): Report {
  return {
    schema: 1,
    id: '3f2b8c1e-9a4d-4e6f-8b2a-1c3d5e7f9a0b',
    occurredAt: '2026-11-28T10:15:00Z',
    app: { name: 'JCS', version: '5.2.1.345' },
    license: 'JCS-000123',
    username: 'asmith',
    error: {
      number: 91,
      description: 'Object variable or With block variable not set',
      module: 'modClients',
      procedure: 'LoadClient',
      line: 120,
      code: 'Set rs = db.OpenRecordset(sql)',
    },
    repeats: 0,
    ...overrides,
  };
}
