import { provideHttpClient, withInterceptors } from '@angular/common/http';
import { HttpTestingController, provideHttpClientTesting } from '@angular/common/http/testing';
import { TestBed } from '@angular/core/testing';
import { authInterceptor } from '../../core/auth/auth.interceptor';
import { AuthService } from '../../core/auth/auth.service';
import { fileNameOf } from '../../core/api/export.api';
import { resolveRange } from '../../core/series/time-range';
import { DownloadButtonComponent } from './download-button.component';

const flush = (): Promise<void> => new Promise((r) => setTimeout(r, 0));

describe('DownloadButtonComponent', () => {
  let saved: { href: string; download: string }[];
  const created: Blob[] = [];

  beforeEach(() => {
    saved = [];
    created.length = 0;
    // jsdom has no object URLs and does not download: record what would be saved.
    URL.createObjectURL = (b: Blob) => {
      created.push(b);
      return `blob:test/${created.length}`;
    };
    URL.revokeObjectURL = () => undefined;
    jest.spyOn(HTMLAnchorElement.prototype, 'click').mockImplementation(function (this: HTMLAnchorElement) {
      saved.push({ href: this.href, download: this.download });
    });
    TestBed.configureTestingModule({
      providers: [provideHttpClient(withInterceptors([authInterceptor])), provideHttpClientTesting()],
    });
  });

  afterEach(() => {
    jest.restoreAllMocks();
    localStorage.clear();
  });

  beforeAll(() => {
    // jsdom's Blob has no text() (browsers have had it since 2019): read it the older way.
    Blob.prototype.text ??= function (this: Blob) {
      return new Promise<string>((resolve, reject) => {
        const reader = new FileReader();
        reader.onload = () => resolve(reader.result as string);
        reader.onerror = () => reject(reader.error ?? new Error('unreadable blob'));
        reader.readAsText(this);
      });
    };
  });

  async function mount(range = resolveRange('1h', Date.now())) {
    const fixture = TestBed.createComponent(DownloadButtonComponent);
    fixture.componentRef.setInput('deviceId', 'pump.7');
    fixture.componentRef.setInput('range', range);
    await fixture.whenStable();
    return { fixture, el: fixture.nativeElement as HTMLElement, http: TestBed.inject(HttpTestingController) };
  }

  it('fetches the export of the range shown with the operator token and saves it under the gateway’s name', async () => {
    TestBed.inject(AuthService).setToken('tok-1');
    const { fixture, el, http } = await mount();
    (el.querySelector('[data-download="csv"]') as HTMLButtonElement).click();
    await fixture.whenStable();
    const req = http.expectOne((r) => r.url === '/api/devices/pump.7/export');
    expect(req.request.headers.get('Authorization')).toBe('Bearer tok-1');
    expect(req.request.responseType).toBe('blob');
    const p = req.request.params;
    expect(p.get('format')).toBe('csv');
    const from = Number(p.get('from'));
    const to = Number(p.get('to'));
    expect(to - from).toBe(3_600_000); // the sliding hour, where it is at the click
    expect(Math.abs(Date.now() - to)).toBeLessThan(1000);
    expect(el.querySelector('[data-download="csv"]')!.textContent).toContain('Downloading');
    const csv = 'ts,temperature\r\n2026-12-02T10:00:00.000Z,21.5\r\n';
    req.flush(new Blob([csv], { type: 'text/csv' }), {
      headers: { 'Content-Disposition': 'attachment; filename="pump.7_20261202T100000Z_20261202T110000Z_raw.csv"' },
    });
    await flush();
    await fixture.whenStable();
    expect(saved).toEqual([{ href: 'blob:test/1', download: 'pump.7_20261202T100000Z_20261202T110000Z_raw.csv' }]);
    expect(await created[0].text()).toBe(csv);
    expect(el.querySelector('[data-download="csv"]')!.textContent).toContain('CSV');
    http.verify();
  });

  it('a fixed window is exported as it is, NDJSON on request; a refusal is shown with the gateway’s message', async () => {
    const { fixture, el, http } = await mount(resolveRange('custom', Date.now(), { from: 1000, to: 5000 }));
    (el.querySelector('[data-download="ndjson"]') as HTMLButtonElement).click();
    const req = http.expectOne((r) => r.url === '/api/devices/pump.7/export');
    expect(req.request.params.keys().map((k) => [k, req.request.params.get(k)])).toEqual([
      ['from', '1000'],
      ['to', '5000'],
      ['format', 'ndjson'],
    ]);
    const body = new Blob([JSON.stringify({ code: 'NOT_FOUND', message: 'no device "pump.7"' })]);
    req.flush(body, { status: 404, statusText: 'Not Found' });
    await flush();
    await flush();
    await fixture.whenStable();
    expect(el.querySelector('[role="alert"]')!.textContent).toContain('Download failed: no device "pump.7"');
    expect(saved).toEqual([]);
    expect((el.querySelector('[data-download="ndjson"]') as HTMLButtonElement).disabled).toBe(false);
  });

  it('reads the file name out of Content-Disposition', () => {
    expect(fileNameOf('attachment; filename="a_b.csv"')).toBe('a_b.csv');
    expect(fileNameOf(null)).toBeNull();
  });
});
