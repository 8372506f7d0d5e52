import { spawnSync } from 'node:child_process';
import { shellWord } from '@jcs/protocol';

/** What a POSIX shell makes of `text` pasted after `printf %s `: the one argument it passes. */
function asShellReadsIt(text: string): string {
  const r = spawnSync('sh', ['-c', `printf %s ${text}`], { encoding: 'utf8' });
  expect(r.stderr).toBe('');
  return r.stdout;
}

describe('shellWord', () => {
  it.each([
    '/var/lib/jcs-collector',
    './jcs-data',
    '/tmp/with space/data',
    "/srv/advisers' data",
    "''",
    '$HOME/data',
    '`id`',
    'a;b|c&d>e<f',
    '*?[x]',
    'tab\there',
    'line\nbreak',
    '~/data',
    '#not-a-comment',
    'dossiers clients/é',
    '',
  ])('%j reaches the command as the same single word', (word) => {
    expect(asShellReadsIt(shellWord(word))).toBe(word);
  });

  it('leaves a path with nothing special in it as it is, so the advice stays easy to read', () => {
    expect(shellWord('/var/lib/jcs-collector')).toBe('/var/lib/jcs-collector');
    expect(shellWord('C:/jcs/data')).toBe('C:/jcs/data');
    expect(shellWord('/tmp/a b')).toBe("'/tmp/a b'");
  });
});
