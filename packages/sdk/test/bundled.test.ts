import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { cleanupTempDirs, tempDir } from './helpers/fixtures';

/**
 * The SDK bundled with its host (webpack, esbuild, an Electron app's main bundle): its files sit
 * in the host's own folder, so a path no longer tells the SDK's frames from the host's. Here the
 * built SDK is copied beside a host's main.js, as a bundler's output leaves them.
 */
afterAll(() => cleanupTempDirs());

const DIST = path.join(__dirname, '../dist');
const NODE_MODULES = path.join(__dirname, '../../../node_modules');

const HOST = `
const { createReporter } = require('./index.js');
const reporter = createReporter({
  endpoint: 'https://errors.example/', token: 't', keyId: 'k1',
  publicKey: Buffer.alloc(32, 1).toString('base64'),
  app: { name: 'JCS', version: '5.2.1.345' }, license: 'JCS-000123',
  // Prints what would be sent, and sends nothing.
  beforeSend: (r) => { console.log(JSON.stringify(r.error)); return null; },
});
function loadClient() {
  throw new TypeError('client is undefined');
}
function saveClient() {
  throw 'disk full';
}
try { loadClient(); } catch (e) { reporter.captureException(e); }
try { saveClient(); } catch (e) { reporter.captureException(e); }
reporter.close(100);
`;

it('captureException takes module, procedure and line from the host, not "(unknown)"', () => {
  if (!fs.existsSync(path.join(DIST, 'index.js')))
    throw new Error('build the SDK first: npx tsc -b');
  const dir = tempDir();
  fs.cpSync(DIST, dir, { recursive: true });
  fs.writeFileSync(path.join(dir, 'main.js'), HOST);
  const r = spawnSync(process.execPath, [path.join(dir, 'main.js')], {
    encoding: 'utf8',
    env: { ...process.env, NODE_PATH: NODE_MODULES },
  });
  expect(r.stderr).toBe('');
  const [thrown, caught] = r.stdout
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l));
  expect(thrown).toMatchObject({
    module: 'main',
    procedure: 'loadClient',
    line: 11,
    code: "throw new TypeError('client is undefined');",
  });
  // A thrown string has no stack: where it was caught, in the host, not in the SDK.
  expect(caught).toMatchObject({ description: 'disk full', module: 'main', line: 17 });
  expect(caught.procedure).not.toMatch(/captureException|captureFields/);
});
