import type { RequestHandler, Response } from 'express';
import { ErrorCode, FieldlineError, isValidDeviceId } from '@fieldline/contracts';
import { sendHttpError } from '../common/error.filter';
import { bearerToken } from './bearer-token';
import type { DeviceAuth } from './device-auth.service';
import { originAllowed, type OriginRules } from './origin.policy';

/** The device a request to the ingest route was authenticated as (set by {@link deviceTokenMiddleware}). */
export function authenticatedDevice(res: Response): string | undefined {
  return (res.locals as { deviceId?: string }).deviceId;
}

/**
 * HTTP ingest (`POST /api/devices/:id/readings`) wants the device's own token as `Authorization: Bearer`. Runs before
 * the body is read, so an unauthenticated client costs no parsing. Answers 400 INVALID_DEVICE_ID for a malformed path
 * id, 401 UNAUTHORIZED for a missing or unknown token, 403 FORBIDDEN for another device's path.
 */
export function deviceTokenMiddleware(auth: DeviceAuth, refused: (code: ErrorCode) => void): RequestHandler {
  return (req, res, next) => {
    if (req.method !== 'POST') return next();
    const id = (req.params as { id?: string }).id;
    if (!isValidDeviceId(id)) {
      refused(ErrorCode.INVALID_DEVICE_ID);
      return sendHttpError(
        res,
        new FieldlineError(
          ErrorCode.INVALID_DEVICE_ID,
          'the device id in the path must be 1–64 characters of A-Z a-z 0-9 _ . -',
        ),
      );
    }
    const token = bearerToken(req.headers.authorization);
    auth.verify(token).then(
      (deviceId) => {
        if (deviceId === null) {
          refused(ErrorCode.UNAUTHORIZED);
          res.setHeader('WWW-Authenticate', 'Bearer realm="fieldline-devices"');
          return sendHttpError(
            res,
            new FieldlineError(
              ErrorCode.UNAUTHORIZED,
              token === null ? 'a device token is required: Authorization: Bearer <token>' : 'invalid device token',
            ),
          );
        }
        if (deviceId !== id) {
          refused(ErrorCode.FORBIDDEN);
          return sendHttpError(
            res,
            new FieldlineError(ErrorCode.FORBIDDEN, `this token belongs to another device; it may only send as itself`),
          );
        }
        (res.locals as { deviceId?: string }).deviceId = deviceId;
        next();
      },
      (err: unknown) => sendHttpError(res, err),
    );
  };
}

/** Refuses REST requests from browser origins that are neither the gateway's own nor in CORS_ORIGINS (403). */
export function originMiddleware(rules: OriginRules): RequestHandler {
  return (req, res, next) => {
    if (originAllowed(req.headers, rules)) return next();
    sendHttpError(
      res,
      new FieldlineError(ErrorCode.FORBIDDEN, `origin ${String(req.headers.origin)} is not allowed (CORS_ORIGINS)`),
    );
  };
}
