import { HttpTestingController } from '@angular/common/http/testing';
import { TestBed } from '@angular/core/testing';
import { provideRouter, Router } from '@angular/router';
import { AuthService } from '../../core/auth/auth.service';
import { providersForTests } from '../../core/providers.testing';
import { FakeManager } from '../../core/socket/fake-io.testing';
import { LoginComponent, safeReturnUrl } from './login.component';

/** A token whose claims say `sub`, `role` and `exp` (the dashboard reads them; the gateway verifies them). */
function tokenFor(sub: string, role: string, expS: number): string {
  const b64 = (v: object) => btoa(JSON.stringify(v)).replace(/=+$/, '').replace(/\+/g, '-').replace(/\//g, '_');
  return `${b64({ alg: 'HS256', typ: 'JWT' })}.${b64({ sub, role, exp: expS })}.sig`;
}

describe('LoginComponent', () => {
  let backend: HttpTestingController;
  let router: Router;

  beforeEach(() => {
    localStorage.clear();
    TestBed.configureTestingModule({
      providers: [...providersForTests(new FakeManager()), provideRouter([{ path: '**', children: [] }])],
    });
    backend = TestBed.inject(HttpTestingController);
    router = TestBed.inject(Router);
  });
  afterEach(() => backend.verify());

  function render(inputs: { returnUrl?: string; reason?: string } = {}) {
    const fixture = TestBed.createComponent(LoginComponent);
    for (const [k, v] of Object.entries(inputs)) fixture.componentRef.setInput(k, v);
    fixture.detectChanges();
    const el = fixture.nativeElement as HTMLElement;
    const type = (name: string, value: string) => {
      const input = el.querySelector<HTMLInputElement>(`input[name="${name}"]`)!;
      input.value = value;
      input.dispatchEvent(new Event('input'));
    };
    const submit = () => {
      el.querySelector('form')!.dispatchEvent(new Event('submit'));
      fixture.detectChanges();
    };
    return { fixture, el, type, submit };
  }

  it('signs in, keeps the token and goes back where the operator wanted to go', () => {
    const navigate = jest.spyOn(router, 'navigateByUrl').mockResolvedValue(true);
    const { el, type, submit, fixture } = render({ returnUrl: '/devices/pump-7' });
    expect(el.querySelector('button')!.disabled).toBe(true);
    type('username', 'admin');
    type('password', 's3cret-pw');
    fixture.detectChanges();
    submit();
    const req = backend.expectOne('/api/auth/login');
    expect(req.request.method).toBe('POST');
    expect(req.request.body).toEqual({ username: 'admin', password: 's3cret-pw' });
    const token = tokenFor('admin', 'admin', Math.floor(Date.now() / 1000) + 3600);
    req.flush({ accessToken: token, tokenType: 'Bearer', expiresIn: 3600, username: 'admin', role: 'admin' });
    expect(TestBed.inject(AuthService).token()).toBe(token);
    expect(TestBed.inject(AuthService).session()).toMatchObject({ username: 'admin', role: 'admin' });
    expect(navigate).toHaveBeenCalledWith('/devices/pump-7');
  });

  it('says why a login failed', () => {
    const { el, type, submit, fixture } = render();
    type('username', 'admin');
    type('password', 'wrong-pw');
    fixture.detectChanges();
    submit();
    backend
      .expectOne('/api/auth/login')
      .flush({ code: 'UNAUTHORIZED', message: 'invalid username or password' }, { status: 401, statusText: 'x' });
    fixture.detectChanges();
    expect(el.querySelector('[data-login="error"]')!.textContent).toContain('Wrong user name or password');
    expect(TestBed.inject(AuthService).token()).toBeNull();

    submit();
    backend
      .expectOne('/api/auth/login')
      .flush(
        { code: 'RATE_LIMITED', message: 'too many failed logins' },
        { status: 429, statusText: 'x', headers: { 'Retry-After': '6' } },
      );
    fixture.detectChanges();
    expect(el.querySelector('[data-login="error"]')!.textContent).toContain('in 6 s');
  });

  it('tells an operator whose session ended', () => {
    const { el } = render({ reason: 'expired' });
    expect(el.querySelector('[data-login="notice"]')!.textContent).toContain('session has ended');
  });

  it('returns only to paths of the dashboard', () => {
    expect(safeReturnUrl('/devices/x?range=1h')).toBe('/devices/x?range=1h');
    expect(safeReturnUrl(undefined)).toBe('/');
    expect(safeReturnUrl('https://evil.example/')).toBe('/');
    expect(safeReturnUrl('//evil.example/')).toBe('/');
    expect(safeReturnUrl('/login?returnUrl=/x')).toBe('/');
  });
});
