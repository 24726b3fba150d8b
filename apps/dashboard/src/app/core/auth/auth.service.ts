import { computed, effect, inject, Injectable, signal } from '@angular/core';
import { Router } from '@angular/router';
import { sessionOf } from './session';

const STORAGE_KEY = 'fieldline.token';

/** Why a session ended: shown on the login page. */
export type SignOutReason = 'expired' | 'signedOut';

/**
 * The operator's token. While it is set, the socket service sends it as `handshake.auth.token` on every Socket.IO
 * connection and {@link authInterceptor} sends it as `Authorization: Bearer` on REST calls to the gateway.
 * The login page calls {@link setToken}; a refusal by the gateway (401, `auth_expired`) or the token's own expiry
 * calls {@link signOut}.
 */
@Injectable({ providedIn: 'root' })
export class AuthService {
  private readonly router = inject(Router);
  private readonly tokenState = signal<string | null>(readStored());
  readonly token = this.tokenState.asReadonly();
  /** Who is signed in (read from the token; the gateway is the one that verifies it). */
  readonly session = computed(() => sessionOf(this.tokenState()));

  constructor() {
    // Go to the login page when the token runs out, rather than wait for the gateway to refuse it.
    effect((onCleanup) => {
      const s = this.session();
      if (s === null) return;
      const timer = setTimeout(
        () => this.signOut('expired'),
        Math.min(Math.max(0, s.expiresAt - Date.now()), 2 ** 31 - 1),
      );
      onCleanup(() => clearTimeout(timer));
    });
  }

  /** True while a token is set that has not expired yet. */
  signedIn(): boolean {
    const s = this.session();
    return s !== null && s.expiresAt > Date.now();
  }

  /** Drops the token and shows the login page, which brings the operator back here after signing in. */
  signOut(reason: SignOutReason): void {
    if (this.tokenState() === null && this.router.url.startsWith('/login')) return;
    this.setToken(null);
    const here = this.router.url;
    void this.router.navigate(['/login'], {
      queryParams: { reason, ...(here.startsWith('/login') || here === '/' ? {} : { returnUrl: here }) },
    });
  }

  setToken(token: string | null): void {
    const value = token === '' ? null : token;
    this.tokenState.set(value);
    try {
      if (value === null) localStorage.removeItem(STORAGE_KEY);
      else localStorage.setItem(STORAGE_KEY, value);
    } catch {
      // Storage may be disabled (private mode, tests): the token then lives as long as the page.
    }
  }
}

function readStored(): string | null {
  try {
    return localStorage.getItem(STORAGE_KEY);
  } catch {
    return null;
  }
}
