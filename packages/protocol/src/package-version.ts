import fs from 'node:fs';
import path from 'node:path';

/**
 * The version in a package's package.json, for a bin's `--version`. `dir` is the caller's
 * `__dirname`: the file sits one level up from dist/ and src/ alike.
 *
 * @example
 * program.version(packageVersion(__dirname)); // '1.0.0'
 */
export function packageVersion(dir: string): string {
  const file = path.join(dir, '..', 'package.json');
  return (JSON.parse(fs.readFileSync(file, 'utf8')) as { version: string }).version;
}
