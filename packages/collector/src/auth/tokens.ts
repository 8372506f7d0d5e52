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

/**
 * Every request presents its token again, and checking one costs two SHA-256 runs (the checksum
 * in parseToken, the digest the database is searched by). So both are remembered for the tokens
 * seen lately, keyed by the token itself: neither ever changes for a given token. Whether the
 * token is live is not cached: the database is asked on every request, so a revocation (even by
 * `token revoke` in another process) takes effect on the next one. Bounded: forgotten all at once
 * when full, which only costs the hashing again.
 */
const REMEMBERED_TOKENS = 1024;
const roles = new Map<string, Role>();
const digests = new Map<string, Buffer>();

function remember<T>(cache: Map<string, T>, token: string, value: T): T {
  if (cache.size >= REMEMBERED_TOKENS) cache.clear();
  cache.set(token, value);
  return value;
}

/**
 * The role a well-formed token claims, or null for anything malformed or mistyped (its checksum
 * catches a typo before the database is asked).
 *
 * @example
 * parseToken(token); // 'engineer' for a jcs_eng_... token
 */
export function parseToken(token: string): Role | null {
  const known = roles.get(token);
  if (known !== undefined) return known;
  const role = checkToken(token);
  // Only well-formed tokens are remembered: made-up strings cannot push the real ones out.
  return role === null ? null : remember(roles, token, role);
}

function checkToken(token: string): Role | null {
  const m = TOKEN.exec(token);
  if (!m) return null;
  const prefix = `jcs_${m[1]}_`;
  if (checksum(prefix + m[2]) !== m[3]) return null;
  return (Object.keys(PREFIX) as Role[]).find((r) => PREFIX[r] === prefix) ?? null;
}

/**
 * Only this digest is stored; the token itself is shown once. The Buffer is shared: read it only.
 *
 * @example
 * db.prepare('SELECT name FROM tokens WHERE digest = ?').get(tokenDigest(token));
 */
export function tokenDigest(token: string): Buffer {
  return (
    digests.get(token) ??
    remember(digests, token, crypto.createHash('sha256').update(token, 'utf8').digest())
  );
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
