import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { makeCertificate } from '../../../test-support/certificate';
import { startCollector, type RunningCollector } from '../../../test-support/collector';
import { startTestProxy, type TestProxy } from '../../../test-support/test-proxy';
import { startFakeCollector, type FakeCollector } from './support/fake-collector';
import { spawnCli } from './support/spawn-cli';

// jcs-errors through an HTTP proxy, as an engineer in an office that reaches the collector only
// through one: the real bin, a real proxy on loopback (every host name it is asked for is taken
// to mean 127.0.0.1, so `collector.test` needs no DNS), the real collector serving HTTPS.

jest.setTimeout(60_000);

let tls: RunningCollector;
let fake: FakeCollector;
let proxy: TestProxy;
let dir: string;
let caFile: string;

beforeAll(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'jcs-cli-proxy-'));
  caFile = path.join(dir, 'cert.pem');
  const keyFile = path.join(dir, 'key.pem');
  makeCertificate(caFile, keyFile, 'DNS:collector.test,IP:127.0.0.1');
  tls = await startCollector({ serveArgs: ['--tls-cert', caFile, '--tls-key', keyFile] });
  fake = await startFakeCollector();
});
afterAll(async () => {
  await tls.stop();
  await fake.close();
  fs.rmSync(dir, { recursive: true, force: true });
});
beforeEach(async () => {
  proxy = await startTestProxy({ password: 'ann:s3cret' });
});
afterEach(() => proxy.close());

const proxyPort = () => new URL(proxy.url).port;
const tlsServer = () => `https://collector.test:${new URL(tls.url).port}`;
const fakeServer = () => `http://collector.test:${new URL(fake.url).port}`;

describe('jcs-errors through a proxy', () => {
  it('reaches an https:// collector through HTTPS_PROXY in a CONNECT tunnel, with the proxy credentials', async () => {
    const r = await spawnCli(['top', '--json', '--server', tlsServer()], {
      HTTPS_PROXY: `http://ann:s3cret@127.0.0.1:${proxyPort()}`,
      JCS_ERRORS_TOKEN: tls.tokens.engineer,
      NODE_EXTRA_CA_CERTS: caFile,
    });
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout)).toHaveProperty('groups');
    expect(proxy.log.connects).toEqual([`collector.test:${new URL(tls.url).port}`]);
    expect(proxy.log.authorizations).toEqual([
      `Basic ${Buffer.from('ann:s3cret').toString('base64')}`,
    ]);
    // TLS runs to the collector: the proxy never sees the token.
    expect(proxy.log.tunnelled).not.toContain(tls.tokens.engineer);
  });

  it('hands an http:// request to http_proxy whole', async () => {
    const r = await spawnCli(['top', '--json', '--server', fakeServer()], {
      http_proxy: `http://ann:s3cret@127.0.0.1:${proxyPort()}`,
      JCS_ERRORS_TOKEN: fake.tokens.engineer,
    });
    expect(r.code).toBe(0);
    expect(proxy.log.forwarded).toHaveLength(1);
    expect(proxy.log.forwarded[0]).toMatch(
      new RegExp(`^http://collector\\.test:${new URL(fake.url).port}/v1/groups(\\?|$)`),
    );
    expect(r.stderr).toMatch(/warning: the token goes unencrypted/);
  });

  it('goes directly to a host NO_PROXY names, and to loopback always', async () => {
    const env = {
      HTTPS_PROXY: `http://ann:s3cret@127.0.0.1:${proxyPort()}`,
      JCS_ERRORS_TOKEN: tls.tokens.engineer,
      NODE_EXTRA_CA_CERTS: caFile,
    };
    const bypassed = await spawnCli(['top', '--json', '--server', tlsServer()], {
      ...env,
      NO_PROXY: 'example.org, .test',
    });
    // Directly, collector.test has no address: the proxy was not asked.
    expect(bypassed.code).toBe(1);
    expect(bypassed.stderr).toMatch(/^cannot find the host of https:\/\/collector\.test:\d+/);
    const loopback = await spawnCli(['top', '--json', '--server', tls.url], env);
    expect(loopback.code).toBe(0);
    expect(proxy.log.connects).toEqual([]);
  });

  it('says the proxy wants credentials, and how to give them, for a tunnel and a request alike', async () => {
    const tunnel = await spawnCli(['top', '--server', tlsServer()], {
      HTTPS_PROXY: `127.0.0.1:${proxyPort()}`,
      JCS_ERRORS_TOKEN: tls.tokens.engineer,
    });
    const whole = await spawnCli(['top', '--server', fakeServer()], {
      http_proxy: `http://ann:wrong@127.0.0.1:${proxyPort()}`,
      JCS_ERRORS_TOKEN: fake.tokens.engineer,
    });
    for (const r of [tunnel, whole]) {
      expect(r.code).toBe(1);
      expect(r.stderr).toBe(
        `the proxy at 127.0.0.1:${proxyPort()} asks for credentials (HTTP 407): give them, right, in the proxy's URL (http://user:password@127.0.0.1:${proxyPort()}), or set NO_PROXY=collector.test to connect directly\n`,
      );
      expect(r.stderr).not.toContain('wrong');
    }
  });

  it('names the proxy, not the collector, when the proxy cannot be reached', async () => {
    const port = proxyPort();
    await proxy.close();
    const r = await spawnCli(['top', '--server', tlsServer()], {
      https_proxy: `http://ann:s3cret@127.0.0.1:${port}`,
      JCS_ERRORS_TOKEN: tls.tokens.engineer,
    });
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(
      new RegExp(
        `^cannot reach the proxy at 127\\.0\\.0\\.1:${port} \\(ECONNREFUSED\\) on the way to https://collector\\.test:\\d+: check https_proxy, HTTPS_PROXY or http_proxy, or set NO_PROXY=collector\\.test to connect directly\\n$`,
      ),
    );
    expect(r.stderr).not.toContain('s3cret');
    proxy = await startTestProxy();
  });

  it('says so, without its value, when the proxy variable is not an http:// URL, and connects directly', async () => {
    // JCS_DEBUG keeps the warning beside the failure (else a failure is its one line).
    const remote = await spawnCli(['top', '--json', '--server', tlsServer()], {
      HTTPS_PROXY: 'socks5://ann:s3cret@127.0.0.1:1080',
      JCS_ERRORS_TOKEN: tls.tokens.engineer,
      JCS_DEBUG: '1',
    });
    expect(remote.code).toBe(1);
    expect(remote.stderr).toContain(
      `warning: HTTPS_PROXY is not an http:// proxy URL, so jcs-errors connects to collector.test:${new URL(tls.url).port} directly\n`,
    );
    // Directly, collector.test has no address.
    expect(remote.stderr).toMatch(/cannot find the host of https:\/\/collector\.test/);
    expect(remote.stderr).not.toContain('s3cret');
  });
});
