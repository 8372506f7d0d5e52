import fs from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { spawn } from 'node:child_process';
import {
  makeTempDir,
  startCollector,
  type RunningCollector,
} from '../../../test-support/collector';

/**
 * The README's "Try it" program, run as it is written (only its import pointed at the built SDK,
 * since it runs from a temp dir), against a real collector: a new user's first step must work.
 */

let c: RunningCollector;
beforeAll(async () => (c = await startCollector()));
afterAll(() => c.stop());

function tryItProgram(): string {
  const readme = fs.readFileSync(path.join(__dirname, '../README.md'), 'utf8');
  const section = readme.split('\n## Try it\n')[1]?.split('\n## ')[0] ?? '';
  const code = /```js\n([\s\S]*?)```/.exec(section)?.[1];
  if (!code) throw new Error('packages/sdk/README.md has no js block under "## Try it"');
  return code;
}

it('runs as written: the report is delivered, and the collector has it, dump and all', async () => {
  const code = tryItProgram();
  expect(code).toContain("from '@jcs/sdk'");
  const file = path.join(makeTempDir(), 'try-it.mjs');
  const sdk = pathToFileURL(path.join(__dirname, '../dist/index.js')).href;
  fs.writeFileSync(file, code.replace("'@jcs/sdk'", `'${sdk}'`));

  const child = spawn(process.execPath, [file], {
    env: { ...process.env, JCS_ENDPOINT: `${c.url}/`, JCS_INGEST_TOKEN: c.tokens.ingest },
  });
  let out = '';
  let err = '';
  child.stdout.on('data', (d: Buffer) => (out += d));
  child.stderr.on('data', (d: Buffer) => (err += d));
  const exitCode = await new Promise<number | null>((resolve) => child.on('close', resolve));
  expect({ code: exitCode, err }).toEqual({ code: 0, err: '' });
  const id = /^report ([0-9a-f-]{36}): delivered\n$/.exec(out)?.[1];
  expect(id).toBeDefined();

  const res = await fetch(`${c.url}/v1/reports/${id}?dump=1`, {
    headers: { authorization: `Bearer ${c.tokens.engineer}` },
  });
  expect(res.status).toBe(200);
  const report = await res.json();
  expect(report).toMatchObject({
    license: 'JCS-000123',
    username: 'asmith',
    error: { number: 91, module: 'modClients', procedure: 'LoadClient', line: 120 },
    dump: { clientId: 4711 },
  });
});
