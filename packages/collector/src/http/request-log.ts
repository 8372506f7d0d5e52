import type { RequestHandler } from 'express';
import type { Logger } from '../log';
import { actorOf } from '../auth/middleware';

/** One JSON line per request: method, route, status, duration, actor name. Never a body or token. */
export function requestLog(log: Logger): RequestHandler {
  return (req, res, next) => {
    const start = process.hrtime.bigint();
    res.on('finish', () => {
      if (!log.isLevelEnabled('info')) return;
      log.info(
        {
          method: req.method,
          route: req.route?.path ?? req.path.slice(0, 64),
          status: res.statusCode,
          ms: Number(process.hrtime.bigint() - start) / 1e6,
          actor: actorOf(req)?.name,
        },
        'request',
      );
    });
    next();
  };
}
