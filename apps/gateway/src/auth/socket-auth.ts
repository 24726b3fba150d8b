import type { Socket } from 'socket.io';
import { AUTH_EXPIRED_EVENT, type ErrorBody, ErrorCode, errorBody, FieldlineError } from '@fieldline/contracts';
import type { OperatorAuth, OperatorClaims } from './operator-auth.service';
import { originAllowed, type OriginRules } from './origin.policy';
import type { SocketSecurity } from '../common/socket-io.adapter';

/** The operator of a connected socket. */
export function socketOperator(socket: Socket): OperatorClaims | undefined {
  return (socket.data as { operator?: OperatorClaims }).operator;
}

/**
 * Operator sockets: the JWT in `handshake.auth.token` is checked once, at connect (a refused client gets
 * `connect_error` with `data = {code, message}`); when the token expires the socket is told (`auth_expired`) and
 * disconnected, and so it is, at once, when its user is disabled, removed or changed. Requests to events no handler
 * takes are answered `NOT_FOUND` when they carry an ack, so a client is never left waiting.
 */
export function socketSecurity(
  auth: OperatorAuth,
  origins: OriginRules,
  /** Runs once the token is verified, before anything is kept for the socket (the operator budget: may refuse). */
  admit: (socket: Socket, claims: OperatorClaims, next: (err?: Error) => void) => void = (_s, _c, next) => next(),
): SocketSecurity {
  const byUser = new Map<string, Set<Socket>>();
  // A user changed (disabled, removed, new role or password, a session ended; here or on another node): each of
  // its sockets whose token no longer verifies is told why and cut, at once rather than at the token's expiry.
  auth.onChange((username) => {
    for (const socket of byUser.get(username) ?? []) {
      const token = (socket.handshake.auth as { token?: unknown } | undefined)?.token;
      auth.verify(token).catch((err: unknown) => {
        const message = err instanceof FieldlineError ? err.message : 'invalid token';
        socket.emit(AUTH_EXPIRED_EVENT, errorBody(ErrorCode.UNAUTHORIZED, message));
        socket.disconnect(true);
      });
    }
  });
  return {
    allowRequest: (req) => originAllowed(req.headers, origins),
    middleware: (socket, next) => {
      const token = (socket.handshake.auth as { token?: unknown } | undefined)?.token;
      auth.verify(token).then(
        (claims) => {
          (socket.data as { operator?: OperatorClaims }).operator = claims;
          admit(socket, claims, (refused) => (refused ? next(refused) : accept(claims)));
        },
        (err: unknown) => {
          auth.refused.socket++;
          const body =
            err instanceof FieldlineError ? err.toBody() : errorBody(ErrorCode.UNAUTHORIZED, 'invalid token');
          next(Object.assign(new Error(body.message), { data: body }));
        },
      );
      function accept(claims: OperatorClaims): void {
        const timer = setTimeout(
          () => {
            socket.emit(AUTH_EXPIRED_EVENT, errorBody(ErrorCode.UNAUTHORIZED, 'token expired; log in again'));
            socket.disconnect(true);
          },
          Math.max(0, claims.expiresAt - Date.now()),
        );
        timer.unref();
        const sockets = byUser.get(claims.username) ?? new Set<Socket>();
        byUser.set(claims.username, sockets.add(socket));
        socket.once('disconnect', () => {
          clearTimeout(timer);
          sockets.delete(socket);
          if (sockets.size === 0 && byUser.get(claims.username) === sockets) byUser.delete(claims.username);
        });
        socket.onAny((event: string, ...args: unknown[]) => {
          const ack = args[args.length - 1];
          if (typeof ack !== 'function' || (socket as unknown as NodeJS.EventEmitter).listenerCount(event) > 0) return;
          (ack as (body: { ok: false; error: ErrorBody }) => void)({
            ok: false,
            error: errorBody(ErrorCode.NOT_FOUND, `no event "${event.slice(0, 64)}" on ${socket.nsp.name}`),
          });
        });
        next();
      }
    },
  };
}
