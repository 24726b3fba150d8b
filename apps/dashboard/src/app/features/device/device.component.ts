import {
  afterNextRender,
  ChangeDetectionStrategy,
  Component,
  computed,
  DestroyRef,
  effect,
  type ElementRef,
  inject,
  input,
  signal,
  untracked,
  viewChild,
} from '@angular/core';
import { Router, RouterLink } from '@angular/router';
import type { Reading } from '@fieldline/contracts';
import { LIMITS } from '@fieldline/contracts/limits';
import { HistoryApi } from '../../core/api/history.api';
import { ClockService } from '../../core/clock.service';
import { debugHooks } from '../../core/debug';
import { formatDuration, formatValue, relativeTime } from '../../core/format';
import { SeriesFeed } from '../../core/series/series-feed';
import { type CustomWindow, isRangeKey, pointsFor, type RangeKey, resolveRange } from '../../core/series/time-range';
import { SocketService } from '../../core/socket/socket.service';
import { ChartComponent, type XWindow } from '../../shared/chart/chart.component';
import { DownloadButtonComponent } from './download-button.component';
import { LatestTableComponent } from './latest-table.component';
import { type RangeChoice, RangeSelectorComponent } from './range-selector.component';

const COLORS = ['#2563eb', '#db2777', '#059669', '#d97706', '#7c3aed', '#0891b2', '#dc2626', '#4d7c0f'];
/** Chart cards are at least this wide (CSS grid `minmax`), plus the gap between them and their padding. */
const CARD_MIN_PX = 460;
const GRID_GAP_PX = 16;
const CARD_PAD_PX = 32;
/** A window being resized fires many observations; the width that counts is the one it settles on. */
export const RESIZE_DEBOUNCE_MS = 250;

/**
 * `/devices/:id?range=5m|1h|24h|7d|custom&from&to[&follow=1]`: one live chart per metric and the latest readings.
 * `follow=1`: the custom window is `to - from` long and ends now, sliding like the presets.
 */
@Component({
  selector: 'fl-device',
  imports: [RouterLink, ChartComponent, DownloadButtonComponent, LatestTableComponent, RangeSelectorComponent],
  templateUrl: './device.component.html',
  styleUrl: './device.component.css',
  changeDetection: ChangeDetectionStrategy.OnPush,
})
export class DeviceComponent {
  /** Route parameter and query parameters (router input binding). */
  readonly id = input.required<string>();
  readonly range = input<string>();
  readonly from = input<string>();
  readonly to = input<string>();
  readonly follow = input<string>();

  private readonly socket = inject(SocketService);
  private readonly api = inject(HistoryApi);
  private readonly clock = inject(ClockService);
  private readonly router = inject(Router);
  private readonly destroyRef = inject(DestroyRef);
  private readonly chartsEl = viewChild.required<ElementRef<HTMLElement>>('charts');
  /** Pixel width of one chart, measured once the page is laid out and again whenever the charts' area resizes. */
  private readonly chartWidth = signal(0);
  private readonly reloads = signal(0);
  /** The feed being loaded to replace the one shown after a resize; shown once its history is in. */
  private pending: SeriesFeed | null = null;
  /** Device, range and reload count of the feed last opened: when only the width changed, the swap waits. */
  private openedView = '';

  protected readonly rangeKey = computed<RangeKey>(() => {
    const r = this.range();
    return isRangeKey(r) ? r : '5m';
  });
  private readonly custom = computed<CustomWindow>(() => ({
    from: Number(this.from()),
    to: Number(this.to()),
    follow: this.follow() === '1' || this.follow() === 'true',
  }));
  /**
   * History buckets per chart at the measured width (0 before it is measured). A new width refetches history only
   * when this changes: a few pixels more or less usually keep the same bucket width, and so the same points.
   */
  private readonly points = computed(() => {
    const width = this.chartWidth();
    if (width === 0) return 0;
    const { from, to } = resolveRange(this.rangeKey(), 0, this.custom());
    return pointsFor(to - from, width);
  });
  protected readonly following = computed(() => this.rangeKey() === 'custom' && this.custom().follow === true);
  protected readonly feed = signal<SeriesFeed | null>(null);
  protected readonly paused = signal(false);
  /** The readings table, held still while paused. */
  private readonly heldLatest = signal<readonly Reading[] | null>(null);

  protected readonly device = computed(() => this.socket.device(this.id())());
  protected readonly now = this.clock.now;
  protected readonly lastSeen = computed(() => relativeTime(this.device()?.lastSeen ?? null, this.now()));
  protected readonly stale = computed(
    () => this.socket.connection() !== 'connected' || this.device()?.online === false,
  );
  protected readonly live = computed(() => this.feed()?.options.range.live ?? false);
  protected readonly xWindow = computed<XWindow>(() => {
    const range = this.feed()?.options.range;
    if (!range) return { kind: 'fixed', min: 0, max: 1 };
    return range.spanMs !== null
      ? { kind: 'sliding', spanMs: range.spanMs }
      : { kind: 'fixed', min: range.from, max: range.to };
  });
  protected readonly latest = computed(() => this.heldLatest() ?? this.feed()?.latest() ?? []);
  /** The newest value of each metric, for the chart headers. */
  protected readonly current = computed(() => {
    const feed = this.feed();
    const out: Record<string, string> = {};
    if (!feed) return out;
    feed.revision();
    for (const m of feed.metrics()) out[m] = formatValue(feed.seriesOf(m)?.last?.y);
    return out;
  });
  protected readonly summary = computed(() => {
    const feed = this.feed();
    if (!feed) return '';
    const bucket = feed.bucketMs();
    const parts = [bucket === null ? 'raw readings' : `${formatDuration(bucket)} buckets: mean, min–max band`];
    if (feed.options.range.live) parts.push(this.paused() ? 'live paused' : 'then every reading live');
    return parts.join(' · ');
  });

  constructor() {
    afterNextRender(() => {
      this.chartWidth.set(this.measureChartWidth());
      this.observeWidth();
    });
    // A new feed for every device, range and point count; the old one unsubscribes once it is replaced.
    effect((onCleanup) => {
      const id = this.id();
      const key = this.rangeKey();
      const custom = this.custom();
      const reloads = this.reloads();
      if (this.points() === 0) return;
      const feed = untracked(() => {
        const view = JSON.stringify([id, key, custom, reloads]);
        const resized = view === this.openedView;
        this.openedView = view;
        return this.open(id, key, custom, this.chartWidth(), resized);
      });
      onCleanup(() => {
        if (feed !== this.feed()) feed.close();
      });
    });
    this.destroyRef.onDestroy(() => {
      this.pending?.close();
      this.feed()?.close();
    });
    // Slide live windows with the clock.
    effect(() => {
      const now = this.now();
      if (!this.paused()) untracked(() => this.feed()?.trim(now));
    });
  }

  protected colorOf(metric: string): string {
    const i = this.feed()?.metrics().indexOf(metric) ?? 0;
    return COLORS[Math.max(0, i) % COLORS.length];
  }

  protected onRange(choice: RangeChoice): void {
    const queryParams =
      choice.key === 'custom'
        ? { range: 'custom', from: choice.from, to: choice.to, follow: choice.follow ? 1 : undefined }
        : { range: choice.key };
    void this.router.navigate([], { queryParams });
  }

  protected togglePause(): void {
    const pausing = !this.paused();
    this.heldLatest.set(pausing ? this.latest() : null);
    this.paused.set(pausing);
  }

  protected reload(): void {
    this.reloads.update((n) => n + 1);
  }

  /**
   * Opens a feed. After a resize (`swap`) the charts keep drawing the feed they have, live and paused alike, until
   * the new one has its history: the charts never blank out while a window is being resized.
   */
  private open(id: string, key: RangeKey, custom: CustomWindow, width: number, swap: boolean): SeriesFeed {
    const range = resolveRange(key, Date.now(), custom);
    const feed = new SeriesFeed(
      { fetch: this.api.fetch, watch: (...args) => this.socket.watch(...args) },
      { deviceId: id, range, maxPoints: width, keepLatest: 12 },
    );
    this.pending = feed;
    if (!swap || this.feed() === null) this.show(feed, false);
    void feed.start().then(() => {
      if (this.pending === feed && this.feed() !== feed) this.show(feed, true);
    });
    return feed;
  }

  private show(feed: SeriesFeed, keepPause: boolean): void {
    const old = this.feed();
    if (old !== null && old !== feed) old.close();
    if (this.pending === feed) this.pending = null;
    if (!keepPause) {
      this.paused.set(false);
      this.heldLatest.set(null);
    }
    this.feed.set(feed);
    debugHooks().feed = feed;
  }

  /** Measures the charts again whenever their area resizes (window, rotation, side panels), once it settles. */
  private observeWidth(): void {
    if (typeof ResizeObserver === 'undefined') return;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const observer = new ResizeObserver(() => {
      clearTimeout(timer);
      timer = setTimeout(() => this.chartWidth.set(this.measureChartWidth()), RESIZE_DEBOUNCE_MS);
    });
    observer.observe(this.chartsEl().nativeElement);
    this.destroyRef.onDestroy(() => {
      clearTimeout(timer);
      observer.disconnect();
    });
  }

  /** One chart's plot width in CSS pixels: the server aggregates history to about one point per pixel. */
  private measureChartWidth(): number {
    const total = this.chartsEl().nativeElement.clientWidth || 1000;
    const columns = Math.max(1, Math.floor((total + GRID_GAP_PX) / (CARD_MIN_PX + GRID_GAP_PX)));
    const card = (total - (columns - 1) * GRID_GAP_PX) / columns;
    return Math.round(Math.min(LIMITS.maxHistoryPoints, Math.max(100, card - CARD_PAD_PX)));
  }
}
