import { HttpBackend, HttpClient } from '@angular/common/http';
import { computed, effect, inject, Injectable, signal } from '@angular/core';
import { Router } from '@angular/router';
import { firstValueFrom } from 'rxjs';
import { AuthPath, type LoginResponse } from '@fieldline/contracts/auth';
import { sessionOf } from './session';

const STORAGE_KEY = 'fieldline.token';
const REFRESH_KEY = 'fieldline.refresh';
/** How long before its expiry the access token is traded for a new one. */
const REFRESH_LEAD_MS = 10_000;

/** Why a session ended: shown on the login page. */
export type SignOutReason = 'expired' | 'signedOut';

/**
 * The operator's token. While it is set, the socket service sends it as `handshake.auth.token` on every Socket.IO
 * connection and {@link authInterceptor} sends it as `Authorization: Bearer` on REST calls to the gateway.
 * The login page calls {@link signIn} with the gateway's answer: the access token and a refresh token. Shortly
 * before the access token expires, and when the gateway refuses it (401, `auth_expired`), {@link refresh} trades the
 * refresh token for a new pair, so the operator stays signed in; when that fails too (disabled, logged out, the
 * refresh token expired), {@link signOut}.
 */
@Injectable({ providedIn: 'root' })
export class AuthService {
  private readonly router = inject(Router);
  /** Without the interceptor: a refresh must neither carry the old token nor trigger another refresh. */
  private readonly bare = new HttpClient(inject(HttpBackend));
  private readonly tokenState = signal<string | null>(readStored(STORAGE_KEY));
  private refreshToken: string | null = readStored(REFRESH_KEY);
  private inFlight: Promise<boolean> | null = null;
  readonly token = this.tokenState.asReadonly();
  /** Who is signed in (read from the token; the gateway is the one that verifies it). */
  readonly session = computed(() => sessionOf(this.tokenState()));

  constructor() {
    // Refresh before the token runs out; without a refresh token, go to the login page rather than wait for the
    // gateway to refuse it.
    effect((onCleanup) => {
      const s = this.session();
      if (s === null) return;
      // Half the time left at most, so that a short JWT_TTL does not refresh in a loop.
      const lead = this.refreshToken === null ? 0 : Math.min(REFRESH_LEAD_MS, (s.expiresAt - Date.now()) / 2);
      const timer = setTimeout(
        () => void this.refreshOrSignOut(),
        Math.min(Math.max(0, s.expiresAt - lead - Date.now()), 2 ** 31 - 1),
      );
      onCleanup(() => clearTimeout(timer));
    });
  }

  /** A login's (or password change's) answer: both tokens. */
  signIn(res: LoginResponse): void {
    // A gateway of an older version answers no refresh token: the session then ends with its access token.
    this.setRefreshToken(typeof res.refreshToken === 'string' ? res.refreshToken : null);
    this.setToken(res.accessToken);
  }

  /** Is there a refresh token to try? */
  canRefresh(): boolean {
    return this.refreshToken !== null;
  }

  /**
   * Trades the refresh token for a new access token and refresh token; resolves whether it worked. Calls made at once
   * share one request: the gateway takes each refresh token once, and a second use would end the session.
   */
  refresh(): Promise<boolean> {
    const token = this.refreshToken;
    if (token === null) return Promise.resolve(false);
    this.inFlight ??= firstValueFrom(this.bare.post<LoginResponse>(AuthPath.refresh, { refreshToken: token }))
      .then(
        (res) => {
          this.signIn(res);
          return true;
        },
        () => {
          // Signed in anew meanwhile (a password change answers a new session while the gateway cuts the old one's
          // sockets): that session stands.
          if (this.refreshToken !== token) return this.tokenState() !== null;
          this.setRefreshToken(null);
          return false;
        },
      )
      .finally(() => (this.inFlight = null));
    return this.inFlight;
  }

  /** Refreshes, or signs out when that cannot be done (at once when there is no refresh token). */
  refreshOrSignOut(): Promise<void> {
    if (!this.canRefresh()) {
      this.signOut('expired');
      return Promise.resolve();
    }
    return this.refresh().then((ok) => {
      if (!ok) this.signOut('expired');
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
    const refreshToken = this.refreshToken;
    // Signing out ends the session at the gateway too; its answer changes nothing here.
    if (refreshToken !== null && reason === 'signedOut')
      this.bare.post(AuthPath.logout, { refreshToken }).subscribe({ error: () => undefined });
    this.setRefreshToken(null);
    this.setToken(null);
    const here = this.router.url;
    void this.router.navigate(['/login'], {
      queryParams: { reason, ...(here.startsWith('/login') || here === '/' ? {} : { returnUrl: here }) },
    });
  }

  private setRefreshToken(token: string | null): void {
    this.refreshToken = token;
    try {
      if (token === null) localStorage.removeItem(REFRESH_KEY);
      else localStorage.setItem(REFRESH_KEY, token);
    } catch {
      // As for the access token: without storage it lives as long as the page.
    }
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

function readStored(key: string): string | null {
  try {
    return localStorage.getItem(key);
  } catch {
    return null;
  }
}
