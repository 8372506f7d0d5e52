import * as fs from 'node:fs';
import * as path from 'node:path';
import { run } from '../src';
import { startFakeCollector, type FakeCollector } from './support/fake-collector';
import { NOW } from './support/fixtures';

// The examples in docs/cli.md are the CLI's real output for the test fixtures, so the manual
// cannot drift from the program: every "$ jcs-errors ..." in a code block is run and compared.

const DOC = path.resolve(__dirname, '../../../docs/cli.md');

interface Example {
  args: string[];
  expected: string;
}

function examples(): Example[] {
  const blocks: string[][] = [];
  let block: string[] | null = null;
  for (const line of fs.readFileSync(DOC, 'utf8').split('\n')) {
    if (line.startsWith('```')) {
      if (block) blocks.push(block);
      block = block ? null : [];
    } else if (block) {
      block.push(line);
    }
  }
  const out: Example[] = [];
  for (const lines of blocks) {
    // Blocks that elide part of the output ("...") show a fragment only.
    if (lines.includes('...')) continue;
    for (const chunk of `${lines.join('\n')}\n`.split(/^(?=\$ jcs-errors )/m)) {
      const m = /^\$ jcs-errors (.*)\n([\s\S]*)$/.exec(chunk);
      if (m) out.push({ args: m[1].split(' '), expected: m[2] });
    }
  }
  return out;
}

let fake: FakeCollector;
beforeEach(async () => {
  fake = await startFakeCollector();
});
afterEach(() => fake.close());

test('docs/cli.md has examples of every command', () => {
  const commands = new Set(examples().map((e) => e.args.filter((a) => !a.startsWith('-'))[0]));
  for (const name of ['top', 'show', 'reports', 'report', 'resolve', 'ignore', 'reopen']) {
    expect(commands).toContain(name);
  }
  for (const name of ['audit', 'expire', 'status', 'erase']) expect(commands).toContain(name);
});

test.each(examples().map((e) => [e.args.join(' '), e] as const))(
  'jcs-errors %s prints what docs/cli.md shows',
  async (_name, example) => {
    if (example.expected.includes('NOT COMPLIANT')) {
      fake.fixtures.status = {
        ...fake.fixtures.status,
        compliant: false,
        oldestReceivedAt: '2026-10-01T00:00:00Z',
        lastExpiry: { at: '2026-11-25T02:00:00Z', deletedReports: 0, destroyedKeys: 0 },
      };
    }
    // A wide example was made on a terminal as wide as its longest line.
    const width = Math.max(80, ...example.expected.split('\n').map((l) => [...l].length));
    const r = await run(example.args, {
      env: {
        JCS_ERRORS_SERVER: fake.url,
        JCS_ERRORS_TOKEN: fake.tokens.admin,
        COLUMNS: String(width),
      },
      homeDir: '/nonexistent',
      stdoutIsTTY: false,
      now: () => NOW,
    });
    if (process.env.UPDATE_DOCS === '1' && r.stdout !== example.expected) {
      // After a deliberate change of output: `UPDATE_DOCS=1 npx jest docs.test` rewrites the
      // example from what the CLI printed (then read the diff of docs/cli.md before committing).
      const command = `$ jcs-errors ${example.args.join(' ')}\n`;
      const doc = fs.readFileSync(DOC, 'utf8');
      fs.writeFileSync(
        DOC,
        doc.replace(`${command}${example.expected}`, () => `${command}${r.stdout}`),
      );
      return;
    }
    expect(r.stdout).toBe(example.expected);
  },
);
