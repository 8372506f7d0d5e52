/**
 * `word` as one POSIX shell word, for advice meant to be pasted into a shell (a data dir, a file
 * to chmod): as it is when nothing in it is special to the shell, else single-quoted.
 *
 * @example
 * shellWord('/srv/jcs'); // "/srv/jcs"
 * shellWord("/srv/advisers' data"); // "'/srv/advisers'\\'' data'"
 */
export function shellWord(word: string): string {
  return /^[\w./:@%+,=-]+$/.test(word) ? word : `'${word.replace(/'/g, `'\\''`)}'`;
}
