/**
 * A seeded, randomised model test of the collector's promises under SIGKILL:
 *
 * - nothing answered 202/200 is lost: every acknowledged report that was not erased reads back
 *   (GET /v1/reports/:id) as the first body stored under its id;
 * - a report is stored once per id: a resend, with the same or another body, is answered 200 and
 *   changes nothing;
 * - counts are exact: GET /v1/groups?status=all&since=6w counts 1 + repeats per stored report,
 *   erased ones included (docs/retention.md: "Anonymous counts stay"); users and licences are the
 *   distinct ones of the surviving reports (erasure takes the pseudonyms along, store/erase.ts);
 * - erased subjects' reports answer 404, and stay erased (a resend is answered 200, not stored);
 * - the access log verifies; health is ok; the database is whole.
 *
 * Each round sends a random mix (new reports, resends, concurrent bursts, erasures, expiry runs
 * over old bulk-inserted reports so the run lasts long enough for ingest to go to the inbox) and
 * SIGKILLs the real `jcs-collector serve` at a random moment, sometimes in the middle of a burst
 * or an expiry run; some rounds end with SIGTERM instead. A request that got no answer is
 * "unknown": after the restart it is read back and, when not readable, sent again (as an SDK
 * would) to learn whether it had been stored. An erasure that got no answer is sent again too
 * (as an admin would).
 *
 * Seeds: JCS_MODEL_SEEDS="1,2,3" or "1-20" (default "13,9", about 25 s); JCS_MODEL_ROUNDS
 * (default 3); JCS_MODEL_ERASE_ALL=0 leaves out the "erase every subject" step. Every violation
 * is reported with the seed and the log of operations that led to it.
 *
 * Seed 13 found that erased ids were looked up only under the days that still held a report
 * (store/stored-days.ts): once a day's reports were all erased, a restart rebuilt the id filter
 * (store/id-filter.ts) without their ids, and a resend of an erased report was stored again,
 * personal data and all, and counted twice.
 */
import fs from 'node:fs';
import path from 'node:path';
import { isDeepStrictEqual } from 'node:util';
import nacl from 'tweetnacl';
import Database from 'better-sqlite3';
import { groupId, type Report } from '@jcs/protocol';
import { openCollector } from '@jcs/collector';
import { bulkInsert, DAY } from '../packages/collector/test/retention-support';
import { collectorCli } from '../test-support/collector';
import { mulberry32 } from '../test-support/random';
import { initDataDir, inspect, killAll, logLines, serve, type Serve } from './helpers';

jest.setTimeout(300_000);
/** each seed's temp dir (data dir inside), removed at the end whether the seed passed or not */
const tempDirs: string[] = [];
afterAll(() => {
  killAll();
  for (const dir of tempDirs) fs.rmSync(dir, { recursive: true, force: true, maxRetries: 5 });
});

// 13: every subject erased, SIGKILL, restart, resends; 9: SIGKILL mid expiry run, inbox folded at start
const SEEDS = parseSeeds(process.env.JCS_MODEL_SEEDS ?? '13,9');
const ROUNDS = Number(process.env.JCS_MODEL_ROUNDS ?? 3);
const SERVE_ARGS = ['--rate-read-per-min', '0'];
/** JCS_MODEL_ERASE_ALL=0 leaves out the "erase everyone" step (to look past what it finds) */
const ERASE_ALL = process.env.JCS_MODEL_ERASE_ALL !== '0';
const BULK_GROUP = 'g000000000000';

/** "7", "1,5,9" or "1-20" */
function parseSeeds(s: string): number[] {
  return s.split(',').flatMap((part) => {
    const [a, b] = part.split('-').map((x) => Number(x.trim()));
    return b === undefined ? [a] : Array.from({ length: b - a + 1 }, (_, i) => a + i);
  });
}

const GROUPS = [
  { app: 'JCS', number: 91, module: 'modClients', procedure: 'LoadClient' },
  { app: 'JCS', number: 91, module: 'modClients', procedure: 'SaveClient' },
  { app: 'JCS', number: 5, module: 'modInvoices', procedure: 'Post' },
  { app: 'JCS', number: -2147221503, module: 'clsDb', procedure: 'Open' },
  { app: 'JCS', number: 13, module: 'frmMain', procedure: 'Form_Load' },
  { app: 'JCS Lite', number: 9, module: 'modArrays', procedure: 'Resize' },
  { app: 'JCS', number: 2147483647, module: 'Ünïcødé', procedure: 'Проц' },
];
const USERS: (string | undefined)[] = [
  'asmith',
  'bjones',
  'cdavis',
  'dwhite',
  'élodie',
  '李雷',
  'u'.repeat(256),
  'ops admin',
  '',
  undefined,
];
// not the bulk rows' licence (JCS-000001, retention-support.ts)
const LICENCES = ['JCS-100001', 'JCS-100002', 'JCS-100003', 'JCS-100004', 'JCS-100005'];
const VERSIONS = ['5.2.1.345', '5.2.1.346', '5.3.0.1', '5.10.2.7'];

interface Send {
  variant: number;
  start: number;
  end: number;
  status?: number;
  group?: string;
}

interface Entry {
  id: string;
  /** bodies sent under this id; variant i is bodies[i] */
  bodies: Report[];
  sends: Send[];
  /** the variant stored, once known */
  stored?: number;
  /** logical time span in which it was stored */
  storeStart?: number;
  storeEnd?: number;
  /** seen erased (404 after a possible erasure): stays erased for good */
  knownErased: boolean;
  /** erasures seen not to have taken it */
  notErasedBy: Set<number>;
  /** receivedAt from the last read */
  receivedAt?: string;
}

interface Erasure {
  n: number;
  subject: { username: string } | { license: string };
  start: number;
  end: number;
  status?: number;
  erased?: number;
}

class Model {
  readonly entries = new Map<string, Entry>();
  readonly erasures: Erasure[] = [];
  readonly violations: string[] = [];
  private clock = 0;
  tick(): number {
    return ++this.clock;
  }
  violate(msg: string): void {
    this.violations.push(msg);
  }
  storedEntries(): Entry[] {
    return [...this.entries.values()].filter((e) => e.stored !== undefined);
  }
  /** Variants that may be the one stored. */
  candidates(e: Entry): number[] {
    if (e.stored !== undefined) return [e.stored];
    return [...new Set(e.sends.filter((s) => s.status === undefined).map((s) => s.variant))];
  }
  /**
   * Whether the stored report is erased: 'yes', 'no', or 'maybe' (an erasure overlapped its
   * storing, not yet observed).
   */
  erasedState(e: Entry): 'yes' | 'no' | 'maybe' {
    if (e.knownErased) return 'yes';
    const bodies = this.candidates(e).map((v) => e.bodies[v]);
    const start = e.storeStart ?? 0;
    const end = e.storeEnd ?? Infinity;
    let maybe = false;
    for (const x of this.erasures) {
      if (x.status !== undefined && x.status !== 200) continue;
      const hits = bodies.filter((b) => subjectMatches(x.subject, b));
      if (hits.length === 0) continue;
      if (x.status === 200 && end < x.start && hits.length === bodies.length) return 'yes';
      if (start > x.end) continue;
      if (!e.notErasedBy.has(x.n)) maybe = true;
    }
    return maybe ? 'maybe' : 'no';
  }
}

/** Violations by kind (ids, numbers and quoted text taken out), three of each. */
function summarise(violations: string[]): string {
  const kinds = new Map<string, string[]>();
  for (const v of violations) {
    const kind = v
      .replace(/\([^)]*\)/g, '')
      .replace(/[0-9a-f]{8}-[0-9a-f-]{27}|[0-9a-f]{12}|"[^"]*"|\d+/g, '_');
    if (!kinds.has(kind)) kinds.set(kind, []);
    kinds.get(kind)!.push(v);
  }
  return [...kinds.values()]
    .map(
      (vs) =>
        vs.slice(0, 3).join('\n') +
        (vs.length > 3 ? `\n  ... and ${vs.length - 3} more like it` : ''),
    )
    .join('\n');
}

function subjectMatches(subject: Erasure['subject'], b: Report): boolean {
  return 'username' in subject ? b.username === subject.username : b.license === subject.license;
}

const groupOf = (b: Report) =>
  groupId(b.app.name, b.error.number, b.error.module, b.error.procedure);

function uuid(rnd: () => number): string {
  const b = Buffer.alloc(16);
  for (let i = 0; i < 16; i++) b[i] = Math.floor(rnd() * 256);
  b[6] = (b[6] & 0x0f) | 0x40;
  b[8] = (b[8] & 0x3f) | 0x80;
  const h = b.toString('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

class Gen {
  private n = 0;
  /** each sealed dump's plaintext value, by report body */
  readonly plain = new WeakMap<Report, unknown>();
  constructor(
    readonly rnd: () => number,
    private readonly publicKey: Uint8Array,
    private readonly keyId: string,
  ) {}
  int(lo: number, hi: number): number {
    return lo + Math.floor(this.rnd() * (hi - lo + 1));
  }
  pick<T>(xs: readonly T[]): T {
    return xs[Math.floor(this.rnd() * xs.length)];
  }
  chance(p: number): boolean {
    return this.rnd() < p;
  }
  /** A new valid report; `like` keeps its counted fields (group, version, licence, repeats). */
  report(id?: string, like?: Report): Report {
    const n = ++this.n;
    const g = this.pick(GROUPS);
    const username = this.pick(USERS);
    const r: Report = {
      schema: 1,
      id: id ?? uuid(this.rnd),
      occurredAt: new Date(Date.now() - this.int(0, 86_400_000)).toISOString(),
      app: like ? { ...like.app } : { name: g.app, version: this.pick(VERSIONS) },
      license: like ? like.license : this.pick(LICENCES),
      error: {
        number: like ? like.error.number : g.number,
        description: `${this.pick(['Object variable not set', 'Überlauf', 'Type mismatch 💥', ''])} #${n}`,
        module: like ? like.error.module : g.module,
        procedure: like ? like.error.procedure : g.procedure,
        line: this.int(0, 5000),
      },
    };
    if (username !== undefined) r.username = username;
    if (this.chance(0.3)) r.error.code = `Set x = ${this.pick(['Nothing', 'clients(i)', '"ü"'])}`;
    const repeats = like
      ? like.repeats
      : this.chance(0.5)
        ? undefined
        : this.chance(0.1)
          ? this.int(1000, 100000)
          : this.int(0, 5);
    if (repeats !== undefined) r.repeats = repeats;
    // a sealed dump, or a reason for none, or neither (the same draws as two chance(0.2) calls)
    const withDump = this.chance(0.2);
    const withheld = !withDump && this.chance(0.2);
    if (withDump) {
      const value = { n, values: [this.int(0, 1e6), 'Smith & Co', { ok: true, s: 'ü€' }] };
      r.dump = this.dump(value);
      this.plain.set(r, value);
    } else if (withheld) r.dumpWithheld = this.pick(['user-opt-out', 'too-large'] as const);
    return r;
  }
  private dump(value: unknown): Report['dump'] {
    const eph = nacl.box.keyPair();
    const nonce = nacl.randomBytes(nacl.box.nonceLength);
    const ct = nacl.box(Buffer.from(JSON.stringify(value)), nonce, this.publicKey, eph.secretKey);
    return {
      alg: 'x25519-xsalsa20-poly1305',
      keyId: this.keyId,
      epk: Buffer.from(eph.publicKey).toString('base64'),
      nonce: Buffer.from(nonce).toString('base64'),
      ciphertext: Buffer.from(ct).toString('base64'),
    };
  }
}

/** Runs fn over items, `n` at a time. */
async function pool<T>(items: T[], n: number, fn: (x: T) => Promise<void>): Promise<void> {
  let i = 0;
  await Promise.all(
    Array.from({ length: Math.min(n, items.length) }, async () => {
      while (i < items.length) await fn(items[i++]);
    }),
  );
}

interface Http {
  status: number;
  body: unknown;
}

async function call(
  url: string,
  pathname: string,
  token: string | undefined,
  method = 'GET',
  body?: unknown,
): Promise<Http | undefined> {
  try {
    const res = await fetch(url + pathname, {
      method,
      headers: {
        ...(token ? { authorization: `Bearer ${token}` } : {}),
        ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
      },
      body: body !== undefined ? JSON.stringify(body) : undefined,
      signal: AbortSignal.timeout(30_000),
    });
    const text = await res.text();
    let parsed: unknown = text;
    try {
      parsed = JSON.parse(text);
    } catch {
      // not JSON
    }
    return { status: res.status, body: parsed };
  } catch {
    return undefined;
  }
}

async function runSeed(seed: number): Promise<string> {
  const rnd = mulberry32(seed);
  const d = initDataDir();
  tempDirs.push(path.dirname(d.dataDir));
  const token = (role: string) => {
    const r = collectorCli([
      'token',
      'create',
      '--name',
      `m-${role}`,
      '--role',
      role,
      '--data-dir',
      d.dataDir,
    ]);
    if (r.status !== 0) throw new Error(r.stderr);
    return r.stdout.trim();
  };
  const engineer = token('engineer');
  const admin = token('admin');
  const gen = new Gen(rnd, Buffer.from(d.publicKey, 'base64'), d.keyId);
  const m = new Model();
  const log: string[] = [];
  const note = (s: string) => log.push(s);
  let bulkLeft = 0;
  const addBulk = (n: number) => {
    const c = openCollector({ dataDir: d.dataDir, env: {} });
    try {
      bulkInsert(c, n, Date.now() - 60 * DAY, 2);
    } finally {
      c.close();
    }
    bulkLeft += n;
    note(`bulk ${n}`);
  };
  addBulk(gen.int(3_000, 15_000));
  let s: Serve = await serve(d.dataDir, { args: SERVE_ARGS });
  let killed = false;

  const post = async (e: Entry, variant: number): Promise<void> => {
    const send: Send = { variant, start: m.tick(), end: 0 };
    e.sends.push(send);
    const r = await call(s.url, '/v1/reports', d.token, 'POST', e.bodies[variant]);
    send.end = m.tick();
    if (!r) return;
    send.status = r.status;
    if (r.status === 202 || r.status === 200) {
      send.group = (r.body as { group: string }).group;
      if ((r.body as { id: string }).id !== e.id)
        m.violate(`POST ${e.id}: answered id ${(r.body as { id: string }).id}`);
    }
    if (r.status === 202) {
      if (e.stored !== undefined) {
        m.violate(
          `POST ${e.id} v${variant}: 202 though stored before (v${e.stored}): stored twice`,
        );
        return;
      }
      e.stored = variant;
      e.storeStart = send.start;
      e.storeEnd = send.end;
      if (send.group !== groupOf(e.bodies[variant]))
        m.violate(
          `POST ${e.id}: 202 with group ${send.group}, expected ${groupOf(e.bodies[variant])}`,
        );
    } else if (r.status === 200) {
      // stored before: by an earlier acknowledged send, or one with no answer (yet)
      const earlier = e.sends.filter(
        (x) => x !== send && (x.status === 202 || x.status === undefined),
      );
      if (earlier.length === 0) m.violate(`POST ${e.id}: 200 though never sent before`);
    } else {
      m.violate(`POST ${e.id}: unexpected ${r.status} ${JSON.stringify(r.body)}`);
    }
  };

  const newEntry = (): Entry => {
    const body = gen.report();
    const e: Entry = {
      id: body.id,
      bodies: [body],
      sends: [],
      knownErased: false,
      notErasedBy: new Set(),
    };
    m.entries.set(e.id, e);
    return e;
  };
  const addVariant = (e: Entry, keepCounted: boolean): number => {
    const b = gen.report(e.id, keepCounted ? e.bodies[0] : undefined);
    e.bodies.push(b);
    return e.bodies.length - 1;
  };

  /** One post of a burst: a new report, a resend (same or other body), or a duplicated new one. */
  const burstItem = (): Promise<void>[] => {
    const known = m.storedEntries();
    const x = rnd();
    if (x < 0.2 && known.length > 0) {
      const e = gen.pick(known);
      const v = gen.chance(0.4) ? addVariant(e, false) : e.stored!;
      return [post(e, v)];
    }
    const e = newEntry();
    if (x < 0.3) {
      // the same new id two or three times at once, bodies differing in uncounted fields
      const vs = [0, addVariant(e, true)];
      if (gen.chance(0.3)) vs.push(gen.chance(0.5) ? 0 : addVariant(e, true));
      return vs.map((v) => post(e, v));
    }
    return [post(e, 0)];
  };
  /** Sends n acknowledged reports again at once (some with another body), as SDKs whose answers were lost do. */
  const resendWave = async (n: number) => {
    const known = m.storedEntries();
    const some = Array.from({ length: Math.min(n, known.length) }, () => gen.pick(known));
    await Promise.all(
      [...new Set(some)].map((e) => post(e, gen.chance(0.3) ? addVariant(e, false) : e.stored!)),
    );
  };
  /** n posts at once; resolves with the entries they were for. */
  const burst = async (n: number): Promise<Entry[]> => {
    const ps: Promise<void>[] = [];
    const before = new Set(m.entries.keys());
    for (let i = 0; i < n && !killed; i++) ps.push(...burstItem());
    const posted = [...m.entries.values()].filter((e) => !before.has(e.id));
    await Promise.all(ps);
    return posted;
  };
  /**
   * Reads back a few reports just acknowledged (while the expiry job may run, so from the inbox):
   * reads wait until what was answered is folded in (docs/retention.md).
   */
  const spotCheck = async (entries: Entry[], label: string) => {
    const acked = entries.filter((e) => e.stored !== undefined && m.erasedState(e) === 'no');
    const some = acked.filter(() => gen.chance(0.2)).slice(0, 10);
    await pool(some, 4, async (e) => {
      if (killed) return;
      const n = m.violations.length;
      await verifyEntry(e, `[seed ${seed}] ${label}`);
      if (killed) m.violations.length = n; // no answer from a killed server: nothing learnt
    });
  };

  /** Erases a random subject, mostly one of `from`'s (default: every stored report). */
  const erase = async (from = m.storedEntries()) => {
    const known = from.filter((e) => e.stored !== undefined);
    const byLicence = gen.chance(0.2);
    let subject: Erasure['subject'];
    if (known.length > 0 && gen.chance(0.8)) {
      const e = gen.pick(known);
      const b = e.bodies[e.stored!];
      subject = byLicence || !b.username ? { license: b.license } : { username: b.username };
    } else {
      subject = byLicence
        ? { license: gen.pick(LICENCES) }
        : { username: gen.pick(USERS.filter(Boolean)) as string };
    }
    await doErase(subject);
  };
  const doErase = async (subject: Erasure['subject']) => {
    const x: Erasure = { n: m.erasures.length, subject, start: m.tick(), end: Infinity };
    // counted before: reports surely stored and not yet erased
    const sure = m
      .storedEntries()
      .filter(
        (e) =>
          subjectMatches(subject, e.bodies[e.stored!]) &&
          e.storeEnd! < x.start &&
          m.erasedState(e) === 'no',
      ).length;
    m.erasures.push(x);
    const r = await call(s.url, '/v1/erase', admin, 'POST', subject);
    x.end = m.tick();
    if (!r) return;
    x.status = r.status;
    if (r.status !== 200) {
      m.violate(`erase ${JSON.stringify(subject)}: ${r.status} ${JSON.stringify(r.body)}`);
      return;
    }
    x.erased = (r.body as { erasedReports: number }).erasedReports;
    const possible = [...m.entries.values()].filter(
      (e) =>
        m.candidates(e).some((v) => subjectMatches(subject, e.bodies[v])) &&
        !e.knownErased &&
        e.sends.some((sd) => sd.start < x.end),
    ).length;
    if (x.erased < sure || x.erased > possible)
      m.violate(
        `erase ${JSON.stringify(subject)}: erasedReports ${x.erased}, expected ${sure}..${possible}`,
      );
    note(`erase ${'username' in subject ? 'u' : 'l'} -> ${x.erased}`);
  };

  const expire = async () => {
    const r = await call(s.url, '/v1/expire', admin, 'POST');
    if (!r) return;
    if (r.status !== 200) {
      m.violate(`expire: ${r.status} ${JSON.stringify(r.body)}`);
      return;
    }
    const sum = r.body as { deletedReports: number };
    note(`expire -> ${sum.deletedReports}`);
    const db = new Database(d.dbFile, { readonly: true, fileMustExist: true });
    try {
      const left = db
        .prepare('SELECT COUNT(*) AS n FROM reports WHERE group_id = ?')
        .get(BULK_GROUP) as { n: number };
      if (left.n !== 0) m.violate(`expire answered but ${left.n} old reports are left`);
      bulkLeft = left.n;
    } finally {
      db.close();
    }
  };

  /** After a restart (or at any quiet moment): learn what became of sends with no answer. */
  const resolve = async () => {
    // erasures with no answer are sent again, after the unknown reports are learnt
    const unknown = [...m.entries.values()].filter(
      (e) => e.stored === undefined || e.sends.some((x) => x.status === undefined),
    );
    await pool(unknown, 8, async (e) => {
      if (e.stored !== undefined) return; // a resend of a known report got no answer: nothing to learn
      if (e.sends.every((x) => x.status !== undefined)) {
        if (e.sends.some((x) => x.status === 200)) m.violate(`${e.id}: answered 200, never 202`);
        return;
      }
      const got = await read(e, false);
      if (!got) return;
      const cands = m.candidates(e);
      const starts = e.sends.filter((x) => x.status === undefined).map((x) => x.start);
      if (got.status === 200) {
        const r = got.body as Report;
        const v = cands.find((c) => e.bodies[c].error.description === r.error.description);
        if (v === undefined) {
          m.violate(`${e.id}: stored body not one that was sent: ${JSON.stringify(r)}`);
          return;
        }
        e.stored = v;
        e.storeStart = Math.min(...starts);
        e.storeEnd = Math.max(...e.sends.filter((x) => x.status === undefined).map((x) => x.end));
        return;
      }
      if (got.status !== 404) {
        m.violate(`${e.id}: read ${got.status}`);
        return;
      }
      if (cands.length === 0) return; // never sent (cannot happen)
      // Not readable: never stored, or stored and erased. Sent again, as the SDK would.
      const v = cands[0];
      const send: Send = { variant: v, start: m.tick(), end: 0 };
      e.sends.push(send);
      const r = await call(s.url, '/v1/reports', d.token, 'POST', e.bodies[v]);
      send.end = m.tick();
      send.status = r?.status;
      if (r?.status === 202) {
        e.stored = v;
        e.storeStart = send.start;
        e.storeEnd = send.end;
      } else if (r?.status === 200) {
        // stored by a send that got no answer: then it must have been erased
        e.storeStart = Math.min(...starts);
        e.storeEnd = send.start;
        const st = m.erasedState(e);
        if (st === 'no') {
          m.violate(
            `${e.id}: resend answered 200 (stored before) but the report reads 404 and no erasure can have taken it: lost`,
          );
        }
        e.stored =
          cands.find((c) => m.erasures.some((x) => subjectMatches(x.subject, e.bodies[c]))) ??
          cands[0];
        e.knownErased = true;
      } else {
        m.violate(`${e.id}: resend answered ${r?.status}`);
      }
    });
    for (const x of m.erasures.filter((x) => x.status === undefined && !('resent' in x))) {
      Object.assign(x, { resent: true });
      note('erase resent');
      await doErase(x.subject);
    }
  };

  const read = async (e: Entry, dump: boolean) =>
    call(s.url, `/v1/reports/${e.id}${dump ? '?dump=1' : ''}`, engineer);

  /** Reads one stored report back and compares it with the model. */
  const verifyEntry = async (e: Entry, ctx: string): Promise<void> => {
    const body = e.bodies[e.stored!];
    const state = m.erasedState(e);
    const got = await read(e, body.dump !== undefined);
    if (!got) return m.violate(`${ctx}: ${e.id}: no answer`);
    if (state === 'yes') {
      if (got.status !== 404) m.violate(`${ctx}: ${e.id}: erased but reads ${got.status}`);
      return;
    }
    if (got.status === 404 && state === 'maybe') {
      e.knownErased = true;
      return;
    }
    if (got.status !== 200) {
      m.violate(
        `${ctx}: ${e.id} (v${e.stored} of ${e.bodies.length}, sends ${JSON.stringify(e.sends)}): acknowledged but reads ${got.status}`,
      );
      return;
    }
    if (state === 'maybe') {
      for (const x of m.erasures) if (x.status !== undefined) e.notErasedBy.add(x.n);
    }
    const r = got.body as Report & { group: string; receivedAt: string };
    e.receivedAt = r.receivedAt;
    const expected: Record<string, unknown> = {
      id: body.id,
      occurredAt: body.occurredAt,
      app: body.app,
      license: body.license,
      username: body.username,
      error: body.error,
      repeats: body.repeats,
      dumpWithheld: body.dumpWithheld,
      group: groupOf(body),
    };
    const actual: Record<string, unknown> = {
      id: r.id,
      occurredAt: r.occurredAt,
      app: r.app,
      license: r.license,
      username: r.username,
      error: r.error,
      repeats: r.repeats,
      dumpWithheld: r.dumpWithheld,
      group: r.group,
    };
    if (
      !isDeepStrictEqual(JSON.parse(JSON.stringify(expected)), JSON.parse(JSON.stringify(actual)))
    ) {
      m.violate(
        `${ctx}: ${e.id}: reads ${JSON.stringify(actual)}, stored ${JSON.stringify(expected)} (variant ${e.stored} of ${e.bodies.length})`,
      );
    }
    if (body.dump) {
      const want = gen.plain.get(body);
      if (!isDeepStrictEqual(r.dump, want))
        m.violate(`${ctx}: ${e.id}: dump ${JSON.stringify(r.dump)} != ${JSON.stringify(want)}`);
      if (r.dump === undefined || r.dump === null) m.violate(`${ctx}: ${e.id}: dump missing`);
    }
  };

  type Want = Map<
    string,
    { count: number; users: Set<string>; licences: Set<string>; survivors: Entry[] }
  >;
  /** GET /v1/groups over one window against the model. */
  const checkGroups = async (ctx: string, window: string, want: Want) => {
    const groups = await call(s.url, `/v1/groups?status=all&limit=500&${window}`, engineer);
    ctx = `${ctx} (${window})`;
    if (groups?.status !== 200) {
      m.violate(`${ctx}: groups ${JSON.stringify(groups)}`);
      return;
    }
    const got = new Map(
      (
        groups.body as {
          groups: {
            id: string;
            count: number;
            users: number;
            licences: number;
            description: string | null;
          }[];
        }
      ).groups.map((g) => [g.id, g]),
    );
    for (const [g, w] of want) {
      const a = got.get(g);
      const exp = { count: w.count, users: w.users.size, licences: w.licences.size };
      const act = a ? { count: a.count, users: a.users, licences: a.licences } : undefined;
      if (!isDeepStrictEqual(exp, act))
        m.violate(`${ctx}: group ${g}: ${JSON.stringify(act)}, expected ${JSON.stringify(exp)}`);
      if (a) {
        const newest = Math.max(...w.survivors.map((e) => Date.parse(e.receivedAt ?? '0')));
        const ok = w.survivors
          .filter((e) => Date.parse(e.receivedAt ?? '0') === newest)
          .map((e) => e.bodies[e.stored!].error.description);
        if (
          w.survivors.length === 0 ? a.description !== null : !ok.includes(a.description as string)
        )
          m.violate(
            `${ctx}: group ${g}: description ${JSON.stringify(a.description)}, expected one of ${JSON.stringify(ok)}`,
          );
      }
    }
    for (const g of got.keys()) if (!want.has(g)) m.violate(`${ctx}: unexpected group ${g}`);
  };

  const check = async (label: string) => {
    const t0 = Date.now();
    await resolve();
    const t1 = Date.now();
    const ctx = `[seed ${seed}] ${label}`;
    const health = await call(s.url, '/v1/health', undefined);
    if (health?.status !== 200 || (health.body as { status: string }).status !== 'ok')
      m.violate(`${ctx}: health ${JSON.stringify(health)}`);
    // every report
    const stored = m.storedEntries();
    await pool(stored, 8, (e) => verifyEntry(e, ctx));
    // answers' groups: for an id stored and never erased, a 200/202 names the stored group
    for (const e of stored) {
      if (m.erasedState(e) !== 'no') continue;
      const g = groupOf(e.bodies[e.stored!]);
      for (const x of e.sends) {
        if (
          x.group !== undefined &&
          x.group !== g &&
          !(x as { groupChecked?: boolean }).groupChecked
        ) {
          m.violate(
            `${ctx}: ${e.id}: answered group ${x.group} for a resend (v${x.variant}), stored under ${g}`,
          );
        }
        (x as { groupChecked?: boolean }).groupChecked = true;
      }
    }
    // groups: counts, distinct users and licences, description, report lists
    const want: Want = new Map();
    for (const e of stored) {
      const b = e.bodies[e.stored!];
      const g = groupOf(b);
      if (!want.has(g))
        want.set(g, { count: 0, users: new Set(), licences: new Set(), survivors: [] });
      const w = want.get(g)!;
      w.count += 1 + (b.repeats ?? 0);
      if (m.erasedState(e) !== 'no') continue;
      if (b.username) w.users.add(b.username);
      w.licences.add(b.license);
      w.survivors.push(e);
    }
    // the default window (today a partial day, counted from the reports) and one whose days are
    // whole (counted from the aggregates: group_days, group_subject_days)
    const today = Math.floor(Date.now() / DAY) * DAY;
    const windows = [
      'since=6w',
      `since=${new Date(today - 2 * DAY).toISOString()}&until=${new Date(today + 2 * DAY).toISOString()}`,
    ];
    for (const w of windows) await checkGroups(ctx, w, want);
    await pool([...want.entries()], 4, async ([g, w]) => {
      const list = await call(s.url, `/v1/groups/${g}/reports?limit=500`, engineer);
      if (list?.status !== 200) return m.violate(`${ctx}: reports of ${g}: ${list?.status}`);
      const ids = (list.body as { reports: { id: string }[] }).reports.map((r) => r.id).sort();
      const exp = w.survivors.map((e) => e.id).sort();
      if (exp.length <= 500 && !isDeepStrictEqual(ids, exp))
        m.violate(
          `${ctx}: reports of ${g}: ${ids.length} listed, ${exp.length} expected; missing ${exp.filter((i) => !ids.includes(i)).slice(0, 3)}, extra ${ids.filter((i) => !exp.includes(i)).slice(0, 3)}`,
        );
    });
    const verify = await call(s.url, '/v1/audit/verify', admin);
    if (verify?.status !== 200 || (verify.body as { ok: boolean }).ok !== true)
      m.violate(`${ctx}: audit verify ${JSON.stringify(verify)}`);
    // the database itself (the old bulk rows have no group and no counts)
    const db = inspect(d.dbFile);
    const rows = new Database(d.dbFile, { readonly: true, fileMustExist: true });
    let bulk: number;
    try {
      bulk = (
        rows.prepare('SELECT COUNT(*) AS n FROM reports WHERE group_id = ?').get(BULK_GROUP) as {
          n: number;
        }
      ).n;
    } finally {
      rows.close();
    }
    const survivors = stored.filter((e) => m.erasedState(e) === 'no').length;
    const occurrences = [...want.values()].reduce((n, w) => n + w.count, 0);
    if (
      db.integrity !== 'ok' ||
      db.brokenRecords !== 0 ||
      db.orphans !== bulk ||
      db.distinctIds !== db.count ||
      db.count - bulk !== survivors ||
      db.counted !== occurrences
    )
      m.violate(
        `${ctx}: database ${JSON.stringify({ ...db, bulk })}: expected ${survivors} reports, ${occurrences} occurrences`,
      );
    note(`check ${t1 - t0}+${Date.now() - t1}ms`);
    if (m.violations.length > 0) {
      throw new Error(
        `${ctx}: ${m.violations.length} violations:\n${summarise(m.violations)}\nops: ${log.join(' | ')}`,
      );
    }
  };

  for (let round = 0; round < ROUNDS; round++) {
    const steps = gen.int(3, 6);
    const killAt = gen.int(0, steps - 1);
    const graceful = gen.chance(0.25);
    killed = false;
    /** every subject erased, and now and then a SIGKILL at once: a restart with no report left */
    const eraseEveryone = async () => {
      for (const l of LICENCES) await doErase({ license: l });
      if (gen.chance(0.5) && !killed) {
        killed = true;
        s.signal('SIGKILL');
        note('kill after erasing everyone');
      }
    };
    for (let i = 0; i < steps && !killed; i++) {
      const op = rnd();
      const killNow = i === killAt && !graceful;
      const during = killNow && gen.chance(0.7);
      let timer: NodeJS.Timeout | undefined;
      const current = s;
      if (during) {
        const ms = gen.int(0, 250);
        timer = setTimeout(() => {
          killed = true;
          current.signal('SIGKILL');
        }, ms);
      }
      let what: string;
      const opStart = Date.now();
      if (op < 0.35) {
        const n = gen.int(20, 80);
        what = `burst ${n}`;
        await burst(n);
      } else if (op < 0.47) {
        const n = gen.int(1, 8);
        what = `singles ${n}`;
        for (let j = 0; j < n; j++) await Promise.all(burstItem());
      } else if (op < 0.52) {
        what = 'resend';
        await resendWave(gen.int(10, 40));
      } else if (op < 0.62) {
        what = 'erase';
        if (gen.chance(0.5)) await Promise.all([erase(), burst(gen.int(20, 60))]);
        else await erase();
      } else if (op < 0.67 && ERASE_ALL) {
        // every subject erased: no report left at all
        what = 'erase everyone';
        await eraseEveryone();
      } else if (op < 0.9) {
        what = `expire (${bulkLeft} old) + burst`;
        // reports keep coming while the job deletes (to the inbox), some read back at once, an
        // erasure of a subject among those just acknowledged now and then
        await Promise.all([
          expire(),
          (async () => {
            for (let k = gen.int(1, 3); k > 0 && !killed; k--) {
              const posted = await burst(gen.int(20, 50));
              if (gen.chance(0.5)) await spotCheck(posted, `round ${round} step ${i} (expiry)`);
              if (gen.chance(0.3) && !killed) await erase(posted);
            }
          })(),
        ]);
        // the run is over; its inbox is emptied only seconds later (store/inbox-writer.ts)
        if (ERASE_ALL && !killed && gen.chance(0.2)) {
          what += ' + erase everyone';
          await eraseEveryone();
        }
      } else {
        what = 'check';
        if (!during) await check(`round ${round} step ${i}`);
      }
      clearTimeout(timer);
      note(`${what}${killed ? ' KILLED' : ''} ${Date.now() - opStart}ms`);
      if (killNow && !killed) {
        killed = true;
        current.signal('SIGKILL');
        note('kill after');
      }
    }
    if (!killed) {
      note('SIGTERM');
      s.signal('SIGTERM');
      const code = await s.exited;
      if (code !== 0)
        m.violate(`[seed ${seed}] round ${round}: SIGTERM exit ${code}: ${s.stderr().slice(-500)}`);
      if (gen.chance(0.7)) addBulk(gen.int(3_000, 15_000));
    } else {
      await s.exited;
    }
    // a send with no answer keeps its end at the kill
    s = await serve(d.dataDir, { args: SERVE_ARGS });
    note(`restart`);
    await new Promise((r) => setTimeout(r, 100));
    const recovered = logLines(
      s.stderr(),
      'reports the inbox held when the last run stopped are in the database (folded now, or by that run; none twice)',
    )[0]?.reports;
    if (recovered !== undefined) note(`inbox recovered ${String(recovered)}`);
    await check(`after round ${round}`);
    if (gen.chance(0.5)) {
      await resendWave(gen.int(10, 40));
      note('resend wave');
      await check(`after round ${round}, resends`);
    }
  }
  s.signal('SIGTERM');
  await s.exited;
  const all = m.storedEntries();
  return `seed ${seed}: ${m.entries.size} ids, ${all.length} stored, ${all.filter((e) => m.erasedState(e) === 'yes').length} erased, ${m.erasures.length} erasures; ops: ${log.join(' | ')}`;
}

test.each(SEEDS)('model: seed %i', async (seed) => {
  const summary = await runSeed(seed);
  console.log(summary);
});
