import { ChangeDetectionStrategy, Component, inject, input, signal } from '@angular/core';
import type { ExportFormat } from '@fieldline/contracts/rest';
import { ExportApi, saveFile } from '../../core/api/export.api';
import { shownWindow, type TimeRange } from '../../core/series/time-range';

/** Downloads the raw readings of the range shown, as CSV or NDJSON, from the gateway's export. */
@Component({
  selector: 'fl-download-button',
  template: `
    <div class="seg" role="group" aria-label="Download the range shown">
      @for (f of formats; track f.format) {
        <button
          type="button"
          [attr.data-download]="f.format"
          [disabled]="busy()"
          [title]="f.title"
          (click)="download(f.format)"
        >
          {{ busy() === f.format ? 'Downloading…' : f.label }}
        </button>
      }
    </div>
    @if (error(); as e) {
      <span class="failed" role="alert">Download failed: {{ e }}</span>
    }
  `,
  styles: `
    :host {
      display: inline-flex;
      flex-wrap: wrap;
      align-items: center;
      gap: 0.5rem;
    }
    .failed {
      color: var(--bad);
      font-size: 0.85rem;
    }
  `,
  changeDetection: ChangeDetectionStrategy.OnPush,
})
export class DownloadButtonComponent {
  readonly deviceId = input.required<string>();
  readonly range = input.required<TimeRange>();

  private readonly api = inject(ExportApi);
  protected readonly formats: readonly { format: ExportFormat; label: string; title: string }[] = [
    { format: 'csv', label: '⤓ CSV', title: 'Raw readings of the range shown, as CSV' },
    { format: 'ndjson', label: 'NDJSON', title: 'Raw readings of the range shown, one JSON object per line' },
  ];
  protected readonly busy = signal<ExportFormat | null>(null);
  protected readonly error = signal<string | null>(null);

  protected async download(format: ExportFormat): Promise<void> {
    // A sliding window is taken where it is at the click, so the file holds what the charts show then.
    const { from, to } = shownWindow(this.range(), Date.now());
    this.busy.set(format);
    this.error.set(null);
    try {
      saveFile(await this.api.fetch(this.deviceId(), { from, to, format }));
    } catch (err) {
      this.error.set(err instanceof Error ? err.message : String(err));
    } finally {
      this.busy.set(null);
    }
  }
}
