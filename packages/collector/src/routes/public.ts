import { Router } from 'express';
import { DUMP_ALG, toBase64 } from '@jcs/protocol';
import type { Collector } from '../collector';

/** The two routes that need no token. */
export function publicRoutes(c: Collector): Router {
  const router = Router();
  router.get('/v1/health', (_req, res) => {
    res.json({ status: 'ok' });
  });
  router.get('/v1/public-key', (_req, res) => {
    res.json({
      alg: DUMP_ALG,
      keyId: c.keyring.transport.keyId,
      publicKey: toBase64(c.keyring.transport.publicKey),
    });
  });
  return router;
}
