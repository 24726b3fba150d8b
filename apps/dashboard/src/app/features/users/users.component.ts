import { HttpClient, HttpErrorResponse } from '@angular/common/http';
import { ChangeDetectionStrategy, Component, computed, inject, signal } from '@angular/core';
import type {
  CreateUserRequest,
  ErrorBody,
  NewPasswordResponse,
  OperatorRole,
  OperatorUser,
  UpdateUserRequest,
} from '@fieldline/contracts';
import { AuthPath, OPERATOR_ROLES, userPasswordPath, userPath } from '@fieldline/contracts/auth';
import type { Observable } from 'rxjs';
import { AuthService } from '../../core/auth/auth.service';

/** A password to show once: the gateway made it for `username`. */
interface Shown {
  username: string;
  password: string;
}

/**
 * `/users` (admins): every user with role and state; add one, change a role, disable or enable, reset a password.
 * A password the gateway makes is shown here once, to hand over.
 */
@Component({
  selector: 'fl-users',
  template: `
    <section class="page">
      <h1>Users</h1>
      @if (shown(); as s) {
        <p class="shown" role="status" data-users="password">
          New password for <strong>{{ s.username }}</strong>: <code>{{ s.password }}</code> — shown this once.
        </p>
      }
      @if (error(); as e) {
        <p class="error" role="alert" data-users="error">{{ e }}</p>
      }
      <table>
        <thead>
          <tr>
            <th>User</th>
            <th>Role</th>
            <th>State</th>
            <th></th>
          </tr>
        </thead>
        <tbody>
          @for (u of users(); track u.username) {
            <tr [attr.data-user]="u.username">
              <td>{{ u.username }}{{ u.username === me() ? ' (you)' : '' }}</td>
              <td>
                <select
                  [attr.aria-label]="'Role of ' + u.username"
                  data-users="role"
                  [value]="u.role"
                  [disabled]="busy()"
                  (change)="update(u, { role: $any($event.target).value })"
                >
                  @for (r of roles; track r) {
                    <option [value]="r" [selected]="r === u.role">{{ r }}</option>
                  }
                </select>
              </td>
              <td [attr.data-state]="u.disabledAt === null ? 'enabled' : 'disabled'">
                {{ u.disabledAt === null ? 'enabled' : 'disabled' }}
              </td>
              <td class="actions">
                <button
                  type="button"
                  data-users="toggle"
                  [disabled]="busy()"
                  (click)="update(u, { disabled: u.disabledAt === null })"
                >
                  {{ u.disabledAt === null ? 'Disable' : 'Enable' }}
                </button>
                <button type="button" data-users="reset" [disabled]="busy()" (click)="reset(u)">Reset password</button>
              </td>
            </tr>
          }
        </tbody>
      </table>
      <form class="add" (submit)="add($event)" aria-label="Add a user">
        <h2>Add a user</h2>
        <label
          >User name
          <input
            name="new-username"
            autocomplete="off"
            [value]="newName()"
            (input)="newName.set($any($event.target).value)"
        /></label>
        <label
          >Role
          <select name="new-role" [value]="newRole()" (change)="newRole.set($any($event.target).value)">
            @for (r of roles; track r) {
              <option [value]="r" [selected]="r === newRole()">{{ r }}</option>
            }
          </select></label
        >
        <label
          >Password (empty: one is made)
          <input
            name="new-password"
            type="password"
            autocomplete="new-password"
            [value]="newPassword()"
            (input)="newPassword.set($any($event.target).value)"
        /></label>
        <button type="submit" [disabled]="!canAdd()">Add</button>
      </form>
    </section>
  `,
  styles: `
    .page {
      max-width: 56rem;
      margin: 0 auto;
      padding: 1.5rem;
    }
    table {
      width: 100%;
      border-collapse: collapse;
      background: var(--panel);
      border: 1px solid var(--line);
    }
    th,
    td {
      text-align: left;
      padding: 0.5rem 0.75rem;
      border-bottom: 1px solid var(--line);
    }
    td[data-state='disabled'] {
      color: var(--bad);
    }
    .actions {
      display: flex;
      gap: 0.5rem;
      justify-content: flex-end;
    }
    .add {
      display: flex;
      flex-wrap: wrap;
      align-items: flex-end;
      gap: 0.75rem;
      margin-top: 1.5rem;
    }
    .add h2 {
      width: 100%;
      margin: 0;
      font-size: 1.05rem;
    }
    .add label {
      display: flex;
      flex-direction: column;
      gap: 0.25rem;
      font-size: 0.85rem;
    }
    .error {
      color: var(--bad);
    }
    .shown {
      background: var(--warn-bg);
      border: 1px solid var(--warn-line);
      padding: 0.6rem 0.8rem;
    }
  `,
  changeDetection: ChangeDetectionStrategy.OnPush,
})
export class UsersComponent {
  private readonly http = inject(HttpClient);
  private readonly auth = inject(AuthService);
  protected readonly roles = OPERATOR_ROLES;
  protected readonly me = computed(() => this.auth.session()?.username ?? null);
  protected readonly users = signal<OperatorUser[]>([]);
  protected readonly busy = signal(false);
  protected readonly error = signal<string | null>(null);
  protected readonly shown = signal<Shown | null>(null);
  protected readonly newName = signal('');
  protected readonly newRole = signal<OperatorRole>('viewer');
  protected readonly newPassword = signal('');
  protected readonly canAdd = computed(() => !this.busy() && this.newName().trim() !== '');

  constructor() {
    this.load();
  }

  protected add(event: Event): void {
    event.preventDefault();
    if (!this.canAdd()) return;
    const body: CreateUserRequest = { username: this.newName().trim(), role: this.newRole() };
    if (this.newPassword() !== '') body.password = this.newPassword();
    this.run(this.http.post<NewPasswordResponse>(AuthPath.users, body), (res) => {
      this.newName.set('');
      this.newPassword.set('');
      this.showPassword(res);
    });
  }

  protected update(user: OperatorUser, change: UpdateUserRequest): void {
    this.run(this.http.patch<OperatorUser>(userPath(user.username), change), () => this.shown.set(null));
  }

  protected reset(user: OperatorUser): void {
    this.run(this.http.post<NewPasswordResponse>(userPasswordPath(user.username), {}), (res) => this.showPassword(res));
  }

  private showPassword(res: NewPasswordResponse): void {
    this.shown.set(res.password === undefined ? null : { username: res.user.username, password: res.password });
  }

  private load(): void {
    this.http.get<OperatorUser[]>(AuthPath.users).subscribe({
      next: (list) => this.users.set(list),
      error: (err: unknown) => this.error.set(messageOf(err)),
    });
  }

  /** One change at a time; afterwards the list is read again (the gateway is the truth). */
  private run<T>(request: Observable<T>, done: (res: T) => void): void {
    this.busy.set(true);
    this.error.set(null);
    request.subscribe({
      next: (res) => {
        this.busy.set(false);
        done(res);
        this.load();
      },
      error: (err: unknown) => {
        this.busy.set(false);
        this.error.set(messageOf(err));
        this.load();
      },
    });
  }
}

function messageOf(err: unknown): string {
  if (!(err instanceof HttpErrorResponse)) return 'Something went wrong; try again.';
  const body = err.error as Partial<ErrorBody> | null;
  return body?.message ? `The gateway refused: ${body.message}` : `The gateway answered ${err.status}.`;
}
