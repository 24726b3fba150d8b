import { inject } from '@angular/core';
import { type CanActivateFn, Router } from '@angular/router';
import { AuthService } from './auth.service';

/** Views need a signed-in operator: without a live token, go to the login page and come back afterwards. */
export const authGuard: CanActivateFn = (_route, state) => {
  const auth = inject(AuthService);
  if (auth.signedIn()) return true;
  const expired = auth.token() !== null;
  if (expired) auth.setToken(null);
  return inject(Router).createUrlTree(['/login'], {
    queryParams: { ...(state.url === '/' ? {} : { returnUrl: state.url }), ...(expired ? { reason: 'expired' } : {}) },
  });
};

/** Admin views (users): other roles go to the fleet view; the gateway refuses their calls anyway. */
export const adminGuard: CanActivateFn = () =>
  inject(AuthService).session()?.role === 'admin' ? true : inject(Router).createUrlTree(['/']);
