import { HttpTestingController } from '@angular/common/http/testing';
import { Component, input } from '@angular/core';
import { TestBed } from '@angular/core/testing';
import { provideRouter } from '@angular/router';
import type { HistoryResponse, Reading } from '@fieldline/contracts';
import { providersForTests } from '../../core/providers.testing';
import type { ChartSeries } from '../../core/series/metric-series';
import { FakeManager } from '../../core/socket/fake-io.testing';
import { SocketService } from '../../core/socket/socket.service';
import { ChartComponent, type XWindow } from '../../shared/chart/chart.component';
import { DeviceComponent } from './device.component';

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

describe('DeviceComponent', () => {
  it('loads history to the cut, subscribes from it, and draws live readings after it; pause holds the table', async () => {
    const manager = new FakeManager();
    TestBed.configureTestingModule({ providers: [...providersForTests(manager), provideRouter([])] });
    TestBed.overrideComponent(DeviceComponent, {
      remove: { imports: [ChartComponent] },
      add: { imports: [ChartStub] },
    });
    TestBed.inject(SocketService);
    const telemetry = manager.sockets.get('/telemetry')!;
    telemetry.accept();
    manager.sockets.get('/devices')!.accept();

    const fixture = TestBed.createComponent(DeviceComponent);
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
    const manager = new FakeManager();
    TestBed.configureTestingModule({ providers: [...providersForTests(manager), provideRouter([])] });
    TestBed.overrideComponent(DeviceComponent, {
      remove: { imports: [ChartComponent] },
      add: { imports: [ChartStub] },
    });
    const fixture = TestBed.createComponent(DeviceComponent);
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
});
