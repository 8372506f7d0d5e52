import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

// npm links a package's bins when it installs, before `prepare` builds dist/, and links only
// files that exist then: a bin under dist/ is never linked on a fresh clone, and `npx jcs-errors`
// goes to the registry. Each bin must be a committed, executable file that runs the built program.

const ROOT = path.join(__dirname, '..');
const BINS: [string, string][] = [
  ['cli', 'jcs-errors'],
  ['collector', 'jcs-collector'],
  ['sdk', 'jcs-report'],
];

it.each(BINS)('%s: %s is a committed, executable file outside dist/ that runs', (pkg, name) => {
  const manifest = JSON.parse(
    fs.readFileSync(path.join(ROOT, 'packages', pkg, 'package.json'), 'utf8'),
  ) as { bin: Record<string, string>; files: string[] };
  const target = manifest.bin[name];
  expect(target.startsWith('dist/')).toBe(false);
  expect(manifest.files).toContain(target.split('/')[0]);
  const file = path.join(ROOT, 'packages', pkg, target);
  expect(fs.statSync(file).mode & 0o111).not.toBe(0);
  const tracked = spawnSync('git', ['ls-files', '--error-unmatch', target], {
    cwd: path.join(ROOT, 'packages', pkg),
  });
  // (outside a git checkout, as in a packed copy, there is nothing to ask)
  if (tracked.error === undefined && fs.existsSync(path.join(ROOT, '.git'))) {
    expect(tracked.status).toBe(0);
  }
  const run = spawnSync(file, ['--help'], { encoding: 'utf8' });
  expect(run.status).toBe(0);
  expect(run.stdout + run.stderr).toMatch(new RegExp(name));
});
