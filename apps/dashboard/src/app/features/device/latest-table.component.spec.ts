import { TestBed } from '@angular/core/testing';
import { LatestTableComponent } from './latest-table.component';

describe('LatestTableComponent', () => {
  it('lists readings newest first with a column per metric, and marks them stale', async () => {
    const fixture = TestBed.createComponent(LatestTableComponent);
    const ts = new Date(2026, 10, 25, 12, 30, 5, 250).getTime();
    fixture.componentRef.setInput('metrics', ['h', 't']);
    fixture.componentRef.setInput('readings', [
      { deviceId: 'd', ts, seq: 2, metrics: { t: 21.456, h: 40 } },
      { deviceId: 'd', ts: ts - 1000, metrics: { t: 21 } },
    ]);
    await fixture.whenStable();
    const el = fixture.nativeElement as HTMLElement;
    const rows = [...el.querySelectorAll('tbody tr')].map((tr) =>
      [...tr.querySelectorAll('td')].map((td) => td.textContent?.trim()),
    );
    expect([...el.querySelectorAll('th')].map((th) => th.textContent?.trim())).toEqual(['Time', 'Seq', 'h', 't']);
    expect(rows).toEqual([
      ['12:30:05.250', '2', '40', '21.46'],
      ['12:30:04.250', '–', '–', '21'],
    ]);
    expect(el.querySelector('table')!.classList.contains('stale')).toBe(false);
    fixture.componentRef.setInput('stale', true);
    await fixture.whenStable();
    expect(el.querySelector('table')!.classList.contains('stale')).toBe(true);
  });
});
