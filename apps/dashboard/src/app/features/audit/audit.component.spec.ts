import { HttpTestingController, type TestRequest } from '@angular/common/http/testing';
import { TestBed } from '@angular/core/testing';
import { provideRouter, Router, type RouterStateSnapshot, type UrlTree } from '@angular/router';
import type { AuditPage, AuditRecord } from '@fieldline/contracts';
import { AUDIT_PATH } from '@fieldline/contracts/audit';
import { adminGuard } from '../../core/auth/admin.guard';
import { AuthService } from '../../core/auth/auth.service';
import { providersForTests } from '../../core/providers.testing';
import { FakeManager } from '../../core/socket/fake-io.testing';
import { AuditComponent, auditParams, detailsText, NO_FILTERS } from './audit.component';

function tokenFor(sub: string, role: string): string {
  const b64 = (v: object) => btoa(JSON.stringify(v)).replace(/=+$/, '').replace(/\+/g, '-').replace(/\//g, '_');
  return `${b64({ alg: 'HS256' })}.${b64({ sub, role, exp: Math.floor(Date.now() / 1000) + 600 })}.sig`;
}

const entry = (id: string, over: Partial<AuditRecord> = {}): AuditRecord => ({
  id,
  at: 1_750_000_000_000,
  actor: 'admin',
  action: 'device.register',
  target: 'pump-1',
  from: '10.0.0.7',
  ok: true,
  details: null,
  ...over,
});

describe('AuditComponent', () => {
  let backend: HttpTestingController;

  beforeEach(() => {
    localStorage.clear();
    TestBed.configureTestingModule({
      providers: [...providersForTests(new FakeManager()), provideRouter([{ path: '**', children: [] }])],
    });
    backend = TestBed.inject(HttpTestingController);
  });
  afterEach(() => backend.verify());

  const expectPage = (params: Record<string, string>): TestRequest => {
    const req = backend.expectOne((r) => r.url === AUDIT_PATH);
    const sent = Object.fromEntries(req.request.params.keys().map((k) => [k, req.request.params.get(k)]));
    expect(sent).toEqual({ limit: '50', ...params });
    return req;
  };

  it('turns the form into the query: local times to epoch ms, empty fields left out', () => {
    expect(auditParams(NO_FILTERS, null)).toEqual({ limit: '50' });
    const from = '2026-12-01T10:00:00';
    expect(
      auditParams({ ...NO_FILTERS, from, actor: ' ada ', action: 'device.', ok: 'false', to: 'garbage' }, 'c1'),
    ).toEqual({
      limit: '50',
      from: String(new Date(from).getTime()),
      actor: 'ada',
      action: 'device.',
      ok: 'false',
      cursor: 'c1',
    });
    expect(detailsText({ code: 'CONFLICT', fields: ['site'] })).toBe('code=CONFLICT fields=["site"]');
    expect(detailsText(null)).toBe('');
  });

  it('lists entries newest first, filters, and pages older and back', async () => {
    const fixture = TestBed.createComponent(AuditComponent);
    const el = fixture.nativeElement as HTMLElement;
    const settle = async () => {
      await fixture.whenStable();
      fixture.detectChanges();
    };
    expectPage({}).flush({
      entries: [
        entry('b', {
          action: 'auth.login',
          actor: 'mallory',
          target: null,
          ok: false,
          details: { code: 'UNAUTHORIZED' },
        }),
        entry('a', { details: { name: 'Pump' } }),
      ],
      nextCursor: '1750000000000.a',
    } satisfies AuditPage);
    await settle();
    const rows = [...el.querySelectorAll('[data-audit="entry"]')];
    expect(rows.map((r) => r.getAttribute('data-action'))).toEqual(['auth.login', 'device.register']);
    expect(rows[0].textContent).toContain('mallory');
    expect(rows[0].textContent).toContain('Refused');
    expect(rows[0].textContent).toContain('code=UNAUTHORIZED');
    expect(rows[1].textContent).toContain('10.0.0.7');
    expect(rows[1].textContent).toContain('Done');
    expect(el.querySelector<HTMLButtonElement>('[data-audit="newer"]')!.disabled).toBe(true);

    el.querySelector<HTMLButtonElement>('[data-audit="older"]')!.click();
    expectPage({ cursor: '1750000000000.a' }).flush({ entries: [entry('0')], nextCursor: null });
    await settle();
    expect(el.querySelector('[data-audit="page"]')!.textContent).toContain('Page 2');
    expect(el.querySelector<HTMLButtonElement>('[data-audit="older"]')!.disabled).toBe(true);
    el.querySelector<HTMLButtonElement>('[data-audit="newer"]')!.click();
    expectPage({}).flush({ entries: [entry('a')], nextCursor: null });
    await settle();
    expect(el.querySelector('[data-audit="page"]')!.textContent).toContain('Page 1');

    const input = el.querySelector<HTMLInputElement>('input[name="target"]')!;
    input.value = 'pump-9';
    input.dispatchEvent(new Event('input'));
    const ok = el.querySelector<HTMLSelectElement>('select[name="ok"]')!;
    ok.value = 'true';
    ok.dispatchEvent(new Event('change'));
    el.querySelector('form')!.dispatchEvent(new Event('submit'));
    expectPage({ target: 'pump-9', ok: 'true' }).flush({ entries: [], nextCursor: null });
    await settle();
    expect(el.textContent).toContain('No entry matches.');
  });

  it("shows the gateway's refusal of a filter", async () => {
    const fixture = TestBed.createComponent(AuditComponent);
    expectPage({}).flush(
      { code: 'INVALID_REQUEST', message: 'from must be epoch ms or ISO-8601' },
      { status: 400, statusText: 'Bad Request' },
    );
    await fixture.whenStable();
    fixture.detectChanges();
    const el = fixture.nativeElement as HTMLElement;
    expect(el.querySelector('[data-audit="error"]')!.textContent).toContain('from must be epoch ms or ISO-8601');
  });
});

describe('adminGuard', () => {
  beforeEach(() => {
    localStorage.clear();
    TestBed.configureTestingModule({ providers: [provideRouter([])] });
  });
  const run = () =>
    TestBed.runInInjectionContext(() => adminGuard({} as never, { url: '/audit' } as RouterStateSnapshot)) as
      boolean | UrlTree;
  const serialize = (r: boolean | UrlTree) => (typeof r === 'boolean' ? r : TestBed.inject(Router).serializeUrl(r));

  it('lets admins through, sends viewers to the fleet and everyone else to sign in', () => {
    expect(serialize(run())).toBe('/login?returnUrl=%2Faudit');
    TestBed.inject(AuthService).setToken(tokenFor('vera', 'viewer'));
    expect(serialize(run())).toBe('/');
    TestBed.inject(AuthService).setToken(tokenFor('ada', 'admin'));
    expect(run()).toBe(true);
  });
});
