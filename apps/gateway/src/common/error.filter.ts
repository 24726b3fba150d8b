import { type ArgumentsHost, Catch, type ExceptionFilter, HttpException } from '@nestjs/common';
import type { Response } from 'express';
import { type ErrorBody, ErrorCode, errorBody, FieldlineError, HTTP_STATUS_OF } from '@fieldline/contracts';
import { logger } from './logger';
import { requestIdOf } from './request-id';

const log = logger('http');

const CODE_OF_STATUS: Record<number, ErrorCode> = {
  400: ErrorCode.INVALID_REQUEST,
  401: ErrorCode.UNAUTHORIZED,
  403: ErrorCode.FORBIDDEN,
  404: ErrorCode.NOT_FOUND,
  405: ErrorCode.NOT_FOUND,
  413: ErrorCode.MESSAGE_TOO_LARGE,
  429: ErrorCode.RATE_LIMITED,
  503: ErrorCode.STORE_UNAVAILABLE,
};

/** Maps anything thrown to an HTTP status and the one error body `{code, message, details?}`. */
export function toHttpError(err: unknown): { status: number; body: ErrorBody; retryAfterS?: number } {
  if (err instanceof FieldlineError) {
    const retryAfterMs = err.details?.retryAfterMs;
    const out: { status: number; body: ErrorBody; retryAfterS?: number } = {
      status: HTTP_STATUS_OF[err.code],
      body: err.toBody(),
    };
    if (typeof retryAfterMs === 'number') out.retryAfterS = Math.max(1, Math.ceil(retryAfterMs / 1000));
    return out;
  }
  if (err instanceof HttpException) {
    const status = err.getStatus();
    const code = CODE_OF_STATUS[status] ?? (status >= 500 ? ErrorCode.INTERNAL : ErrorCode.INVALID_REQUEST);
    const message = status === 404 ? 'no such resource' : err.message;
    return { status, body: errorBody(code, message) };
  }
  // body-parser errors carry `type` and `status`.
  const e = err as { type?: string; status?: number; limit?: number };
  if (e?.type === 'entity.too.large') {
    return {
      status: 413,
      body: errorBody(ErrorCode.MESSAGE_TOO_LARGE, `body exceeds ${e.limit} bytes`, { limit: e.limit }),
    };
  }
  if (e?.type === 'entity.parse.failed')
    return { status: 400, body: errorBody(ErrorCode.MALFORMED_JSON, 'body is not valid JSON') };
  if (typeof e?.status === 'number' && e.status >= 400 && e.status < 500) {
    return { status: e.status, body: errorBody(ErrorCode.INVALID_REQUEST, 'the request could not be read') };
  }
  return { status: 500, body: errorBody(ErrorCode.INTERNAL, 'internal error') };
}

/** Sends an error on an express response. */
export function sendHttpError(res: Response, err: unknown): void {
  const { status, body, retryAfterS } = toHttpError(err);
  if (status >= 500 && !(err instanceof FieldlineError)) {
    const req = res.req as Response['req'] | undefined;
    log.error(err instanceof Error ? (err.stack ?? err.message) : String(err), {
      requestId: requestIdOf(req),
      code: body.code,
      method: req?.method,
      path: req?.path,
    });
  }
  if (retryAfterS !== undefined) res.setHeader('Retry-After', String(retryAfterS));
  res.status(status).json(body);
}

/** The one global exception filter: every HTTP error leaves as `{code, message, details?}`. */
@Catch()
export class ErrorFilter implements ExceptionFilter {
  catch(exception: unknown, host: ArgumentsHost): void {
    if (host.getType() !== 'http') return;
    sendHttpError(host.switchToHttp().getResponse<Response>(), exception);
  }
}
