import { Router } from 'express';
import { DUMP_ALG, toBase64 } from '@jcs/protocol';
import type { Collector } from '../collector';
import { identifyActor } from '../auth/middleware';
import { audited } from '../http/audited';

/**
 * The two routes that need no token. A request that carries an engineer's or admin's token is
 * still one "made with" it, so it is written to the access log like every other (contract
 * section 2); without a token nothing is looked up, and an ingest token's requests are not
 * logged (audited() skips them).
 */
export function publicRoutes(c: Collector): Router {
  const router = Router();
  const named = identifyActor(c);
  router.get('/v1/health', named, async (req, res) => {
    res.json(await audited(c, req, 'health.get', null, () => ({ status: 'ok' })));
  });
  router.get('/v1/public-key', named, async (req, res) => {
    res.json(
      await audited(c, req, 'public-key.get', null, () => {
        // Once: the folder is read again on each look (a key rotated in while serve runs).
        const key = c.keyring.transport;
        return { alg: DUMP_ALG, keyId: key.keyId, publicKey: toBase64(key.publicKey) };
      }),
    );
  });
  return router;
}
