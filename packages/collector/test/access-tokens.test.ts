import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import crypto from 'node:crypto';
import request from 'supertest';
import { makeToken, parseToken } from '@jcs/collector';
import type { AuditEntry } from '@jcs/protocol';
import {
  collectorCli,
  startCollector,
  type RunningCollector,
} from '../../../test-support/collector';

// Each CLI call starts a node process (about a second on a busy machine).
jest.setTimeout(30_000);

let c: RunningCollector;
beforeAll(async () => {
  c = await startCollector({ serveArgs: ['--no-expiry'] });
});
afterAll(async () => {
  await c.stop();
});

const cli = (...args: string[]) => collectorCli([...args, '--data-dir', c.dataDir]);
// supertest opens a connection per request: a kept-alive socket could be closed by the server
// while a slow CLI call runs, and fetch would then fail on reuse.
const get = (route: string, token: string) =>
  request(c.url).get(route).set('Authorization', `Bearer ${token}`);

describe('jcs-collector token', () => {
  it('create prints the token alone on stdout, with a role prefix and a valid checksum', () => {
    const r = cli('token', 'create', '--name', 'bob', '--role', 'engineer');
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/^jcs_eng_[0-9A-Za-z]{38}\n$/);
    expect(parseToken(r.stdout.trim())).toBe('engineer');
    expect(r.stderr).toMatch(/shown only this once/);
    expect(c.tokens.ingest).toMatch(/^jcs_ing_/);
    expect(c.tokens.admin).toMatch(/^jcs_adm_/);
  });

  it('stores only the digest: no token is anywhere in the data dir', () => {
    const secrets = Object.values(c.tokens);
    for (const file of ['collector.db', 'collector.db-wal']) {
      const p = path.join(c.dataDir, file);
      if (!fs.existsSync(p)) continue;
      const bytes = fs.readFileSync(p);
      for (const s of secrets) {
        expect(bytes.includes(Buffer.from(s))).toBe(false);
        // the digest, by contrast, is what is kept
        expect(bytes.includes(crypto.createHash('sha256').update(s).digest())).toBe(true);
      }
    }
  });

  it('refuses a bad role or name with exit 2 (usage), a name in use with exit 1 (as key rotate does an id)', () => {
    expect(cli('token', 'create', '--name', 'x', '--role', 'root').status).toBe(2);
    expect(cli('token', 'create', '--name', 'no spaces', '--role', 'admin').status).toBe(2);
    const again = cli('token', 'create', '--name', 'test-admin', '--role', 'admin');
    expect(again.status).toBe(1);
    expect(again.stdout).toBe('');
    expect(again.stderr).toMatch(/a token named test-admin already exists: choose another name/);
    // Another case of a name in use would look the same in the access log.
    const cased = cli('token', 'create', '--name', 'Test-Admin', '--role', 'engineer');
    expect(cased.status).toBe(1);
    expect(cased.stderr).toMatch(/a token named test-admin already exists: choose another name/);
  });

  it('list shows names, roles, created and last used, and never a secret', async () => {
    expect((await get('/v1/groups', c.tokens.engineer)).status).toBe(200);
    const r = cli('token', 'list', '--json');
    expect(r.status).toBe(0);
    const list = JSON.parse(r.stdout) as Record<string, unknown>[];
    const eng = list.find((t) => t.name === 'test-engineer')!;
    expect(eng).toEqual({
      name: 'test-engineer',
      role: 'engineer',
      createdAt: expect.stringMatching(/^\d{4}-\d\d-\d\dT/),
      lastUsedAt: expect.stringMatching(/^\d{4}-\d\d-\d\dT/),
      revokedAt: null,
    });
    expect(list.find((t) => t.name === 'test-ingest')).toMatchObject({ lastUsedAt: null });
    const table = cli('token', 'list');
    expect(table.stdout).toMatch(/NAME\s+ROLE\s+CREATED\s+LAST USED\s+STATE/);
    expect(table.stdout).toMatch(/test-admin\s+admin\s+\S+\s+never\s+active/);
    for (const out of [r.stdout, table.stdout, table.stderr]) {
      for (const s of Object.values(c.tokens)) {
        expect(out).not.toContain(s);
        expect(out).not.toContain(s.slice(8, 20));
        expect(out).not.toContain(crypto.createHash('sha256').update(s).digest('hex'));
      }
    }
  });

  it('revoke takes effect on the next request of the running server, without a restart', async () => {
    const token = cli('token', 'create', '--name', 'temp', '--role', 'admin').stdout.trim();
    expect((await get('/v1/audit', token)).status).toBe(200);
    const r = cli('token', 'revoke', 'temp');
    expect(r.status).toBe(0);
    const res = await get('/v1/audit', token);
    expect(res.status).toBe(401);
    expect(res.body.error.code).toBe('unauthorized');
    const listed = JSON.parse(cli('token', 'list', '--json').stdout) as { name: string }[];
    expect(listed.find((t) => t.name === 'temp')).toMatchObject({
      revokedAt: expect.any(String),
    });
    // revoking again is done already (a re-run script); an unknown name may be a typo: exit 4
    const again = cli('token', 'revoke', 'temp');
    expect(again.status).toBe(0);
    expect(again.stdout).toBe('');
    expect(again.stderr).toMatch(
      /^token "temp" was already revoked, at \d{4}-\d\d-\d\dT[\d:.]+Z: nothing to do\n$/,
    );
    expect(listed.find((t) => t.name === 'temp')).toEqual(
      (JSON.parse(cli('token', 'list', '--json').stdout) as { name: string }[]).find(
        (t) => t.name === 'temp',
      ),
    );
    const unknown = cli('token', 'revoke', 'nobody');
    expect(unknown.status).toBe(4);
    expect(unknown.stderr).toBe(
      `jcs-collector: no active token named "nobody": see jcs-collector token list --data-dir ${c.dataDir}\n`,
    );
    // the others still work
    expect((await get('/v1/audit', c.tokens.admin)).status).toBe(200);
  });

  it('token create and revoke on the command line are in the access log, once each, chain intact', async () => {
    expect(cli('token', 'create', '--name', 'ops-2', '--role', 'engineer').status).toBe(0);
    expect(cli('token', 'revoke', 'OPS-2').status).toBe(0);
    expect(cli('token', 'revoke', 'ops-2').status).toBe(0); // already revoked: no second entry
    expect(cli('token', 'revoke', 'nobody').status).toBe(4);
    const entries = (await get('/v1/audit?limit=1000', c.tokens.admin)).body.entries as {
      actor: string;
      action: string;
      target: string | null;
      outcome: string;
    }[];
    const made = entries.filter((e) => e.action.startsWith('token.'));
    // newest first
    expect(made.slice(0, 2)).toEqual([
      expect.objectContaining({
        actor: 'system:cli',
        action: 'token.revoke',
        target: 'ops-2',
        outcome: 'ok',
      }),
      expect.objectContaining({
        actor: 'system:cli',
        action: 'token.create',
        target: 'ops-2',
        outcome: 'ok role=engineer',
      }),
    ]);
    expect(made.filter((e) => e.target === 'ops-2' || e.target === 'nobody')).toHaveLength(2);
    expect((await get('/v1/audit/verify', c.tokens.admin)).body).toMatchObject({ ok: true });
  });

  it('revoke finds a name given in another case: names are unique regardless of case', async () => {
    const token = cli('token', 'create', '--name', 'ann@example.com', '--role', 'engineer');
    const r = cli('token', 'revoke', 'ANN@Example.com');
    expect({ status: r.status, stderr: r.stderr }).toEqual({
      status: 0,
      stderr: 'revoked token "ann@example.com"\n',
    });
    expect((await get('/v1/groups', token.stdout.trim())).status).toBe(401);
    expect(cli('token', 'revoke', 'Ann@example.COM').stderr).toMatch(
      /^token "ann@example.com" was already revoked, at /,
    );
  });

  it("logs a revoked engineer's or admin's refused requests under its name; an unknown token's not at all", async () => {
    const eng = cli('token', 'create', '--name', 'old-eng', '--role', 'engineer').stdout.trim();
    const adm = cli('token', 'create', '--name', 'old-adm', '--role', 'admin').stdout.trim();
    expect(cli('token', 'revoke', 'old-eng').status).toBe(0);
    expect(cli('token', 'revoke', 'old-adm').status).toBe(0);
    // well formed, with a valid checksum, but never issued by this collector
    const unknown = makeToken('admin');
    const before = (await get('/v1/audit?limit=1000', c.tokens.admin)).body.entries.length;
    expect((await get('/v1/groups', unknown)).status).toBe(401);
    const after = (await get('/v1/audit?limit=1000', c.tokens.admin)).body.entries.length;
    expect(after - before).toBe(1); // the second audit.list only: the unknown token named nobody

    expect((await get('/v1/groups', eng)).status).toBe(401);
    expect((await get('/v1/reports/not-a-report', adm)).status).toBe(401);
    const post = await request(c.url)
      .post('/v1/reports')
      .set('Authorization', `Bearer ${adm}`)
      .send({ schema: 1 });
    expect(post.status).toBe(401);
    expect(post.body.error.code).toBe('unauthorized');
    // a public route still answers, and is logged like any request made with the token
    expect((await get('/v1/health', eng)).status).toBe(200);

    const audit = await get('/v1/audit?limit=1000', c.tokens.admin);
    const mine = (audit.body.entries as { actor: string; action: string; outcome: string }[])
      .filter((e) => e.actor.startsWith('old-'))
      .map(({ actor, action, outcome }) => ({ actor, action, outcome }))
      .reverse();
    expect(mine).toEqual([
      { actor: 'old-eng', action: 'GET /v1/groups', outcome: 'unauthorized' },
      { actor: 'old-adm', action: 'GET /v1/reports/:id', outcome: 'unauthorized' },
      { actor: 'old-adm', action: 'POST /v1/reports', outcome: 'unauthorized' },
      { actor: 'old-eng', action: 'health.get', outcome: 'ok' },
    ]);
    // the refused requests got nothing: no report was stored
    const groups = await get('/v1/groups', c.tokens.admin);
    expect(groups.body.groups).toEqual([]);
  });
});

describe('the Authorization header', () => {
  /**
   * A request with the headers exactly as given, duplicates included (fetch would merge them).
   * Written, not ended: the server takes a half-closed socket for a client gone away.
   */
  function rawGet(route: string, headers: string[]): Promise<{ status: number; body: string }> {
    return new Promise((resolve, reject) => {
      const { hostname, port } = new URL(c.url);
      const socket = net.connect(Number(port), hostname, () => {
        socket.write(
          [
            `GET ${route} HTTP/1.1`,
            `Host: ${hostname}`,
            'Connection: close',
            ...headers,
            '',
            '',
          ].join('\r\n'),
        );
      });
      let text = '';
      socket.on('data', (d) => (text += d.toString('utf8')));
      socket.on('error', reject);
      socket.on('end', () => {
        const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(text)?.[1]);
        resolve({ status, body: text.slice(text.indexOf('\r\n\r\n') + 4) });
      });
    });
  }

  it('twice is refused 401 whichever comes first: no guessing whose request it is', async () => {
    const eng = `Authorization: Bearer ${c.tokens.engineer}`;
    const adm = `Authorization: Bearer ${c.tokens.admin}`;
    for (const headers of [
      [eng, adm],
      [adm, eng],
      [adm, `authorization: Bearer ${c.tokens.admin}`],
    ]) {
      const r = await rawGet('/v1/audit', headers);
      expect(r.status).toBe(401);
      expect(JSON.parse(r.body)).toEqual({
        error: { code: 'unauthorized', message: 'Send one Authorization header, not several.' },
      });
    }
    // Once, it is as before.
    expect((await rawGet('/v1/audit?limit=1', [adm])).status).toBe(200);
  });

  it('a refused header that carries an engineer or admin token is logged under its name', async () => {
    const eng = c.tokens.engineer;
    const entries = async () =>
      ((await get('/v1/audit?limit=1000', c.tokens.admin)).body.entries as AuditEntry[]).filter(
        (e) => e.actor === 'test-engineer' && e.action === 'GET /v1/groups',
      ).length;
    const before = await entries();
    for (const headers of [
      [`Authorization: Bearer ${eng}`, `Authorization: Bearer ${eng}`],
      [`Authorization: Bearer\t${eng}`],
      // the ingest token (in every desktop install) cannot hide an engineer's request
      [`Authorization: Bearer ${c.tokens.ingest}`, `Authorization: Bearer ${eng}`],
    ]) {
      expect((await rawGet('/v1/groups', headers)).status).toBe(401);
    }
    expect((await entries()) - before).toBe(3);
    // a longer string that merely holds the token is someone else's: named nobody
    for (const header of [`Bearer ${eng}x`, `Bearer\t${eng}x`, `Bearer x${eng}`]) {
      expect((await rawGet('/v1/groups', [`Authorization: ${header}`])).status).toBe(401);
    }
    expect((await entries()) - before).toBe(3);
  });
});
