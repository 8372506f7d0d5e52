import { isLoopbackHost } from '@jcs/protocol';
import type { Collector } from '../collector';
import type { Logger } from '../log';
import type { DiskReserve } from '../ingest/disk-reserve';
import { fetchBlocksPort } from '../http/fetch-blocked-ports';
import { trustsTheInternet } from '../auth/client-address';
import { keepHeadAtBreak } from '../store/audit-marks';
import { looseModes } from './data-dir-modes';
import type { Output } from './output';
import type { ServeOptions } from './serve';

export interface StartState {
  o: ServeOptions;
  out: Output;
  log: Logger;
  c: Collector;
  reserve: DiskReserve;
  /** the port listened on, from the socket */
  port: number;
  /** what is wrong with the served certificate's dates, if anything */
  certificateWrong: () => string | undefined;
}

/**
 * What `serve` warns of once it listens: a certificate out of its dates, plain HTTP off loopback,
 * files open to other users, a disk under its reserve, an access log whose newest entries are not
 * as the head mark says, a port the Fetch standard blocks, a `--trust-proxy` that trusts the
 * internet. Each on stderr for whoever started serve by hand, as a plain line, and in the log
 * for its readers, as JSON. None stops serve: each is a risk to mend, not a reason to refuse.
 *
 * @example
 * sayStartWarnings({ o, out, log, c, reserve, port: 8080, certificateWrong: () => undefined });
 */
export function sayStartWarnings(s: StartState): void {
  const { o, out, log, c, reserve } = s;
  const warnAtStart = (line: string) => {
    out.err(`jcs-collector: ${line}`);
    log.warn(line);
  };
  const datesWrong = s.certificateWrong();
  if (datesWrong) warnAtStart(datesWrong);
  if (!o.tlsCert && !isLoopbackHost(o.host)) {
    // The contract: plain HTTP is for loopback or behind a TLS-terminating proxy.
    warnAtStart(
      `serving plain HTTP on ${o.host}: tokens and reports cross the network unencrypted; ` +
        'use --tls-cert and --tls-key, or keep it behind a TLS-terminating proxy',
    );
  }
  looseModes(o.dataDir).forEach(warnAtStart);
  if (reserve.isShort) {
    // The log said it as the reserve was read; whoever started serve by hand reads it here.
    out.err(
      `jcs-collector: the data dir's disk has ${mib(reserve.freeBytes ?? 0)} free, under the ${mib(reserve.minFreeBytes ?? 0)} --min-free-disk keeps: reports are refused (503) until space is freed`,
    );
  }
  const tail = c.audit.checkTail();
  if (tail.state === 'broken') {
    // Before any entry of this run moves the mark on: the evidence of where the log stood.
    const kept = keepHeadAtBreak(c.keyring.dir, Date.now());
    const said = auditTailBroken(tail.brokenAt, kept);
    out.err(`jcs-collector: ${said}`);
    log.error({ brokenAt: tail.brokenAt, kept: kept ?? null }, said);
  } else if (tail.state === 'missing') {
    warnAtStart(
      'keys/audit-head.json is missing or unreadable, so access-log entries cut off before this start would not show; serve writes it again with its next entry, and if it was removed, find out who removed it',
    );
  }
  if (fetchBlocksPort(s.port)) {
    warnAtStart(
      `port ${s.port} is one the Fetch standard blocks: jcs-errors (Node's fetch) cannot connect to it; serve on another port (8080, say)`,
    );
  }
  if (o.trustProxy && trustsTheInternet(o.trustProxy)) {
    warnAtStart(
      '--trust-proxy trusts addresses across the internet (a range such as 0.0.0.0/0, ::/0 or ::ffff:0:0/96): any client can name any sender in X-Forwarded-For and so escape the per-address limit; name only your proxies',
    );
  }
}

/** What serve says at start when the access log's newest entries are not as the head mark says. */
function auditTailBroken(brokenAt: number, kept: string | undefined): string {
  const copy = kept
    ? `the mark as it was is kept as keys/${kept}`
    : 'the mark as it was could not be copied';
  return `the access log's newest entries are not as the keys folder's head mark says, from entry ${brokenAt} (cut off or changed since the last run: a write-ahead log deleted, or a database put back from an older copy; acknowledged reports may be missing too); ${copy}: keep it and collector.db as evidence, and run jcs-collector audit verify`;
}

/** Bytes for a line of text, to a tenth: 12.5 MiB, 79.4 GiB. */
function mib(bytes: number): string {
  const [unit, size] = bytes >= 2 ** 30 ? ['GiB', 2 ** 30] : ['MiB', 2 ** 20];
  return `${Math.floor((bytes / size) * 10) / 10} ${unit}`;
}
