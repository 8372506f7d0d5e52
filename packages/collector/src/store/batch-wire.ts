import type { PreparedReport } from './ingest-writer';

/** A batch of prepared reports as it crosses to the writer thread (store/writer-thread.ts). */
export interface WireBatch {
  /** the reports as JSON, each byte field replaced by its length (null when absent) */
  meta: string;
  /** every byte field of the batch, one after another in the order `meta` lists them */
  bytes: ArrayBuffer;
}

const BYTE_FIELDS = ['userHash', 'username', 'description', 'code', 'dump'] as const;
type ByteField = (typeof BYTE_FIELDS)[number];
type WireReport = Omit<PreparedReport, ByteField> & Record<ByteField, number | null>;

/**
 * Packs a batch into one string and one buffer that is transferred, not copied. Why: posted as
 * objects, each report's sealed fields are small Buffers cut from Node's shared 8 KiB pool, and
 * structured clone copies the whole pool slab behind each one, then walks twenty properties per
 * report; measured under load, that was about twice the time of this packing and its transfer.
 *
 * @example
 * const wire = packBatch(items);
 * worker.postMessage({ type: 'write', id, batch: wire }, [wire.bytes]);
 * // on the thread:
 * writer.write(unpackBatch(m.batch), false);
 */
export function packBatch(items: PreparedReport[]): WireBatch {
  let size = 0;
  for (const r of items) for (const f of BYTE_FIELDS) size += r[f]?.length ?? 0;
  const bytes = new Uint8Array(size);
  let at = 0;
  const wire = items.map((r): WireReport => {
    const lengths = {} as Record<ByteField, number | null>;
    for (const f of BYTE_FIELDS) {
      const field = r[f];
      lengths[f] = field ? field.length : null;
      if (field) {
        bytes.set(field, at);
        at += field.length;
      }
    }
    return { ...r, ...lengths };
  });
  return { meta: JSON.stringify(wire), bytes: bytes.buffer };
}

/** The batch packBatch() packed; its byte fields are views of the one transferred buffer. */
export function unpackBatch(batch: WireBatch): PreparedReport[] {
  const bytes = Buffer.from(batch.bytes);
  let at = 0;
  const take = (length: number | null): Buffer | null => {
    if (length === null) return null;
    at += length;
    return bytes.subarray(at - length, at);
  };
  return (JSON.parse(batch.meta) as WireReport[]).map((w) => ({
    ...w,
    userHash: take(w.userHash),
    username: take(w.username),
    description: take(w.description)!,
    code: take(w.code),
    dump: take(w.dump),
  }));
}
