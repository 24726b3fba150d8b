import { TestBed } from '@angular/core/testing';
import { provideRouter, Router, type RouterStateSnapshot, type UrlTree } from '@angular/router';
import { authGuard } from './auth.guard';
import { AuthService } from './auth.service';
import { sessionOf } from './session';

function tokenFor(claims: object): string {
  const b64 = (v: object) => btoa(JSON.stringify(v)).replace(/=+$/, '').replace(/\+/g, '-').replace(/\//g, '_');
  return `${b64({ alg: 'HS256' })}.${b64(claims)}.sig`;
}

describe('authGuard', () => {
  beforeEach(() => {
    localStorage.clear();
    TestBed.configureTestingModule({ providers: [provideRouter([])] });
  });

  const run = (url: string) =>
    TestBed.runInInjectionContext(() => authGuard({} as never, { url } as RouterStateSnapshot)) as boolean | UrlTree;
  const serialize = (r: boolean | UrlTree) => (typeof r === 'boolean' ? r : TestBed.inject(Router).serializeUrl(r));

  it('lets a signed-in operator through', () => {
    TestBed.inject(AuthService).setToken(tokenFor({ sub: 'vera', role: 'viewer', exp: Date.now() / 1000 + 600 }));
    expect(run('/devices/a')).toBe(true);
  });

  it('sends everyone else to the login page, to come back afterwards', () => {
    expect(serialize(run('/devices/a'))).toBe('/login?returnUrl=%2Fdevices%2Fa');
    expect(serialize(run('/'))).toBe('/login');
    TestBed.inject(AuthService).setToken(tokenFor({ sub: 'vera', role: 'viewer', exp: Date.now() / 1000 - 1 }));
    expect(serialize(run('/'))).toBe('/login?reason=expired');
    expect(TestBed.inject(AuthService).token()).toBeNull();
  });

  it('reads sessions from tokens, and nothing from garbage', () => {
    expect(sessionOf(tokenFor({ sub: 'a', role: 'admin', exp: 10 }))).toEqual({
      username: 'a',
      role: 'admin',
      expiresAt: 10_000,
    });
    for (const t of [null, '', 'x', 'a.b.c', tokenFor({ sub: 'a', role: 'root', exp: 1 }), tokenFor({ role: 'admin' })])
      expect(sessionOf(t)).toBeNull();
  });
});
