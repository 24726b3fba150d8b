import { HttpClient, provideHttpClient, withInterceptors } from '@angular/common/http';
import { HttpTestingController, provideHttpClientTesting } from '@angular/common/http/testing';
import { TestBed } from '@angular/core/testing';
import { provideRouter, Router } from '@angular/router';
import { firstValueFrom } from 'rxjs';
import { authInterceptor } from './auth.interceptor';
import { AuthService } from './auth.service';

function tokenFor(sub: string, expS = Math.floor(Date.now() / 1000) + 600): string {
  const b64 = (v: object) => btoa(JSON.stringify(v)).replace(/=+$/, '').replace(/\+/g, '-').replace(/\//g, '_');
  return `${b64({ alg: 'HS256' })}.${b64({ sub, role: 'operator', exp: expS })}.sig`;
}

const pair = (sub: string, refreshToken: string, ttlS = 600) => ({
  accessToken: tokenFor(sub, Math.floor(Date.now() / 1000) + ttlS),
  tokenType: 'Bearer',
  expiresIn: 600,
  username: sub,
  role: 'operator',
  refreshToken,
  refreshExpiresIn: 86_400,
});

/** Lets the refresh's promise chain run. */
const settle = (): Promise<void> => new Promise((resolve) => setTimeout(resolve, 0));

describe('AuthService refresh tokens', () => {
  let http: HttpClient;
  let backend: HttpTestingController;
  let auth: AuthService;
  let navigate: jest.SpyInstance;

  beforeEach(() => {
    localStorage.clear();
    TestBed.configureTestingModule({
      providers: [
        provideRouter([]),
        provideHttpClient(withInterceptors([authInterceptor])),
        provideHttpClientTesting(),
      ],
    });
    http = TestBed.inject(HttpClient);
    backend = TestBed.inject(HttpTestingController);
    auth = TestBed.inject(AuthService);
    navigate = jest.spyOn(TestBed.inject(Router), 'navigate').mockResolvedValue(true);
  });
  afterEach(() => backend.verify());

  it('keeps both tokens; a 401 is answered by one refresh and the request goes again with the new token', async () => {
    auth.signIn(pair('olga', 'r1') as never);
    expect(localStorage.getItem('fieldline.refresh')).toBe('r1');
    const first = auth.token();
    const a = firstValueFrom(http.get('/api/devices'));
    const b = firstValueFrom(http.get('/api/auth/me'));
    backend.expectOne('/api/devices').flush({ code: 'UNAUTHORIZED' }, { status: 401, statusText: 'Unauthorized' });
    backend.expectOne('/api/auth/me').flush({ code: 'UNAUTHORIZED' }, { status: 401, statusText: 'Unauthorized' });
    await settle();
    // Both refusals share one refresh: the gateway takes each refresh token once.
    const refresh = backend.expectOne('/api/auth/refresh');
    expect(refresh.request.body).toEqual({ refreshToken: 'r1' });
    expect(refresh.request.headers.has('Authorization')).toBe(false);
    const next = pair('olga', 'r2', 900);
    refresh.flush(next);
    await settle();
    for (const url of ['/api/devices', '/api/auth/me']) {
      const again = backend.expectOne(url);
      expect(again.request.headers.get('Authorization')).toBe(`Bearer ${next.accessToken}`);
      again.flush({});
    }
    await Promise.all([a, b]);
    expect([auth.token() === first, auth.token()]).toEqual([false, next.accessToken]);
    expect(localStorage.getItem('fieldline.refresh')).toBe('r2');
    expect(navigate).not.toHaveBeenCalled();
  });

  it('a refused refresh (disabled user, ended session) signs out', async () => {
    auth.signIn(pair('olga', 'r1') as never);
    const req = firstValueFrom(http.get('/api/devices')).catch((e: unknown) => e);
    backend.expectOne('/api/devices').flush({ code: 'UNAUTHORIZED' }, { status: 401, statusText: 'Unauthorized' });
    await settle();
    backend.expectOne('/api/auth/refresh').flush({ code: 'UNAUTHORIZED' }, { status: 401, statusText: 'Unauthorized' });
    await req;
    expect(auth.token()).toBeNull();
    expect(localStorage.getItem('fieldline.refresh')).toBeNull();
    expect(navigate).toHaveBeenCalledWith(['/login'], { queryParams: { reason: 'expired' } });
  });

  it('signing out ends the session at the gateway', () => {
    auth.signIn(pair('olga', 'r1') as never);
    auth.signOut('signedOut');
    const logout = backend.expectOne('/api/auth/logout');
    expect(logout.request.body).toEqual({ refreshToken: 'r1' });
    logout.flush(null, { status: 204, statusText: 'No Content' });
    expect(auth.token()).toBeNull();
  });

  it('refreshes shortly before the access token expires instead of signing out', async () => {
    jest.useFakeTimers({ now: Date.now() });
    try {
      auth.signIn({
        ...pair('olga', 'r1'),
        accessToken: tokenFor('olga', Math.floor(Date.now() / 1000) + 30),
      } as never);
      TestBed.tick();
      jest.advanceTimersByTime(20_500);
      const refresh = backend.expectOne('/api/auth/refresh');
      refresh.flush(pair('olga', 'r2'));
      await Promise.resolve();
      expect(localStorage.getItem('fieldline.refresh')).toBe('r2');
      expect(navigate).not.toHaveBeenCalled();
    } finally {
      jest.useRealTimers();
    }
  });
});
