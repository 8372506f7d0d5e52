import { shellWord } from '@jcs/protocol';

/**
 * The `token create` command to paste, as `init` and an empty `token list` advise it: `ROLE` rather
 * than `ingest|engineer|admin` (a shell reads the bars as pipes), and the data dir named, or the
 * token would be made in whatever ./jcs-data the paste runs beside.
 *
 * @example
 * tokenCreateAdvice('/srv/jcs data');
 * // "jcs-collector token create --name NAME --role ROLE --data-dir '/srv/jcs data' (ROLE: ingest, engineer or admin)"
 */
export function tokenCreateAdvice(dataDir: string): string {
  return `jcs-collector token create --name NAME --role ROLE --data-dir ${shellWord(dataDir)} (ROLE: ingest, engineer or admin)`;
}
