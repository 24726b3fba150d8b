import { HttpTestingController, type TestRequest } from '@angular/common/http/testing';
import { Component, input } from '@angular/core';
import { TestBed } from '@angular/core/testing';
import { provideRouter, Router } from '@angular/router';
import type { HistoryResponse, Reading } from '@fieldline/contracts';
import { providersForTests } from '../../core/providers.testing';
import type { ChartSeries } from '../../core/series/metric-series';
import { FakeManager } from '../../core/socket/fake-io.testing';
import { SocketService } from '../../core/socket/socket.service';
import { ChartComponent, type XWindow } from '../../shared/chart/chart.component';
import { DeviceComponent, RESIZE_DEBOUNCE_MS } from './device.component';

/** Stands in for the Chart.js component (jsdom has no canvas): shows how many points it was given. */
@Component({ selector: 'fl-chart', template: '{{ series().line.length }}' })
class ChartStub {
  readonly series = input.required<ChartSeries>();
  readonly revision = input(0);
  readonly xWindow = input.required<XWindow>();
  readonly paused = input(false);
  readonly label = input('');
  readonly color = input('');
  readonly bucketMs = input<number | null>(null);
}

const flush = (): Promise<void> => new Promise((r) => setTimeout(r, 0));
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** The device view over a fake socket and a fake HTTP backend, with the chart stubbed. */
function mount(manager = new FakeManager()) {
  TestBed.configureTestingModule({ providers: [...providersForTests(manager), provideRouter([])] });
  TestBed.overrideComponent(DeviceComponent, {
    remove: { imports: [ChartComponent] },
    add: { imports: [ChartStub] },
  });
  return { manager, fixture: TestBed.createComponent(DeviceComponent) };
}

/** History of `metrics` for a request, three 10 s buckets before its end. */
function historyFor(req: TestRequest, metrics: string[]): HistoryResponse {
  const from = Number(req.request.params.get('from'));
  const to = Number(req.request.params.get('to'));
  return {
    deviceId: 'pump-7',
    from,
    to,
    bucketMs: 10_000,
    agg: 'mean',
    truncated: false,
    series: metrics.map((metric) => ({
      metric,
      points: [1, 2, 3].map((i) => ({ ts: to - i * 10_000, value: i, min: i, max: i, count: 1 })),
    })),
  };
}

/** Stands in for the browser's ResizeObserver (jsdom has none): the spec says when the charts' area resized. */
class FakeResizeObserver {
  static readonly all: FakeResizeObserver[] = [];
  constructor(readonly callback: () => void) {
    FakeResizeObserver.all.push(this);
  }
  observe(): void {}
  disconnect(): void {}
}

describe('DeviceComponent', () => {
  it('loads history to the cut, subscribes from it, and draws live readings after it; pause holds the table', async () => {
    const { manager, fixture } = mount();
    TestBed.inject(SocketService);
    const telemetry = manager.sockets.get('/telemetry')!;
    telemetry.accept();
    manager.sockets.get('/devices')!.accept();

    fixture.componentRef.setInput('id', 'pump-7');
    fixture.componentRef.setInput('range', '1h');
    await fixture.whenStable();
    const el = fixture.nativeElement as HTMLElement;

    const http = TestBed.inject(HttpTestingController);
    const req = http.expectOne((r) => r.url === '/api/devices/pump-7/readings');
    const p = req.request.params;
    const from = Number(p.get('from'));
    const cut = Number(p.get('to'));
    expect(Date.now() - from).toBeGreaterThanOrEqual(3_600_000);
    expect(Date.now() - from).toBeLessThan(3_700_000);
    expect(p.get('bucket')).toBe('auto');
    expect(p.get('agg')).toBe('mean');
    expect(Number(p.get('maxPoints'))).toBeGreaterThan(100);
    const bucketMs = 10_000;
    const history: HistoryResponse = {
      deviceId: 'pump-7',
      from,
      to: cut,
      bucketMs,
      agg: 'mean',
      truncated: false,
      series: ['pressure', 'flow'].map((metric) => ({
        metric,
        points: [0, 1, 2].map((i) => ({ ts: cut - (3 - i) * bucketMs, value: i, min: i - 1, max: i + 1, count: 10 })),
      })),
    };
    req.flush(history);
    await flush();
    await fixture.whenStable();

    expect([...el.querySelectorAll('article h2')].map((h) => h.textContent)).toEqual(['flow', 'pressure']);
    expect(el.querySelector('.summary')!.textContent).toContain('10 s buckets: mean, min–max band');
    expect(telemetry.pending('subscribe')[0].payload).toEqual({ deviceId: 'pump-7', since: cut - 1 });

    const live = (seq: number): Reading => ({
      deviceId: 'pump-7',
      ts: cut + seq * 100,
      seq,
      metrics: { pressure: seq, flow: 1 },
    });
    telemetry.answer('subscribe', { ok: true, deviceId: 'pump-7', backfill: [live(1), live(2)], truncated: false });
    await flush();
    telemetry.fire('readings', { deviceId: 'pump-7', readings: [live(2), live(3)] });
    await fixture.whenStable();
    expect([...el.querySelectorAll('fl-chart')].map((c) => c.textContent)).toEqual(['6', '6']); // 3 buckets + 3 live
    expect(el.querySelectorAll('fl-latest-table tbody tr')).toHaveLength(3);
    expect(el.querySelector('[data-metric="pressure"] .value')!.textContent).toBe('3');

    (el.querySelector('button.pause') as HTMLButtonElement).click();
    await fixture.whenStable();
    expect(el.querySelector('button.pause')!.textContent).toContain('Resume live');
    telemetry.fire('readings', { deviceId: 'pump-7', readings: [live(4)] });
    await fixture.whenStable();
    expect(el.querySelectorAll('fl-latest-table tbody tr')).toHaveLength(3);
    (el.querySelector('button.pause') as HTMLButtonElement).click();
    await fixture.whenStable();
    expect(el.querySelectorAll('fl-latest-table tbody tr')).toHaveLength(4);
    http.verify();
  });

  it('offers a retry when history cannot be loaded', async () => {
    const { fixture } = mount();
    fixture.componentRef.setInput('id', 'pump-7');
    await fixture.whenStable();
    const http = TestBed.inject(HttpTestingController);
    http
      .expectOne((r) => r.url === '/api/devices/pump-7/readings')
      .flush(
        { code: 'STORE_UNAVAILABLE', message: 'history is unavailable right now' },
        { status: 503, statusText: 'x' },
      );
    await flush();
    await fixture.whenStable();
    const el = fixture.nativeElement as HTMLElement;
    expect(el.querySelector('.error')!.textContent).toContain(
      'History could not be loaded: history is unavailable right now',
    );
    (el.querySelector('.error button') as HTMLButtonElement).click();
    await fixture.whenStable();
    http.expectOne((r) => r.url === '/api/devices/pump-7/readings');
  });

  describe('on resize', () => {
    const original = globalThis.ResizeObserver;
    beforeEach(() => {
      FakeResizeObserver.all.length = 0;
      globalThis.ResizeObserver = FakeResizeObserver as unknown as typeof ResizeObserver;
    });
    afterEach(() => {
      globalThis.ResizeObserver = original;
    });

    it('refetches history once the width settles, only when it changes the number of points', async () => {
      const { manager, fixture } = mount();
      TestBed.inject(SocketService);
      manager.sockets.get('/telemetry')!.accept();
      fixture.componentRef.setInput('id', 'pump-7');
      fixture.componentRef.setInput('range', '1h');
      await fixture.whenStable();
      const el = fixture.nativeElement as HTMLElement;
      const http = TestBed.inject(HttpTestingController);
      const history = () => http.match((r) => r.url === '/api/devices/pump-7/readings');
      const first = history();
      expect(first).toHaveLength(1);
      // jsdom lays nothing out: the view takes 1,000 px, two columns of 460 px charts, 10 s buckets over the hour.
      expect(first[0].request.params.get('maxPoints')).toBe('460');
      first[0].flush(historyFor(first[0], ['flow']));
      await flush();
      await fixture.whenStable();
      const shown = el.querySelector('fl-chart')!.textContent;

      const charts = el.querySelector<HTMLElement>('section.charts')!;
      const resizeTo = (px: number): void => {
        Object.defineProperty(charts, 'clientWidth', { value: px, configurable: true });
        for (const o of FakeResizeObserver.all) o.callback(); // a burst of observations while the window is dragged
      };
      // A phone: one column, 349 px of plot, 15 s buckets: 240 points instead of 360.
      resizeTo(700);
      await sleep(RESIZE_DEBOUNCE_MS / 2);
      resizeTo(381);
      expect(history()).toHaveLength(0);
      await sleep(RESIZE_DEBOUNCE_MS + 50);
      await fixture.whenStable();
      const second = history();
      expect(second).toHaveLength(1);
      expect(second[0].request.params.get('maxPoints')).toBe('349');
      // The charts keep what they show until the new history is in.
      expect(el.querySelector('fl-chart')!.textContent).toBe(shown);
      second[0].flush(historyFor(second[0], ['flow', 'pressure']));
      await flush();
      await fixture.whenStable();
      expect([...el.querySelectorAll('article h2')].map((h) => h.textContent)).toEqual(['flow', 'pressure']);

      // A few pixels narrower: still 15 s buckets, nothing to fetch.
      resizeTo(375);
      await sleep(RESIZE_DEBOUNCE_MS + 50);
      await fixture.whenStable();
      expect(history()).toHaveLength(0);
      http.verify();
    });
  });

  it('a custom range that follows now ends now, stays live, and is kept in the URL', async () => {
    const { manager, fixture } = mount();
    TestBed.inject(SocketService);
    const telemetry = manager.sockets.get('/telemetry')!;
    telemetry.accept();
    const picked = Date.now() - 60_000;
    fixture.componentRef.setInput('id', 'pump-7');
    fixture.componentRef.setInput('range', 'custom');
    fixture.componentRef.setInput('from', String(picked - 20 * 60_000));
    fixture.componentRef.setInput('to', String(picked));
    fixture.componentRef.setInput('follow', '1');
    await fixture.whenStable();
    const http = TestBed.inject(HttpTestingController);
    const req = http.expectOne((r) => r.url === '/api/devices/pump-7/readings');
    // 20 minutes ending now, not where the window was picked.
    expect(Math.abs(Number(req.request.params.get('from')) - (Date.now() - 20 * 60_000))).toBeLessThan(1000);
    req.flush(historyFor(req, ['flow']));
    await flush();
    await fixture.whenStable();
    expect(telemetry.pending('subscribe')).toHaveLength(1);
    const el = fixture.nativeElement as HTMLElement;
    expect((el.querySelector('button.pause') as HTMLButtonElement).disabled).toBe(false);

    const navigate = jest.spyOn(TestBed.inject(Router), 'navigate').mockResolvedValue(true);
    (el.querySelector('[data-range="custom"]') as HTMLButtonElement).click();
    await fixture.whenStable();
    expect((el.querySelector('input[name="follow"]') as HTMLInputElement).checked).toBe(true);
    el.querySelector('fl-range-selector form')!.dispatchEvent(new Event('submit'));
    expect(navigate).toHaveBeenCalledWith([], {
      queryParams: { range: 'custom', from: expect.any(Number), to: expect.any(Number), follow: 1 },
    });
    http.verify();
  });
});
