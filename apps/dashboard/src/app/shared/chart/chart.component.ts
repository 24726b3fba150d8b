import {
  afterNextRender,
  ChangeDetectionStrategy,
  Component,
  DestroyRef,
  effect,
  ElementRef,
  inject,
  input,
  untracked,
  viewChild,
} from '@angular/core';
import {
  Chart,
  Decimation,
  Filler,
  LinearScale,
  LineController,
  LineElement,
  PointElement,
  TimeScale,
  Tooltip,
  type TooltipItem,
} from 'chart.js';
import 'chartjs-adapter-date-fns';
import { ClockService } from '../../core/clock.service';
import { debugHooks } from '../../core/debug';
import { formatValue } from '../../core/format';
import { FrameScheduler } from '../../core/frame.scheduler';
import { type ChartPoint, type ChartSeries, isAgg } from '../../core/series/metric-series';
import { stepUnit, tickLabel, timeTicks } from './time-ticks';

Chart.register(LineController, LineElement, PointElement, LinearScale, TimeScale, Filler, Tooltip, Decimation);

/** The x range: a window sliding with the clock (live presets) or a fixed one. */
export type XWindow = { kind: 'sliding'; spanMs: number } | { kind: 'fixed'; min: number; max: number };

type LineChart = Chart<'line', ChartPoint[]>;

/**
 * The one component that owns Chart.js: a time-series line with a min/max band under its aggregated part.
 * Redraws are batched per animation frame ({@link FrameScheduler}) and never animated; long series are decimated
 * (min-max, per pixel). While paused it draws a snapshot taken at the pause.
 */
@Component({
  selector: 'fl-chart',
  template: `<canvas #canvas role="img" [attr.aria-label]="label() + ' chart'"></canvas>`,
  styles: `
    :host {
      display: block;
      position: relative;
      width: 100%;
      height: 100%;
      min-height: 120px;
    }
  `,
  changeDetection: ChangeDetectionStrategy.OnPush,
})
export class ChartComponent {
  readonly series = input.required<ChartSeries>();
  /** Bumped by the owner of the series whenever its points change. */
  readonly revision = input(0);
  readonly xWindow = input.required<XWindow>();
  readonly paused = input(false);
  readonly label = input('');
  readonly color = input('#2563eb');
  /** Width of the history buckets, for deciding where silence breaks the line. */
  readonly bucketMs = input<number | null>(null);

  private readonly canvas = viewChild.required<ElementRef<HTMLCanvasElement>>('canvas');
  private readonly host: HTMLElement = inject<ElementRef<HTMLElement>>(ElementRef).nativeElement;
  private readonly frames = inject(FrameScheduler);
  private readonly clock = inject(ClockService);
  private chart: LineChart | null = null;
  /** What is drawn while paused. */
  private frozen: { series: ChartSeries; min: number; max: number } | null = null;
  private readonly redraw = (): void => this.draw();
  private lastDraw = 0;
  private throttle: ReturnType<typeof setTimeout> | null = null;

  constructor() {
    afterNextRender(() => {
      this.chart = createChart(this.canvas().nativeElement, this.color(), this.label());
      this.draw();
    });
    // New data only moves a sliding window's line once it is worth a pixel; anything else redraws at the next frame.
    let shown: unknown[] = [];
    effect(() => {
      this.revision();
      const now = [this.series(), this.bucketMs(), this.paused(), this.xWindow()];
      if (this.xWindow().kind === 'sliding') this.clock.now();
      const changed = now.some((v, i) => v !== shown[i]);
      shown = now;
      untracked(() => {
        if (this.paused() && this.frozen === null) this.frozen = this.snapshot();
        if (!this.paused()) this.frozen = null;
        this.schedule(changed);
      });
    });
    inject(DestroyRef).onDestroy(() => {
      if (this.throttle !== null) clearTimeout(this.throttle);
      this.frames.cancel(this.redraw);
      this.chart?.destroy();
      this.chart = null;
    });
  }

  private schedule(now: boolean): void {
    if (now && this.throttle !== null) {
      clearTimeout(this.throttle);
      this.throttle = null;
    }
    if (this.throttle !== null) return;
    const wait = now ? 0 : this.lastDraw + this.pixelTimeMs() - performance.now();
    if (wait <= 0) {
      this.frames.request(this.redraw);
      return;
    }
    this.throttle = setTimeout(() => {
      this.throttle = null;
      this.frames.request(this.redraw);
    }, wait);
  }

  /** How long one pixel of a sliding window lasts (5 min over 600 px: 0.5 s), at most a second. */
  private pixelTimeMs(): number {
    const w = this.xWindow();
    if (w.kind !== 'sliding' || this.frozen !== null) return 0;
    const width = this.chart?.chartArea?.width ?? this.host.clientWidth;
    return Math.min(1000, w.spanMs / Math.max(100, width));
  }

  private snapshot(): { series: ChartSeries; min: number; max: number } {
    const s = this.series();
    const { min, max } = this.window(s);
    return { series: { line: s.line.slice(), bandLo: s.bandLo.slice(), bandHi: s.bandHi.slice() }, min, max };
  }

  private window(s: ChartSeries): { min: number; max: number } {
    const w = this.xWindow();
    if (w.kind === 'fixed') return { min: w.min, max: w.max };
    const max = Math.max(Date.now(), s.line[s.line.length - 1]?.x ?? 0);
    return { min: max - w.spanMs, max };
  }

  private draw(): void {
    const chart = this.chart;
    if (chart === null) return;
    const s = this.frozen?.series ?? this.series();
    const { min, max } = this.frozen ?? this.window(s);
    const [lo, hi, line] = chart.data.datasets;
    // Same arrays as the series: Chart.js follows pushes and splices; a rebuilt series brings new arrays.
    lo.data = s.bandLo as ChartPoint[];
    hi.data = s.bandHi as ChartPoint[];
    line.data = s.line as ChartPoint[];
    const x = chart.options.scales?.['x'];
    if (x?.type === 'time' && x.time && x.ticks) {
      x.min = min;
      x.max = max;
      // Tell the time scale the unit of our ticks: working it out formats sample labels on every update.
      const { unit, count } = stepUnit(timeTicks(min, max, maxTicks(chart.chartArea?.width ?? chart.width)).step);
      x.time.unit = unit;
      x.ticks.stepSize = count;
    }
    chart.options.spanGaps = gapThreshold(s.line, this.bucketMs());
    chart.update('none');
    this.lastDraw = performance.now();
    const hooks = debugHooks();
    hooks.draws++;
    this.host.dataset['points'] = String(s.line.length);
    this.host.dataset['first'] = String(s.line[0]?.x ?? '');
    this.host.dataset['last'] = String(s.line[s.line.length - 1]?.x ?? '');
    this.host.dataset['min'] = String(min);
    this.host.dataset['max'] = String(max);
    this.host.dataset['draws'] = String(Number(this.host.dataset['draws'] ?? 0) + 1);
    this.host.dataset['frozen'] = String(this.frozen !== null);
  }
}

/** A tick label every 90 px or more. */
const maxTicks = (width: number): number => Math.max(2, Math.floor(width / 90));

/** Silence longer than this breaks the line: a few buckets, or several of the device's usual intervals. */
function gapThreshold(line: readonly ChartPoint[], bucketMs: number | null): number {
  const n = Math.min(line.length - 1, 64);
  if (n < 1) return Number.MAX_SAFE_INTEGER;
  const steps: number[] = [];
  for (let i = line.length - n; i < line.length; i++) steps.push(line[i].x - line[i - 1].x);
  steps.sort((a, b) => a - b);
  return Math.max(3 * (bucketMs ?? 0), 6 * steps[steps.length >> 1], 5000);
}

function createChart(canvas: HTMLCanvasElement, color: string, label: string): LineChart {
  let tickStep = 60_000;
  return new Chart<'line', ChartPoint[]>(canvas, {
    type: 'line',
    data: {
      datasets: [
        { label: 'min', data: [], borderWidth: 0, pointRadius: 0, fill: false, backgroundColor: 'transparent' },
        { label: 'max', data: [], borderWidth: 0, pointRadius: 0, fill: '-1', backgroundColor: withAlpha(color, 0.16) },
        {
          label,
          data: [],
          borderColor: color,
          backgroundColor: color,
          borderWidth: 1.5,
          pointRadius: 0,
          pointHoverRadius: 3,
          fill: false,
        },
      ],
    },
    options: {
      animation: false,
      parsing: false,
      normalized: true,
      responsive: true,
      maintainAspectRatio: false,
      interaction: { mode: 'nearest', axis: 'x', intersect: false },
      scales: {
        x: {
          type: 'time',
          time: {
            tooltipFormat: 'yyyy-MM-dd HH:mm:ss',
          },
          // Our own ticks on round local times: Chart.js would step from the window's (arbitrary) start.
          afterBuildTicks: (scale) => {
            const { step, ticks } = timeTicks(scale.min, scale.max, maxTicks(scale.width));
            tickStep = step;
            scale.ticks = ticks.map((value) => ({ value }));
          },
          ticks: {
            maxRotation: 0,
            autoSkip: false,
            color: '#64748b',
            callback: (value) => tickLabel(Number(value), tickStep),
          },
          grid: { color: '#eef2f7' },
        },
        y: { ticks: { maxTicksLimit: 6, color: '#64748b' }, grid: { color: '#eef2f7' } },
      },
      plugins: {
        legend: { display: false },
        decimation: { enabled: true, algorithm: 'min-max' },
        tooltip: {
          filter: (item) => item.datasetIndex === 2,
          callbacks: { label: (item: TooltipItem<'line'>) => tooltipLabel(label, item.raw as ChartPoint) },
        },
      },
    },
  });
}

function tooltipLabel(label: string, p: ChartPoint): string {
  if (!isAgg(p) || p.count <= 1) return `${label}: ${formatValue(p.y)}`;
  return `${label}: ${formatValue(p.y)} (min ${formatValue(p.min)}, max ${formatValue(p.max)}, ${p.count} readings)`;
}

function withAlpha(hex: string, alpha: number): string {
  const n = Number.parseInt(hex.slice(1), 16);
  return `rgba(${(n >> 16) & 255}, ${(n >> 8) & 255}, ${n & 255}, ${alpha})`;
}
