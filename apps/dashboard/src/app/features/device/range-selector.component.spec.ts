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
});
