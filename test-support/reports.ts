import crypto from 'node:crypto';
import type { Report } from '@jcs/protocol';

/** A valid schema-1 report with a fresh id; override any part. */
export function makeReport(
  overrides: Omit<Partial<Report>, 'error'> & { error?: Partial<Report['error']> } = {},
): Report {
  const { error, ...rest } = overrides;
  return {
    schema: 1,
    id: crypto.randomUUID(),
    occurredAt: new Date().toISOString(),
    app: { name: 'JCS', version: '5.2.1.345' },
    license: 'JCS-000123',
    username: 'asmith',
    ...rest,
    error: {
      number: 91,
      description: 'Object variable or With block variable not set',
      module: 'modClients',
      procedure: 'LoadClient',
      line: 120,
      ...error,
    },
  };
}
