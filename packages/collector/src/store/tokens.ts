import crypto from 'node:crypto';
import { withoutWaiting, type Db } from './db';
import { makeToken, tokenDigest, type Role } from '../auth/tokens';

export interface TokenInfo {
  name: string;
  role: Role;
  createdAt: number;
  lastUsedAt: number | null;
  revokedAt: number | null;
}

interface TokenRow {
  name: string;
  role: Role;
  digest: Buffer;
  created_at: number;
  last_used_at: number | null;
  revoked_at: number | null;
}

/** Who a live token belongs to. */
export interface TokenActor {
  name: string;
  role: Role;
}

interface AskedToken {
  token: string;
  now: number;
  resolve: (actor: TokenActor | null) => void;
  reject: (err: unknown) => void;
}

/** The longest token name, for messages that must not say a longer one back. */
export const MAX_TOKEN_NAME = 64;
const NAME = new RegExp(`^[A-Za-z0-9][A-Za-z0-9._@-]{0,${MAX_TOKEN_NAME - 1}}$`);

/**
 * Whether `name` is one `create` takes: a name that is not cannot be any token's, and is said
 * back escaped (it was typed, but may hold a terminal's control sequences).
 *
 * @example
 * isTokenName('alice'); // true
 */
export function isTokenName(name: string): boolean {
  return NAME.test(name);
}

export class TokenNameError extends Error {}
/** The name is well formed but taken (by a live or a revoked token): a state, not a usage error. */
export class TokenNameTakenError extends TokenNameError {}

/** Named tokens: only SHA-256 digests are stored, so a copy of the database leaks no token. */
export class TokenStore {
  private readonly byDigest;
  private readonly touch;
  private readonly lastTouched = new Map<string, number>();
  private readonly findAll;
  private asked: AskedToken[] = [];

  constructor(private readonly db: Db) {
    this.byDigest = db.prepare<[Buffer], TokenRow>('SELECT * FROM tokens WHERE digest = ?');
    this.findAll = db.transaction((tokens: string[]) => tokens.map((t) => this.find(t)));
    this.touch = db.prepare<[number, string]>('UPDATE tokens SET last_used_at = ? WHERE name = ?');
  }

  /**
   * Creates a token and returns its secret, which is never stored.
   *
   * @example
   * const token = c.tokens.create('alice', 'engineer', c.clock()); // 'jcs_eng_...'
   */
  create(name: string, role: Role, now: number): string {
    if (!NAME.test(name)) {
      throw new TokenNameError(
        'a token name is 1-64 letters, digits, dots, dashes, underscores or @',
      );
    }
    // Names that differ only in case would look alike in the access log (`eng`, `ENG`).
    const existing = this.db
      .prepare<[string], { name: string; revoked_at: number | null }>(
        'SELECT name, revoked_at FROM tokens WHERE name = ? COLLATE NOCASE',
      )
      .get(name);
    if (existing) {
      const named = `a token named ${existing.name}`;
      // A revoked name stays taken: the access log names actors by it.
      throw new TokenNameTakenError(
        existing.revoked_at === null
          ? `${named} already exists: choose another name`
          : `${named} was revoked and its name stays in the access log: choose another name`,
      );
    }
    const token = makeToken(role);
    this.db
      .prepare('INSERT INTO tokens (name, role, digest, created_at) VALUES (?, ?, ?, ?)')
      .run(name, role, tokenDigest(token), now);
    return token;
  }

  /** Every token, revoked ones too, oldest first; never a secret or digest. */
  list(): TokenInfo[] {
    const rows = this.db
      .prepare<[], TokenRow>('SELECT * FROM tokens ORDER BY created_at, name')
      .all();
    return rows.map((r) => ({
      name: r.name,
      role: r.role,
      createdAt: r.created_at,
      lastUsedAt: r.last_used_at,
      revokedAt: r.revoked_at,
    }));
  }

  /**
   * Removes a token that was never shown nor used (its printing failed), so its name is free
   * again; a token that was used stays, revoked or not, because the access log names it.
   */
  discard(name: string): void {
    this.db.prepare('DELETE FROM tokens WHERE name = ? AND last_used_at IS NULL').run(name);
  }

  /**
   * The name, as stored, of the token called `name` in any case. Names are unique regardless of
   * case (create refuses `Ann` beside `ann`), so a name in another case names one token and an
   * offboarding script need not know how it was spelled. `name` itself where it is stored as
   * given, or where no name or several match (a database from before that rule).
   *
   * @example
   * c.tokens.storedName('ANN'); // 'ann'
   */
  storedName(name: string): string {
    const names = this.db
      .prepare<[string], string>('SELECT name FROM tokens WHERE name = ? COLLATE NOCASE')
      .pluck()
      .all(name);
    return names.length === 1 ? names[0] : name;
  }

  /** Revokes at once: every request looks the token up again. False when no such live token. */
  revoke(name: string, now: number): boolean {
    return (
      this.db
        .prepare('UPDATE tokens SET revoked_at = ? WHERE name = ? AND revoked_at IS NULL')
        .run(now, name).changes > 0
    );
  }

  /** The live token with this secret, or null. Compares digests in constant time. */
  authenticate(token: string, now: number): TokenActor | null {
    const row = this.find(token);
    if (row) this.touched(row.name, now);
    return row;
  }

  /**
   * authenticate() for a caller that can wait for the end of the event loop's turn: the look-ups
   * asked for in one turn share one read transaction. Why: under ingest the writer thread commits
   * every few milliseconds, so every transaction of this connection starts by taking a read lock
   * (system calls on the `-shm` file) and reading its pages again; one per request was 8% of the
   * event loop's time. Revocation is still immediate: the transaction begins after every request
   * it answers for had arrived.
   *
   * @example
   * const actor = await c.tokens.authenticateSoon(token, c.clock()); // { name, role } or null
   */
  authenticateSoon(token: string, now: number): Promise<TokenActor | null> {
    return new Promise((resolve, reject) => {
      if (this.asked.push({ token, now, resolve, reject }) === 1) {
        setImmediate(() => this.answerAsked());
      }
    });
  }

  private answerAsked(): void {
    const asked = this.asked;
    this.asked = [];
    let found: (TokenActor | null)[];
    try {
      found = this.findAll(asked.map((a) => a.token));
    } catch (e) {
      asked.forEach((a) => a.reject(e));
      return;
    }
    asked.forEach((a, i) => {
      const actor = found[i];
      if (actor) this.touched(actor.name, a.now);
      a.resolve(actor);
    });
  }

  /**
   * Who a revoked token belonged to, or null (for a live token too). For the access log only:
   * a request made with an old engineer or admin token is refused, and logged under its name, so
   * the log shows who still uses it. Never grants anything.
   *
   * @example
   * c.tokens.revokedActor(oldToken); // { name: 'alice', role: 'engineer' }
   */
  revokedActor(token: string): TokenActor | null {
    const row = this.row(token);
    return row && row.revoked_at !== null ? { name: row.name, role: row.role } : null;
  }

  private find(token: string): TokenActor | null {
    const row = this.row(token);
    return row && row.revoked_at === null ? { name: row.name, role: row.role } : null;
  }

  /** The token's row, live or revoked, or null. Compares digests in constant time. */
  private row(token: string): TokenRow | null {
    const digest = tokenDigest(token);
    const row = this.byDigest.get(digest);
    return row && crypto.timingSafeEqual(row.digest, digest) ? row : null;
  }

  /** last-used is informational: written at most once a minute per token, off the hot path. */
  private touched(name: string, now: number): void {
    const last = this.lastTouched.get(name) ?? 0;
    if (now - last <= 60_000) return;
    this.lastTouched.set(name, now);
    try {
      // Never waited for on the event loop: a lock held elsewhere skips it, till next minute's.
      withoutWaiting(this.db, () => this.touch.run(now, name));
    } catch {
      // a busy database must not refuse an otherwise valid request
    }
  }
}
