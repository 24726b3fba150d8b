import { ChangeDetectionStrategy, Component, computed, input, linkedSignal, output, signal } from '@angular/core';
import { PRESETS, type RangeKey } from '../../core/series/time-range';

/** A range choice: a preset, or a custom window in epoch ms. */
export interface RangeChoice {
  key: RangeKey;
  from?: number;
  to?: number;
  /** The custom window ends now and slides (its length is `to - from`). */
  follow?: boolean;
}

/** Live 5 min, 1 h, 24 h, 7 d, or a custom window picked with two date-time fields. */
@Component({
  selector: 'fl-range-selector',
  template: `
    <div class="seg" role="group" aria-label="Time range">
      @for (p of presets; track p.key) {
        <button
          type="button"
          [attr.data-range]="p.key"
          [class.on]="key() === p.key"
          [attr.aria-pressed]="key() === p.key"
          (click)="changed.emit({ key: p.key })"
        >
          {{ p.label }}
        </button>
      }
      <button
        type="button"
        data-range="custom"
        [class.on]="key() === 'custom' || editing()"
        [attr.aria-pressed]="key() === 'custom'"
        (click)="editing.set(!editing())"
      >
        Custom
      </button>
    </div>
    @if (editing()) {
      <form class="custom" (submit)="apply($event, fromField.value, toField.value)">
        <label>From <input #fromField type="datetime-local" step="1" [value]="fromText()" required /></label>
        <label
          >To
          <input
            #toField
            type="datetime-local"
            step="1"
            [value]="toText()"
            [disabled]="followNow()"
            [required]="!followNow()"
        /></label>
        <label class="follow"
          ><input
            #followField
            type="checkbox"
            name="follow"
            [checked]="followNow()"
            (change)="followNow.set(followField.checked)"
          />
          Follow now</label
        >
        <button type="submit">Show</button>
        @if (invalid()) {
          <span class="invalid" role="alert">"From" must be before {{ followNow() ? 'now' : '"To"' }}.</span>
        }
      </form>
    }
  `,
  styleUrl: './range-selector.component.css',
  changeDetection: ChangeDetectionStrategy.OnPush,
})
export class RangeSelectorComponent {
  readonly key = input.required<RangeKey>();
  /** The window shown, to prefill the custom fields. */
  readonly from = input.required<number>();
  readonly to = input.required<number>();
  /** The custom window shown follows now: the form opens with "Follow now" ticked. */
  readonly follow = input(false);
  readonly changed = output<RangeChoice>();

  protected readonly presets = PRESETS;
  protected readonly editing = signal(false);
  protected readonly invalid = signal(false);
  /** "Follow now" in the form: the window ends now and slides with live data, like the presets. */
  protected readonly followNow = linkedSignal(() => this.follow());
  protected readonly fromText = computed(() => toLocalInput(this.from()));
  protected readonly toText = computed(() => toLocalInput(this.to()));

  protected apply(event: Event, fromText: string, toText: string): void {
    event.preventDefault();
    const follow = this.followNow();
    const from = new Date(fromText).getTime();
    const to = follow ? Date.now() : new Date(toText).getTime();
    const ok = Number.isFinite(from) && Number.isFinite(to) && from < to;
    this.invalid.set(!ok);
    if (!ok) return;
    this.editing.set(false);
    this.changed.emit(follow ? { key: 'custom', from, to, follow } : { key: 'custom', from, to });
  }
}

/** `yyyy-MM-ddTHH:mm:ss` in local time, as `<input type="datetime-local">` wants it. */
export function toLocalInput(ts: number): string {
  const d = new Date(ts);
  const pad = (n: number): string => String(n).padStart(2, '0');
  return (
    `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}` +
    `T${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`
  );
}
