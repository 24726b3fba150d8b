import { randomUUID } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';
import type { NextFunction, Request, Response } from 'express';
import { REQUEST_ID_HEADER, REQUEST_ID_PATTERN } from '@fieldline/contracts';

const ID = Symbol('fieldline:requestId');
type WithId = Request & { [ID]?: string };

/**
 * Names every HTTP request (`X-Request-Id`): the caller's id when it is a sane one (a proxy's or a client's, so one
 * id follows a request across systems), else a new one; sent back on the answer and put on the request's log lines.
 */
export function requestIdMiddleware(req: Request, res: Response, next: NextFunction): void {
  const id = requestIdFor(req.headers);
  (req as WithId)[ID] = id;
  res.setHeader(REQUEST_ID_HEADER, id);
  next();
}

/** The caller's `X-Request-Id` when it is a sane one, else a new one (also for answers given before Express). */
export function requestIdFor(headers: IncomingHttpHeaders): string {
  const given = headers[REQUEST_ID_HEADER];
  return typeof given === 'string' && REQUEST_ID_PATTERN.test(given) ? given : randomUUID();
}

/** The id {@link requestIdMiddleware} gave the request (undefined before it ran). */
export function requestIdOf(req: Request | undefined): string | undefined {
  return req === undefined ? undefined : (req as WithId)[ID];
}
