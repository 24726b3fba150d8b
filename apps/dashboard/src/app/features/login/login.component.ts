import { HttpClient, HttpErrorResponse } from '@angular/common/http';
import { ChangeDetectionStrategy, Component, computed, inject, input, signal } from '@angular/core';
import { Router } from '@angular/router';
import type { ErrorBody, LoginRequest, LoginResponse } from '@fieldline/contracts';
import { AuthPath } from '@fieldline/contracts/auth';
import { AuthService } from '../../core/auth/auth.service';

/** Why the operator is on the login page, from `?reason=`. */
const REASONS: Record<string, string> = {
  expired: 'Your session has ended. Sign in again to continue.',
  signedOut: 'You have signed out.',
};

/** `/login`: user name and password → operator token; then back to the page the operator wanted. */
@Component({
  selector: 'fl-login',
  template: `
    <form class="card" (submit)="submit($event)" aria-labelledby="login-title">
      <h1 id="login-title">Sign in to Fieldline</h1>
      @if (notice(); as n) {
        <p class="notice" role="status" data-login="notice">{{ n }}</p>
      }
      <label
        >User name
        <input
          name="username"
          autocomplete="username"
          required
          [value]="username()"
          (input)="username.set($any($event.target).value)"
      /></label>
      <label
        >Password
        <input
          name="password"
          type="password"
          autocomplete="current-password"
          required
          [value]="password()"
          (input)="password.set($any($event.target).value)"
      /></label>
      @if (error(); as e) {
        <p class="error" role="alert" data-login="error">{{ e }}</p>
      }
      <button type="submit" [disabled]="!canSubmit()">{{ busy() ? 'Signing in…' : 'Sign in' }}</button>
    </form>
  `,
  styles: `
    :host {
      display: flex;
      justify-content: center;
      padding: 4rem 1rem;
    }
    .card {
      display: flex;
      flex-direction: column;
      gap: 0.9rem;
      width: 100%;
      max-width: 22rem;
      padding: 1.75rem;
      background: var(--panel);
      border: 1px solid var(--line);
      border-radius: 12px;
    }
    h1 {
      margin: 0 0 0.25rem;
      font-size: 1.25rem;
    }
    label {
      display: flex;
      flex-direction: column;
      gap: 0.3rem;
      font-size: 0.9rem;
      color: var(--muted);
    }
    input {
      font: inherit;
      padding: 0.5rem 0.6rem;
      border: 1px solid var(--line);
      border-radius: 7px;
      color: var(--text);
    }
    input:focus {
      outline: 2px solid var(--accent);
      outline-offset: -1px;
    }
    button[type='submit'] {
      margin-top: 0.25rem;
      padding: 0.55rem;
      background: var(--accent);
      border-color: var(--accent);
      color: #fff;
      font-size: 0.95rem;
    }
    .error {
      margin: 0;
      padding: 0.5rem 0.7rem;
      border-radius: 7px;
      background: var(--bad-bg);
      color: var(--bad);
      font-size: 0.9rem;
    }
    .notice {
      margin: 0;
      color: var(--muted);
      font-size: 0.9rem;
    }
  `,
  changeDetection: ChangeDetectionStrategy.OnPush,
})
export class LoginComponent {
  private readonly http = inject(HttpClient);
  private readonly auth = inject(AuthService);
  private readonly router = inject(Router);

  /** Where to go after signing in (query parameter, bound by the router). */
  readonly returnUrl = input<string | undefined>();
  /** Why the operator is here (query parameter). */
  readonly reason = input<string | undefined>();

  protected readonly username = signal('');
  protected readonly password = signal('');
  protected readonly busy = signal(false);
  protected readonly error = signal<string | null>(null);
  protected readonly notice = computed(() => REASONS[this.reason() ?? ''] ?? null);
  protected readonly canSubmit = computed(() => !this.busy() && this.username() !== '' && this.password() !== '');

  protected submit(event: Event): void {
    event.preventDefault();
    if (!this.canSubmit()) return;
    this.busy.set(true);
    this.error.set(null);
    const body: LoginRequest = { username: this.username(), password: this.password() };
    this.http.post<LoginResponse>(AuthPath.login, body).subscribe({
      next: (res) => {
        this.auth.signIn(res);
        this.password.set('');
        this.busy.set(false);
        void this.router.navigateByUrl(safeReturnUrl(this.returnUrl()));
      },
      error: (err: unknown) => {
        this.busy.set(false);
        this.error.set(messageOf(err));
      },
    });
  }
}

/** Only paths of this app: `?returnUrl=https://elsewhere` must not send a fresh session away. */
export function safeReturnUrl(url: string | undefined): string {
  if (!url || !url.startsWith('/') || url.startsWith('//') || url.startsWith('/login')) return '/';
  return url;
}

function messageOf(err: unknown): string {
  if (!(err instanceof HttpErrorResponse)) return 'Something went wrong; try again.';
  const body = err.error as Partial<ErrorBody> | null;
  switch (err.status) {
    case 401:
      return 'Wrong user name or password.';
    case 429: {
      const s = Number(err.headers.get('Retry-After'));
      return `Too many failed attempts. Try again${s > 0 ? ` in ${s} s` : ' later'}.`;
    }
    case 0:
      return 'The gateway cannot be reached.';
    default:
      return body?.message ? `The gateway refused: ${body.message}` : `The gateway answered ${err.status}.`;
  }
}
