import { inject } from '@angular/core';
import { type CanActivateFn, Router } from '@angular/router';
import { authGuard } from './auth.guard';
import { AuthService } from './auth.service';

/**
 * Admin views: a signed-in viewer goes to the fleet view instead (the gateway refuses the data anyway, 403); others
 * are sent to sign in, as by {@link authGuard}.
 */
export const adminGuard: CanActivateFn = (route, state) => {
  const signedIn = authGuard(route, state);
  if (signedIn !== true) return signedIn;
  return inject(AuthService).session()?.role === 'admin' ? true : inject(Router).createUrlTree(['/']);
};
