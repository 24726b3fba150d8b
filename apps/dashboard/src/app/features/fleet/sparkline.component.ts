import { ChangeDetectionStrategy, Component, computed, effect, inject, input, signal, untracked } from '@angular/core';
import { HistoryApi } from '../../core/api/history.api';
import { ClockService } from '../../core/clock.service';
import { type ChartPoint, upperBound } from '../../core/series/metric-series';
import { SeriesFeed } from '../../core/series/series-feed';
import { resolveRange } from '../../core/series/time-range';
import { SocketService } from '../../core/socket/socket.service';

const WIDTH = 120;
const HEIGHT = 28;
const SPAN_MS = 5 * 60_000;
/** Rows fly past while scrolling: only a row that stays this long loads its history and subscribes. */
const SETTLE_DELAY_MS = 250;

/**
 * The last 5 minutes of one metric of one device, live: aggregated history then the device's live readings, drawn
 * as an SVG path with one min/max pair per pixel.
 */
@Component({
  selector: 'fl-sparkline',
  template: `
    <svg
      [attr.viewBox]="viewBox"
      preserveAspectRatio="none"
      role="img"
      [attr.aria-label]="metric() + ', last 5 minutes'"
    >
      <path [attr.d]="path()" />
    </svg>
  `,
  styles: `
    :host {
      display: block;
      width: 120px;
      height: 28px;
    }
    svg {
      width: 100%;
      height: 100%;
      overflow: visible;
    }
    path {
      fill: none;
      stroke: var(--accent);
      stroke-width: 1.4;
      vector-effect: non-scaling-stroke;
      stroke-linejoin: round;
    }
  `,
  changeDetection: ChangeDetectionStrategy.OnPush,
})
export class SparklineComponent {
  readonly deviceId = input.required<string>();
  readonly metric = input.required<string>();

  private readonly api = inject(HistoryApi);
  private readonly socket = inject(SocketService);
  private readonly clock = inject(ClockService);
  private readonly feed = signal<SeriesFeed | null>(null);
  protected readonly viewBox = `0 0 ${WIDTH} ${HEIGHT}`;
  protected readonly path = computed(() => {
    const feed = this.feed();
    if (!feed) return '';
    feed.revision();
    const now = this.clock.now();
    return sparkPath(feed.seriesOf(this.metric())?.line ?? [], now - SPAN_MS, now, WIDTH, HEIGHT);
  });

  constructor() {
    effect((onCleanup) => {
      const deviceId = this.deviceId();
      const metric = this.metric();
      const timer = setTimeout(() => untracked(() => this.open(deviceId, metric)), SETTLE_DELAY_MS);
      onCleanup(() => {
        clearTimeout(timer);
        untracked(this.feed)?.close();
        this.feed.set(null);
      });
    });
    effect(() => {
      const now = this.clock.now();
      untracked(() => this.feed()?.trim(now));
    });
  }

  private open(deviceId: string, metric: string): void {
    const feed = new SeriesFeed(
      { fetch: this.api.fetch, watch: (...args) => this.socket.watch(...args) },
      { deviceId, metric, range: resolveRange('5m', Date.now()), maxPoints: WIDTH / 2, maxRaw: 3000 },
    );
    this.feed.set(feed);
    void feed.start();
  }
}

/** An SVG path of the points within `[minX, maxX]`: per pixel column the first, min, max and last value. */
export function sparkPath(
  points: readonly ChartPoint[],
  minX: number,
  maxX: number,
  width: number,
  height: number,
): string {
  const start = Math.max(0, upperBound(points, minX) - 1);
  const visible = points.slice(start);
  if (visible.length < 2) return '';
  let lo = Infinity;
  let hi = -Infinity;
  for (const p of visible) {
    if (p.y < lo) lo = p.y;
    if (p.y > hi) hi = p.y;
  }
  const pad = (hi - lo) * 0.1 || 1;
  lo -= pad;
  hi += pad;
  const sx = width / (maxX - minX);
  const sy = height / (hi - lo);
  const parts: string[] = [];
  let column = NaN;
  let colPts: ChartPoint[] = [];
  const flush = (): void => {
    if (colPts.length === 0) return;
    let min = colPts[0];
    let max = colPts[0];
    for (const p of colPts) {
      if (p.y < min.y) min = p;
      if (p.y > max.y) max = p;
    }
    const picks = new Set([
      colPts[0],
      min.x <= max.x ? min : max,
      min.x <= max.x ? max : min,
      colPts[colPts.length - 1],
    ]);
    for (const p of picks) {
      const x = Math.max(0, (p.x - minX) * sx);
      const y = height - (p.y - lo) * sy;
      parts.push(`${parts.length === 0 ? 'M' : 'L'}${x.toFixed(1)} ${y.toFixed(1)}`);
    }
    colPts = [];
  };
  for (const p of visible) {
    const c = Math.floor((p.x - minX) * sx);
    if (c !== column) {
      flush();
      column = c;
    }
    colPts.push(p);
  }
  flush();
  return parts.join('');
}
