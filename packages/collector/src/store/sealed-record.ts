/** The sealed personal fields of one report (crypto/fields.ts), as ingest prepares them. */
export interface SealedFields {
  username: Buffer | null;
  description: Buffer;
  code: Buffer | null;
  dump: Buffer | null;
}

/**
 * A record as read back: its fields, and the tag of the key they were sealed under
 * (crypto/fields.ts keyTag), 0 where the record does not say (format 1, before tags).
 */
export interface SealedRecord extends SealedFields {
  keyTag: number;
}

/** 'JS' and a format number: a record read from the wrong place fails here, not later. */
const MAGIC = 0x4a53;
/** 2 adds the key tag after the id; format 1 records (without it) are still read. */
const FORMAT = 2;
const ABSENT = 0xffffffff;
const FIELDS = ['username', 'description', 'code', 'dump'] as const;

/**
 * One report's record in its day file (store/sealed-files.ts): a header naming the report's id
 * and the tag of the key that sealed it, then the four sealed fields, each with its length
 * (absent ones marked so). The id is no secret (the database holds it too); it lets a reader
 * check that the bytes at a row's offset are that row's, so a damaged offset yields "gone", never
 * another report's data.
 *
 * @example
 * const record = encodeRecord(report.id, prepared);
 * decodeRecord(record, report.id); // { username, description, code, dump, keyTag }
 */
export function encodeRecord(id: string, f: SealedFields & { keyTag?: number }): Buffer {
  const idBytes = Buffer.from(id, 'utf8');
  let size = 5 + idBytes.length + 4 + 4 * FIELDS.length;
  for (const name of FIELDS) size += f[name]?.length ?? 0;
  const out = Buffer.allocUnsafe(size);
  out.writeUInt16BE(MAGIC, 0);
  out.writeUInt8(FORMAT, 2);
  out.writeUInt16BE(idBytes.length, 3);
  let at = 5 + idBytes.copy(out, 5);
  // Batches an inbox kept from before tags have none: 0, as in a format 1 record.
  out.writeUInt32BE(f.keyTag ?? 0, at);
  at += 4;
  for (const name of FIELDS) {
    const field = f[name];
    out.writeUInt32BE(field ? field.length : ABSENT, at);
    at += 4;
    if (field) at += field.copy(out, at);
  }
  return out;
}

/** The fields of a record, or null when the bytes are not the record of `id` (zeroed, damaged). */
export function decodeRecord(buf: Buffer, id: string): SealedRecord | null {
  if (buf.length < 5 || buf.readUInt16BE(0) !== MAGIC) return null;
  const format = buf.readUInt8(2);
  if (format !== 1 && format !== FORMAT) return null;
  const idLength = buf.readUInt16BE(3);
  let at = 5 + idLength;
  if (at > buf.length || buf.toString('utf8', 5, at) !== id) return null;
  let keyTag = 0;
  if (format === FORMAT) {
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
  const [username, description, code, dump] = fields;
  if (description === null) return null;
  return { username, description, code, dump, keyTag };
}
