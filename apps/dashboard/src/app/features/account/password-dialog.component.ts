import { HttpClient, HttpErrorResponse } from '@angular/common/http';
import {
  ChangeDetectionStrategy,
  Component,
  computed,
  type ElementRef,
  inject,
  signal,
  viewChild,
} from '@angular/core';
import type { ChangePasswordRequest, ErrorBody, LoginResponse } from '@fieldline/contracts';
import { AuthPath, MIN_OPERATOR_PASSWORD_LENGTH } from '@fieldline/contracts/auth';
import { AuthService } from '../../core/auth/auth.service';

/**
 * The signed-in operator changes their own password (the current one is asked for). The gateway ends every other
 * session of the user and answers a new one for this browser, which takes it over.
 */
@Component({
  selector: 'fl-password-dialog',
  template: `
    <button type="button" class="open" data-session="password" (click)="open()">Password</button>
    <dialog #dialog aria-labelledby="pw-title" (close)="reset()">
      <form (submit)="submit($event)">
        <h2 id="pw-title">Change your password</h2>
        <label
          >Current password
          <input
            name="pw-current"
            type="password"
            autocomplete="current-password"
            [value]="current()"
            (input)="current.set($any($event.target).value)"
        /></label>
        <label
          >New password (at least {{ min }} characters)
          <input
            name="pw-new"
            type="password"
            autocomplete="new-password"
            [value]="next()"
            (input)="next.set($any($event.target).value)"
        /></label>
        <label
          >New password again
          <input
            name="pw-confirm"
            type="password"
            autocomplete="new-password"
            [value]="confirm()"
            (input)="confirm.set($any($event.target).value)"
        /></label>
        @if (error(); as e) {
          <p class="error" role="alert" data-password="error">{{ e }}</p>
        }
        @if (done()) {
          <p role="status" data-password="done">Password changed. Other sessions were signed out.</p>
        }
        <div class="buttons">
          <button type="button" (click)="dialog.close()">Close</button>
          <button type="submit" [disabled]="!canSubmit()">Change</button>
        </div>
      </form>
    </dialog>
  `,
  styles: `
    .open {
      background: transparent;
      border-color: #334155;
      color: #e2e8f0;
    }
    dialog {
      border: 1px solid var(--line);
      border-radius: 8px;
      color: var(--text);
      max-width: 24rem;
      width: 100%;
    }
    form {
      display: flex;
      flex-direction: column;
      gap: 0.75rem;
    }
    label {
      display: flex;
      flex-direction: column;
      gap: 0.25rem;
      font-size: 0.9rem;
    }
    .buttons {
      display: flex;
      justify-content: flex-end;
      gap: 0.5rem;
    }
    .error {
      color: var(--bad);
    }
  `,
  changeDetection: ChangeDetectionStrategy.OnPush,
})
export class PasswordDialogComponent {
  private readonly http = inject(HttpClient);
  private readonly auth = inject(AuthService);
  protected readonly dialog = viewChild.required<ElementRef<HTMLDialogElement>>('dialog');
  protected readonly min = MIN_OPERATOR_PASSWORD_LENGTH;
  protected readonly current = signal('');
  protected readonly next = signal('');
  protected readonly confirm = signal('');
  protected readonly busy = signal(false);
  protected readonly done = signal(false);
  protected readonly error = signal<string | null>(null);
  protected readonly canSubmit = computed(
    () => !this.busy() && this.current() !== '' && this.next().length >= this.min && this.next() === this.confirm(),
  );

  protected open(): void {
    this.reset();
    this.dialog().nativeElement.showModal();
  }

  protected reset(): void {
    this.current.set('');
    this.next.set('');
    this.confirm.set('');
    this.error.set(null);
    this.done.set(false);
  }

  protected submit(event: Event): void {
    event.preventDefault();
    if (!this.canSubmit()) return;
    this.busy.set(true);
    this.error.set(null);
    const body: ChangePasswordRequest = { currentPassword: this.current(), newPassword: this.next() };
    this.http.post<LoginResponse>(AuthPath.password, body).subscribe({
      next: (res) => {
        this.busy.set(false);
        this.auth.signIn(res);
        this.current.set('');
        this.next.set('');
        this.confirm.set('');
        this.done.set(true);
      },
      error: (err: unknown) => {
        this.busy.set(false);
        const b = err instanceof HttpErrorResponse ? (err.error as Partial<ErrorBody> | null) : null;
        this.error.set(
          err instanceof HttpErrorResponse && err.status === 403
            ? 'The current password is wrong.'
            : (b?.message ?? 'Something went wrong; try again.'),
        );
      },
    });
  }
}
