import { TestBed } from '@angular/core/testing';
import { type RangeChoice, RangeSelectorComponent, toLocalInput } from './range-selector.component';

describe('RangeSelectorComponent', () => {
  it('emits presets, and a custom window only when from is before to', async () => {
    const fixture = TestBed.createComponent(RangeSelectorComponent);
    const from = new Date(2026, 10, 25, 10, 0, 0).getTime();
    fixture.componentRef.setInput('key', '1h');
    fixture.componentRef.setInput('from', from);
    fixture.componentRef.setInput('to', from + 3_600_000);
    const chosen: RangeChoice[] = [];
    fixture.componentInstance.changed.subscribe((c) => chosen.push(c));
    await fixture.whenStable();
    const el = fixture.nativeElement as HTMLElement;
    expect(el.querySelector('[data-range="1h"]')!.classList.contains('on')).toBe(true);
    (el.querySelector('[data-range="7d"]') as HTMLButtonElement).click();
    expect(chosen).toEqual([{ key: '7d' }]);

    (el.querySelector('[data-range="custom"]') as HTMLButtonElement).click();
    await fixture.whenStable();
    const [fromField, toField] = [...el.querySelectorAll('input')];
    // The browser drops zero seconds from the field's value.
    expect(fromField.value).toMatch(/^2026-11-25T10:00(:00)?$/);
    expect(toField.value).toMatch(/^2026-11-25T11:00(:00)?$/);
    toField.value = '2026-11-25T09:00:00';
    el.querySelector('form')!.dispatchEvent(new Event('submit'));
    await fixture.whenStable();
    expect(el.querySelector('.invalid')).not.toBeNull();
    expect(chosen).toHaveLength(1);
    toField.value = '2026-11-25T12:30:00';
    el.querySelector('form')!.dispatchEvent(new Event('submit'));
    expect(chosen[1]).toEqual({ key: 'custom', from, to: from + 2.5 * 3_600_000 });
    expect(toLocalInput(from)).toBe('2026-11-25T10:00:00');
  });

  it('"Follow now": the custom window ends now and slides; the "To" field is off meanwhile', async () => {
    const fixture = TestBed.createComponent(RangeSelectorComponent);
    const now = Date.now();
    fixture.componentRef.setInput('key', '5m');
    fixture.componentRef.setInput('from', now - 300_000);
    fixture.componentRef.setInput('to', now);
    const chosen: RangeChoice[] = [];
    fixture.componentInstance.changed.subscribe((c) => chosen.push(c));
    await fixture.whenStable();
    const el = fixture.nativeElement as HTMLElement;
    (el.querySelector('[data-range="custom"]') as HTMLButtonElement).click();
    await fixture.whenStable();
    const follow = el.querySelector('input[name="follow"]') as HTMLInputElement;
    const [fromField, toField] = [...el.querySelectorAll<HTMLInputElement>('input[type="datetime-local"]')];
    expect(follow.checked).toBe(false);
    expect(toField.disabled).toBe(false);
    follow.checked = true;
    follow.dispatchEvent(new Event('change'));
    await fixture.whenStable();
    expect(toField.disabled).toBe(true);
    fromField.value = toLocalInput(now - 2 * 3_600_000);
    toField.value = toLocalInput(now - 3 * 3_600_000); // ignored: the window ends now
    el.querySelector('form')!.dispatchEvent(new Event('submit'));
    expect(chosen).toHaveLength(1);
    const [c] = chosen;
    expect(c.key).toBe('custom');
    expect(c.follow).toBe(true);
    expect(c.to! - Date.now()).toBeLessThanOrEqual(0);
    expect(Date.now() - c.to!).toBeLessThan(1000);
    expect(Math.abs(c.to! - c.from! - 2 * 3_600_000)).toBeLessThan(2000); // the field has whole seconds

    // Showing a window that follows now, the form opens with the box ticked.
    fixture.componentRef.setInput('key', 'custom');
    fixture.componentRef.setInput('follow', true);
    (el.querySelector('[data-range="custom"]') as HTMLButtonElement).click();
    await fixture.whenStable();
    expect((el.querySelector('input[name="follow"]') as HTMLInputElement).checked).toBe(true);
  });
});
