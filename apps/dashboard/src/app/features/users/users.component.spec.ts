import { HttpTestingController } from '@angular/common/http/testing';
import { TestBed } from '@angular/core/testing';
import { provideRouter } from '@angular/router';
import type { OperatorUser } from '@fieldline/contracts';
import { providersForTests } from '../../core/providers.testing';
import { FakeManager } from '../../core/socket/fake-io.testing';
import { UsersComponent } from './users.component';

const user = (username: string, role: OperatorUser['role'], disabledAt: number | null = null): OperatorUser => ({
  username,
  role,
  disabledAt,
  createdAt: 1,
  updatedAt: 1,
  passwordChangedAt: 1,
  totp: false,
});

describe('UsersComponent', () => {
  let backend: HttpTestingController;

  beforeEach(() => {
    localStorage.clear();
    TestBed.configureTestingModule({
      providers: [...providersForTests(new FakeManager()), provideRouter([])],
    });
    backend = TestBed.inject(HttpTestingController);
  });
  afterEach(() => backend.verify());

  function render(list: OperatorUser[]) {
    const fixture = TestBed.createComponent(UsersComponent);
    backend.expectOne('/api/users').flush(list);
    fixture.detectChanges();
    const el = fixture.nativeElement as HTMLElement;
    const row = (name: string) => el.querySelector<HTMLElement>(`[data-user="${name}"]`)!;
    return { fixture, el, row };
  }

  it('lists users with role and state', () => {
    const { row } = render([user('admin', 'admin'), user('olga', 'operator', 5)]);
    expect(row('admin').querySelector<HTMLSelectElement>('select')!.value).toBe('admin');
    expect(row('olga').querySelector('[data-state]')!.getAttribute('data-state')).toBe('disabled');
    expect(row('olga').querySelector('[data-users="toggle"]')!.textContent.trim()).toBe('Enable');
  });

  it('adds a user and shows the password the gateway made, once', () => {
    const { el, fixture } = render([]);
    const name = el.querySelector<HTMLInputElement>('input[name="new-username"]')!;
    name.value = 'pete';
    name.dispatchEvent(new Event('input'));
    const role = el.querySelector<HTMLSelectElement>('select[name="new-role"]')!;
    role.value = 'operator';
    role.dispatchEvent(new Event('change'));
    fixture.detectChanges();
    el.querySelector('form')!.dispatchEvent(new Event('submit'));
    const req = backend.expectOne({ method: 'POST', url: '/api/users' });
    expect(req.request.body).toEqual({ username: 'pete', role: 'operator' });
    req.flush({ user: user('pete', 'operator'), password: 'generated-password-123' });
    backend.expectOne('/api/users').flush([user('pete', 'operator')]);
    fixture.detectChanges();
    expect(el.querySelector('[data-users="password"]')!.textContent).toContain('generated-password-123');
    expect(el.querySelector('[data-user="pete"]')).not.toBeNull();
  });

  it('disables, changes a role and resets a password; a refusal is shown', () => {
    const { row, el, fixture } = render([user('olga', 'viewer')]);
    row('olga').querySelector<HTMLButtonElement>('[data-users="toggle"]')!.click();
    const patch = backend.expectOne({ method: 'PATCH', url: '/api/users/olga' });
    expect(patch.request.body).toEqual({ disabled: true });
    patch.flush(user('olga', 'viewer', 9));
    backend.expectOne('/api/users').flush([user('olga', 'viewer', 9)]);
    fixture.detectChanges();
    const select = row('olga').querySelector<HTMLSelectElement>('[data-users="role"]')!;
    select.value = 'admin';
    select.dispatchEvent(new Event('change'));
    const role = backend.expectOne({ method: 'PATCH', url: '/api/users/olga' });
    expect(role.request.body).toEqual({ role: 'admin' });
    role.flush({ code: 'CONFLICT', message: 'nope' }, { status: 409, statusText: 'Conflict' });
    backend.expectOne('/api/users').flush([user('olga', 'viewer', 9)]);
    fixture.detectChanges();
    expect(el.querySelector('[data-users="error"]')!.textContent).toContain('nope');
    row('olga').querySelector<HTMLButtonElement>('[data-users="reset"]')!.click();
    backend
      .expectOne({ method: 'POST', url: '/api/users/olga/password' })
      .flush({ user: user('olga', 'viewer', 9), password: 'fresh-one-time-pw' });
    backend.expectOne('/api/users').flush([user('olga', 'viewer', 9)]);
    fixture.detectChanges();
    expect(el.querySelector('[data-users="password"]')!.textContent).toContain('fresh-one-time-pw');
  });
});
