/** The sealed personal fields of one report (crypto/fields.ts), as ingest prepares them. */
export interface SealedFields {
  username: Buffer | null;
  description: Buffer;
  code: Buffer | null;
  dump: Buffer | null;
}

/**
 * A record as read back: its fields, and the tag of the key they were sealed under
 * (crypto/fields.ts keyTag), 0 where the record does not say (written before tags).
 */
export interface SealedRecord extends SealedFields {
  keyTag: number;
}

/** 'JS' and a format number: a record read from the wrong place fails here, not later. */
const MAGIC = 0x4a53;
/**
 * 1 since the start. The key tag is a trailer after the fields, which builds before it ignore,
 * so they still read (and their start-up check still keeps) a record written by a later one.
 * Format 2 put the tag after the id instead, where an earlier build took the record for a torn
 * one and deleted its report: a day's builds wrote it, and it is still read.
 */
const FORMAT = 1;
const FORMAT_TAG_AFTER_ID = 2;
const ABSENT = 0xffffffff;
const FIELDS = ['username', 'description', 'code', 'dump'] as const;

/**
 * One report's record in its day file (store/sealed-files.ts): a header naming the report's id,
 * the four sealed fields, each with its length (absent ones marked so), then the tag of the key
 * that sealed them. The id is no secret (the database holds it too); it lets a reader check that
 * the bytes at a row's offset are that row's, so a damaged offset yields "gone", never another
 * report's data.
 *
 * @example
 * const record = encodeRecord(report.id, prepared);
 * decodeRecord(record, report.id); // { username, description, code, dump, keyTag }
 */
export function encodeRecord(id: string, f: SealedFields & { keyTag?: number }): Buffer {
  const idBytes = Buffer.from(id, 'utf8');
  let size = 5 + idBytes.length + 4 * FIELDS.length + 4;
  for (const name of FIELDS) size += f[name]?.length ?? 0;
  const out = Buffer.allocUnsafe(size);
  out.writeUInt16BE(MAGIC, 0);
  out.writeUInt8(FORMAT, 2);
  out.writeUInt16BE(idBytes.length, 3);
  let at = 5 + idBytes.copy(out, 5);
  for (const name of FIELDS) {
    const field = f[name];
    out.writeUInt32BE(field ? field.length : ABSENT, at);
    at += 4;
    if (field) at += field.copy(out, at);
  }
  // Batches an inbox kept from before tags have none: 0, as a record without the trailer reads.
  out.writeUInt32BE(f.keyTag ?? 0, at);
  return out;
}

/**
 * The fields of a record, or null when the bytes are not the record of `id` (zeroed, damaged).
 * `buf` is the whole record, as long as its row says: the trailer is there when 4 bytes follow
 * the fields.
 */
export function decodeRecord(buf: Buffer, id: string): SealedRecord | null {
  if (buf.length < 5 || buf.readUInt16BE(0) !== MAGIC) return null;
  const format = buf.readUInt8(2);
  if (format !== FORMAT && format !== FORMAT_TAG_AFTER_ID) return null;
  const idLength = buf.readUInt16BE(3);
  let at = 5 + idLength;
  if (at > buf.length || buf.toString('utf8', 5, at) !== id) return null;
  let keyTag = 0;
  if (format === FORMAT_TAG_AFTER_ID) {
    if (at + 4 > buf.length) return null;
    keyTag = buf.readUInt32BE(at);
    at += 4;
  }
  const fields: (Buffer | null)[] = [];
  for (let i = 0; i < FIELDS.length; i++) {
    if (at + 4 > buf.length) return null;
    const length = buf.readUInt32BE(at);
    at += 4;
    if (length === ABSENT) {
      fields.push(null);
      continue;
    }
    if (at + length > buf.length) return null;
    fields.push(buf.subarray(at, at + length));
    at += length;
  }
  if (format === FORMAT && at + 4 === buf.length) keyTag = buf.readUInt32BE(at);
  else if (at !== buf.length) return null; // a record cut short, or run on into another
  const [username, description, code, dump] = fields;
  if (description === null) return null;
  return { username, description, code, dump, keyTag };
}
