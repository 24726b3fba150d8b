import type { INestApplication } from '@nestjs/common';
import express, { type Request, type RequestHandler } from 'express';
import { AuthPath, LIMITS, LineProtocolPath, RestRoute } from '@fieldline/contracts';
import { sendHttpError } from './error.filter';

/** Ingest routes take the raw bytes, so the ingest pipeline is the one place that parses a reading. */
export const INGEST_ROUTE = RestRoute.readings;

/**
 * JSON bodies read before the caller is known: the login form, refresh and logout (the refresh token in the body is
 * their credential; the access token may have expired), and the public line-protocol routes (they check their own
 * token, and answer a JSON body with a clear 400).
 */
const OPEN_JSON_ROUTES: ReadonlySet<string> = new Set([
  AuthPath.login,
  AuthPath.refresh,
  AuthPath.logout,
  LineProtocolPath.write,
  LineProtocolPath.writeV2,
  LineProtocolPath.query,
]);

/** Largest JSON body of a REST request, in bytes. */
const JSON_LIMIT = 16 * 1024;

/** Whether a request carries a valid operator token. */
export type OperatorCheck = (req: Request) => Promise<boolean>;

/**
 * body-parser errors happen before Nest's routing; answer them here in the common error shape. A declared length
 * over the limit is answered at once: body-parser 2 would read (and drop) the whole body before answering 413.
 */
function answered(parser: RequestHandler, limit: number): RequestHandler {
  return (req, res, next) => {
    if (Number(req.headers['content-length']) > limit) {
      res.setHeader('Connection', 'close');
      // The error body-parser itself raises, so the answer is the same as for a body found too large while read.
      return sendHttpError(
        res,
        Object.assign(new Error('too large'), { type: 'entity.too.large', status: 413, limit }),
      );
    }
    parser(req, res, (err?: unknown) => (err ? sendHttpError(res, err) : next()));
  };
}

/**
 * Raw bytes for device ingest (its token was checked before, in auth/http.middleware.ts), JSON for the rest. A JSON
 * body is read only from a request whose operator token is valid, or on an open route (login, line protocol): another
 * is passed on unread (the route's guard answers it 401) and its connection is not kept, so its body costs neither
 * parsing nor a held connection. A body larger than the limit is refused 413 from its Content-Length, before it is
 * read (413 MESSAGE_TOO_LARGE).
 */
export function useBodyParsers(app: INestApplication, isOperator: OperatorCheck): void {
  const raw = LIMITS.maxMessageBytes;
  app.use(INGEST_ROUTE, answered(express.raw({ type: () => true, limit: raw }), raw));
  const json = answered(express.json({ limit: JSON_LIMIT }), JSON_LIMIT);
  const gated: RequestHandler = (req, res, next) => {
    // Not JSON (or read already): nothing for this parser, and the size check is the route's own (line protocol).
    if (req.readableEnded || !req.is('application/json')) return next();
    if (OPEN_JSON_ROUTES.has(req.path)) return json(req, res, next);
    isOperator(req).then(
      (ok) => {
        if (ok) return json(req, res, next);
        res.setHeader('Connection', 'close');
        next();
      },
      (err: unknown) => sendHttpError(res, err),
    );
  };
  app.use(gated);
}
