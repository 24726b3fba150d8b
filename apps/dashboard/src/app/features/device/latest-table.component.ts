import { ChangeDetectionStrategy, Component, input } from '@angular/core';
import type { Reading } from '@fieldline/contracts';
import { formatTime, formatValue } from '../../core/format';

/** The newest readings of a device, newest first: time, seq and one column per metric. */
@Component({
  selector: 'fl-latest-table',
  template: `
    <table [class.stale]="stale()">
      <thead>
        <tr>
          <th scope="col">Time</th>
          <th scope="col" class="num">Seq</th>
          @for (m of metrics(); track m) {
            <th scope="col" class="num">{{ m }}</th>
          }
        </tr>
      </thead>
      <tbody>
        @for (r of readings(); track r.ts + ':' + r.seq) {
          <tr>
            <td>{{ time(r.ts) }}</td>
            <td class="num">{{ r.seq ?? '–' }}</td>
            @for (m of metrics(); track m) {
              <td class="num">{{ value(r.metrics[m]) }}</td>
            }
          </tr>
        } @empty {
          <tr>
            <td class="empty" [attr.colspan]="metrics().length + 2">No live readings yet.</td>
          </tr>
        }
      </tbody>
    </table>
  `,
  styleUrl: './latest-table.component.css',
  changeDetection: ChangeDetectionStrategy.OnPush,
})
export class LatestTableComponent {
  readonly readings = input.required<readonly Reading[]>();
  readonly metrics = input.required<readonly string[]>();
  /** The values may be out of date (connection lost, device offline). */
  readonly stale = input(false);

  protected readonly time = (ts: number): string => formatTime(ts, true);
  protected readonly value = formatValue;
}
