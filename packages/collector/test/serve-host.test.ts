import os from 'node:os';
import path from 'node:path';
import { makeTempDir } from '../../../test-support/collector';
import { runCollector, spawnServe } from './helpers/serve-process';

/**
 * `serve --host`: plain HTTP off loopback is allowed (behind a TLS-terminating proxy) but said
 * on stderr, since the contract keeps plain HTTP for loopback; a host that does not resolve is
 * one line that names --host.
 */

jest.setTimeout(60_000);

function initialised(): string {
  const dir = path.join(makeTempDir(), 'data');
  expect(runCollector(['init', '--data-dir', dir]).status).toBe(0);
  return dir;
}

it('a port that fetch blocks (jcs-errors could not connect) is warned of at start', async () => {
  const dir = initialised();
  // The first of these that nothing else on the machine listens on.
  let blocked: Awaited<ReturnType<typeof spawnServe>> | undefined;
  let port = 0;
  for (port of [6566, 6665, 6666, 6667, 6668, 6669, 6679, 6697, 10080]) {
    blocked = await spawnServe(dir, ['--port', String(port), '--no-expiry']).catch(() => undefined);
    if (blocked) break;
  }
  if (!blocked) throw new Error('every blocked port is in use here');
  try {
    const line = `port ${port} is one the Fetch standard blocks: jcs-errors (Node's fetch) cannot connect to it; serve on another port (8080, say)`;
    await blocked.waitForLog(/"msg":"serving"/);
    expect(blocked.stderr()).toContain(`jcs-collector: ${line}\n`);
    expect(blocked.stderr()).toContain(`"msg":"${line}"`);
  } finally {
    blocked.child.kill('SIGTERM');
    expect(await blocked.exited).toBe(0);
  }
});

it('plain HTTP on every interface warns on stderr; on loopback it does not', async () => {
  const dir = initialised();
  const open = await spawnServe(dir, ['--host', '0.0.0.0', '--no-expiry']);
  try {
    await open.waitForLog(/serving plain HTTP on 0\.0\.0\.0/);
    expect(open.stderr()).toContain(
      'jcs-collector: serving plain HTTP on 0.0.0.0: tokens and reports cross the network unencrypted; ' +
        'use --tls-cert and --tls-key, or keep it behind a TLS-terminating proxy\n',
    );
    // and in the JSON log, where a log shipper's alert on warnings sees it
    await open.waitForLog(/"level":40,[^\n]*"msg":"serving plain HTTP on 0\.0\.0\.0: /);
  } finally {
    open.child.kill('SIGTERM');
    expect(await open.exited).toBe(0);
  }
  const local = await spawnServe(dir, ['--host', '127.0.0.1', '--no-expiry']);
  try {
    await local.waitForLog(/"msg":"serving"/);
    expect(local.stderr()).not.toContain('plain HTTP');
  } finally {
    local.child.kill('SIGTERM');
    expect(await local.exited).toBe(0);
  }
});

it('a host that does not resolve: exit 1 and one line that names --host', () => {
  const r = runCollector([
    'serve',
    '--host',
    'no-such-host.invalid',
    '--port',
    '0',
    '--data-dir',
    initialised(),
  ]);
  expect(r.status).toBe(1);
  expect(r.stdout).toBe('');
  expect(r.stderr).toBe(
    'jcs-collector: cannot listen on no-such-host.invalid:0: no such host name or address: check --host (an address of this machine, such as 127.0.0.1)\n',
  );
});

// A link-local IPv6 address needs its zone (the interface), which no URL can hold.
const linkLocal = Object.entries(os.networkInterfaces())
  .flatMap(([name, addrs]) => (addrs ?? []).map((a) => ({ name, ...a })))
  .find((a) => a.family === 'IPv6' && a.address.startsWith('fe80:'));
if (!linkLocal) console.warn('serve-host: no link-local IPv6 address here: zone test not run');
(linkLocal ? it : it.skip)('serves on a link-local IPv6 address with its zone', async () => {
  const host = `${linkLocal!.address}%${linkLocal!.name}`;
  const served = await spawnServe(initialised(), ['--host', host, '--no-expiry']);
  try {
    await served.waitForLog(/"msg":"serving"/);
  } finally {
    served.child.kill('SIGTERM');
    expect(await served.exited).toBe(0);
  }
});
