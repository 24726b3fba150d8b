import { HttpErrorResponse, type HttpInterceptorFn } from '@angular/common/http';
import { inject } from '@angular/core';
import { catchError, from, switchMap, throwError } from 'rxjs';
import { AuthService } from './auth.service';

/**
 * Adds `Authorization: Bearer <token>` to requests to the gateway (same origin only) while a token is set. When the
 * gateway refuses that token (401: expired, a new role, the secret changed), the refresh token gets a new one and
 * the request goes again, once; when that fails, the operator is sent to sign in again.
 */
export const authInterceptor: HttpInterceptorFn = (req, next) => {
  const auth = inject(AuthService);
  const token = auth.token();
  if (token === null || !isGatewayUrl(req.url)) return next(req);
  return next(req.clone({ setHeaders: { Authorization: `Bearer ${token}` } })).pipe(
    catchError((err: unknown) => {
      if (!(err instanceof HttpErrorResponse) || err.status !== 401) return throwError(() => err);
      if (!auth.canRefresh()) {
        if (auth.token() === token) auth.signOut('expired');
        return throwError(() => err);
      }
      return from(auth.refresh()).pipe(
        switchMap((ok) => {
          const fresh = auth.token();
          if (!ok || fresh === null) {
            auth.signOut('expired');
            return throwError(() => err);
          }
          return next(req.clone({ setHeaders: { Authorization: `Bearer ${fresh}` } }));
        }),
      );
    }),
  );
};

/** The dashboard only ever calls its own origin; a token must never leak to another host. */
function isGatewayUrl(url: string): boolean {
  if (url.startsWith('/') && !url.startsWith('//')) return true;
  try {
    return new URL(url).origin === globalThis.location?.origin;
  } catch {
    return false;
  }
}
