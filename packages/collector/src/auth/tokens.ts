import crypto from 'node:crypto';

export type Role = 'ingest' | 'engineer' | 'admin';
export const ROLES: readonly Role[] = ['ingest', 'engineer', 'admin'];

const PREFIX: Record<Role, string> = {
  ingest: 'jcs_ing_',
  engineer: 'jcs_eng_',
  admin: 'jcs_adm_',
};
const BASE62 = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz';
const BODY_LENGTH = 32;
const CHECK_LENGTH = 6;
const TOKEN = /^jcs_(ing|eng|adm)_([0-9A-Za-z]{32})([0-9A-Za-z]{6})$/;

/**
 * A new secret token: a prefix naming its role (so a leaked token is recognisable), 32 random
 * base62 characters (about 190 bits) and a 6-character checksum (so a mistyped token is refused
 * before any look-up).
 *
 * @example
 * makeToken('engineer'); // 'jcs_eng_0aZ...Q3x9Lk'
 */
export function makeToken(role: Role): string {
  const bytes = crypto.randomBytes(BODY_LENGTH);
  let body = '';
  // 256 % 62 != 0: reject the top of the byte range to keep characters uniform.
  for (let i = 0; body.length < BODY_LENGTH; i++) {
    const b = i < bytes.length ? bytes[i] : crypto.randomBytes(1)[0];
    if (b < 248) body += BASE62[b % 62];
  }
  return PREFIX[role] + body + checksum(PREFIX[role] + body);
}

/** The role a well-formed token claims, or null for anything malformed or mistyped. */
export function parseToken(token: string): Role | null {
  const m = TOKEN.exec(token);
  if (!m) return null;
  const prefix = `jcs_${m[1]}_`;
  if (checksum(prefix + m[2]) !== m[3]) return null;
  return (Object.keys(PREFIX) as Role[]).find((r) => PREFIX[r] === prefix) ?? null;
}

/** Only this digest is stored; the token itself is shown once. */
export function tokenDigest(token: string): Buffer {
  return crypto.createHash('sha256').update(token, 'utf8').digest();
}

function checksum(text: string): string {
  const digest = crypto.createHash('sha256').update(text, 'utf8').digest();
  let n = digest.readUIntBE(0, 6);
  let out = '';
  for (let i = 0; i < CHECK_LENGTH; i++) {
    out += BASE62[n % 62];
    n = Math.floor(n / 62);
  }
  return out;
}
