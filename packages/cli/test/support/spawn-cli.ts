import { execFile } from 'node:child_process';
import * as path from 'node:path';

/** The built bin; `npx tsc -b` (the root's pretest) makes it. */
export const BIN = path.resolve(__dirname, '../../dist/bin.js');

export interface SpawnResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/**
 * Runs `node packages/cli/dist/bin.js ...args` as a child process with exactly this environment
 * (plus PATH), asynchronously, so a server in the test's own process can answer it; `input`,
 * where given, is written to its stdin, which is then closed.
 */
export function spawnCli(
  args: string[],
  env: Record<string, string> = {},
  input?: string,
): Promise<SpawnResult> {
  return new Promise((resolve) => {
    const child = execFile(
      process.execPath,
      [BIN, ...args],
      { env: { PATH: process.env.PATH ?? '', ...env }, timeout: 20_000 },
      (error, stdout, stderr) => {
        const code = error ? (typeof error.code === 'number' ? error.code : null) : 0;
        resolve({ code, stdout, stderr });
      },
    );
    if (input !== undefined) child.stdin?.end(input);
  });
}
