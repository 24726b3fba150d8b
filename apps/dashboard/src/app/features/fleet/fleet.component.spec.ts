import { HttpTestingController } from '@angular/common/http/testing';
import { TestBed } from '@angular/core/testing';
import { provideRouter } from '@angular/router';
import type { DeviceSummary } from '@fieldline/contracts';
import { providersForTests } from '../../core/providers.testing';
import { FakeManager } from '../../core/socket/fake-io.testing';
import { FleetComponent, filterDevices } from './fleet.component';
import { sparkPath } from './sparkline.component';

const device = (
  deviceId: string,
  online: boolean,
  latest: Record<string, number> = { temperature: 21.5 },
): DeviceSummary => ({
  deviceId,
  online,
  lastSeen: Date.now() - 5000,
  latestTs: Date.now() - 5000,
  latest,
  metrics: Object.keys(latest).sort(),
});

describe('FleetComponent', () => {
  const list = [device('pump-1', true), device('pump-2', false), device('valve-1', true, { pressure: 2, flow: 3 })];

  it('filters by id (case-insensitive) and by state', () => {
    expect(filterDevices(list, 'PUMP', 'all').map((d) => d.deviceId)).toEqual(['pump-1', 'pump-2']);
    expect(filterDevices(list, '', 'offline').map((d) => d.deviceId)).toEqual(['pump-2']);
    expect(filterDevices(list, 'pump', 'online').map((d) => d.deviceId)).toEqual(['pump-1']);
    expect(filterDevices(list, '', 'all')).toBe(list);
  });

  it('counts online and offline devices and lists them live from /devices', async () => {
    const manager = new FakeManager();
    TestBed.configureTestingModule({ providers: [...providersForTests(manager), provideRouter([])] });
    const fixture = TestBed.createComponent(FleetComponent);
    const el = fixture.nativeElement as HTMLElement;
    await fixture.whenStable();
    expect(el.textContent).toContain('Loading devices…');

    manager.sockets.get('/devices')!.accept();
    manager.sockets.get('/telemetry')!.accept();
    manager.sockets.get('/devices')!.fire('snapshot', list);
    await fixture.whenStable();
    expect(el.querySelector('[data-count="online"]')!.textContent).toContain('2 online');
    expect(el.querySelector('[data-count="offline"]')!.textContent).toContain('1 offline');
    expect([...el.querySelectorAll('option')].map((o) => o.textContent?.trim())).toEqual([
      'flow',
      'pressure',
      'temperature',
    ]);
    expect((el.querySelector('select') as HTMLSelectElement).value).toBe('temperature');

    const input = el.querySelector('input[type="search"]') as HTMLInputElement;
    input.value = 'nothing-like-this';
    input.dispatchEvent(new Event('input'));
    await fixture.whenStable();
    expect(el.textContent).toContain('No device matches.');
    TestBed.inject(HttpTestingController).match(() => true); // sparkline history requests, if any rendered
  });
});

describe('sparkPath', () => {
  it('scales the window to the box and keeps min and max of each pixel column', () => {
    const pts = [
      { x: 0, y: 0 },
      { x: 10, y: 10 },
      { x: 11, y: -10 },
      { x: 12, y: 5 },
      { x: 100, y: 0 },
    ];
    const d = sparkPath(pts, 0, 100, 10, 20);
    const coords = d
      .split(/[ML]/)
      .filter(Boolean)
      .map((c) => c.split(' ').map(Number));
    expect(coords[0][0]).toBe(0);
    expect(coords.at(-1)![0]).toBe(10);
    // Column 1 (x 10..19) keeps first, min, max and last: 10, -10, 5 → four points (first = max).
    const column1 = coords.filter(([x]) => x >= 1 && x < 2);
    expect(column1.length).toBeGreaterThanOrEqual(3);
    const ys = coords.map(([, y]) => y);
    expect(Math.min(...ys)).toBeGreaterThanOrEqual(0);
    expect(Math.max(...ys)).toBeLessThanOrEqual(20);
    expect(sparkPath([{ x: 5, y: 1 }], 0, 100, 10, 20)).toBe('');
  });
});
