import { spawnSync } from 'node:child_process';
import { createReporter } from '@jcs/sdk';
import { startCollector, CLI_BIN, type RunningCollector } from '../test-support/collector';

/**
 * The vertical slice, every part real: `jcs-collector serve` as a child process on a temp data
 * dir, reports sent through the SDK over a real socket, and `jcs-errors top --json` as a child
 * process reading them back.
 */
let c: RunningCollector;
// Starting a collector runs the bin five times (init, three tokens, serve): slow on a busy machine.
beforeAll(async () => {
  c = await startCollector();
}, 60_000);
afterAll(async () => {
  await c.stop();
});

function jcsErrors(args: string[]) {
  return spawnSync(process.execPath, [CLI_BIN, ...args], {
    encoding: 'utf8',
    env: {
      ...process.env,
      JCS_ERRORS_SERVER: c.url,
      JCS_ERRORS_TOKEN: c.tokens.engineer,
      NO_COLOR: '1',
    },
  });
}

it('reports sent with the SDK are counted by jcs-errors top --json', async () => {
  const reporter = createReporter({
    endpoint: c.url,
    token: c.tokens.ingest,
    publicKey: c.publicKey,
    keyId: c.keyId,
    app: { name: 'JCS', version: '5.2.1.345' },
    license: 'JCS-000123',
    username: 'asmith',
    dumpConsent: true,
  });
  const ids = [
    ...Array.from({ length: 3 }, () =>
      reporter.report({
        number: 91,
        description: 'Object variable or With block variable not set',
        module: 'modClients',
        procedure: 'LoadClient',
        line: 212,
        data: { client: 'Mrs J Smith' },
      }),
    ),
    reporter.report({
      number: 13,
      description: 'Type mismatch',
      module: 'modValuation',
      procedure: 'CalcFundValue',
      line: 88,
    }),
  ];
  expect(new Set(ids).size).toBe(4);
  expect(await reporter.close(10_000)).toBe(true);

  const top = jcsErrors(['top', '--json']);
  expect(top.status).toBe(0);
  const body = JSON.parse(top.stdout);
  const counts = Object.fromEntries(
    body.groups.map((g: { number: number; count: number }) => [g.number, g.count]),
  );
  expect(counts).toEqual({ 91: 3, 13: 1 });

  const table = jcsErrors(['top']);
  expect(table.status).toBe(0);
  expect(table.stdout).toMatch(/Object variable or With block/);
  expect(table.stdout).toMatch(/modValuation\.CalcFundValue/);
});
