import { describeError, type DiagnosticSink } from '../diagnostics';
import type { ResolvedOptions } from '../options';
import { DiskQueue } from './disk-queue';
import { FallbackQueue } from './fallback-queue';
import { MemoryQueue } from './memory-queue';
import type { ReportQueue } from './types';

/**
 * The reporter's queue: on disk in `queueDir` (falling back to memory, report by report, when a
 * write fails), or in memory for the run when there is no `queueDir` or it cannot be used. Both
 * are bounded; what they drop or cannot keep is a diagnostic.
 *
 * @example
 * const queue = openReportQueue(resolveOptions(options), diagnostic);
 * queue.add(report);
 */
export function openReportQueue(
  o: Pick<ResolvedOptions, 'maxQueueReports' | 'maxQueueBytes' | 'queueDir' | 'queueKey'>,
  diagnostic: DiagnosticSink,
): ReportQueue {
  const bounds = { maxReports: o.maxQueueReports, maxBytes: o.maxQueueBytes };
  const onOverflow = (reportId: string) =>
    diagnostic({
      code: 'queue_overflow',
      message: `the queue was full (at most ${bounds.maxReports} reports, ${bounds.maxBytes} bytes); the oldest report was dropped`,
      reportId,
    });
  const onDumpShed = (reportId: string) =>
    diagnostic({
      code: 'dump_withheld',
      message: `the queue was full (at most ${bounds.maxBytes} bytes); a waiting report's dump was dropped to keep the report, which goes with dumpWithheld "too-large"`,
      reportId,
    });
  const memory = new MemoryQueue(bounds, onOverflow, onDumpShed);
  if (o.queueDir === undefined) return memory;
  let disk: DiskQueue;
  try {
    disk = new DiskQueue(
      o.queueDir,
      bounds,
      {
        onOverflow,
        onDumpShed,
        onCorrupt: () =>
          diagnostic({
            code: 'queue_corrupt',
            message:
              'a queue file was not a valid report; moved to the corrupt/ folder of the queue',
          }),
        onUnreadable: () =>
          diagnostic({
            code: 'queue_read_failed',
            message:
              'a queue file could not be read (a permission or a lock); left in the queue and tried again in 30 s',
          }),
      },
      o.queueKey,
    );
  } catch (e) {
    diagnostic({
      code: 'queue_unavailable',
      message: `the queue directory cannot be used (${describeError(e)}); reports are held in memory for this run`,
    });
    return memory;
  }
  return new FallbackQueue(disk, memory, (reportId, e) =>
    diagnostic({
      code: 'queue_write_failed',
      message: `the report could not be written to the queue directory (${describeError(e)}); held in memory until the directory takes a report again`,
      reportId,
    }),
  );
}
