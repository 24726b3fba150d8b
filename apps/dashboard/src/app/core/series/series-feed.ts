import { signal } from '@angular/core';
import type { HistoryResponse, Reading } from '@fieldline/contracts';
import { autoBucketMs } from '@fieldline/contracts/rest';
import type { HistoryFetcher } from '../api/history.api';
import type { LiveBatch, LiveWatch } from '../socket/socket.service';
import { MetricSeries } from './metric-series';
import type { TimeRange } from './time-range';

/** What a feed needs from the app: REST history and live watches (the socket service). */
export interface FeedDeps {
  fetch: HistoryFetcher;
  watch(deviceId: string, onBatch: (batch: LiveBatch) => void, options: { since?: number }): LiveWatch;
  now?: () => number;
}

export interface FeedOptions {
  deviceId: string;
  range: TimeRange;
  /** About the chart's width in pixels: the server aggregates history to at most this many buckets. */
  maxPoints: number;
  /** Only this metric (sparklines); all metrics when absent. */
  metric?: string;
  /** Raw points per metric before the oldest are folded into buckets. */
  maxRaw?: number;
  /** Newest readings kept for the table. */
  keepLatest?: number;
}

export type FeedStatus = 'loading' | 'ready' | 'error';

/**
 * Readings newer than this may still sit in the gateway's write buffer, where REST history does not look; they
 * come in the subscribe backfill instead, which reads the buffer too.
 */
export const SETTLE_MS = 10_000;

/**
 * History stitched to live data for one device and one time range, without a gap or a duplicate:
 *
 * 1. the time range is cut at `cut`, a bucket boundary at least {@link SETTLE_MS} in the past;
 * 2. `[from, cut)` comes from REST, aggregated by the server to about `maxPoints` buckets (with min/max);
 * 3. for live ranges the feed then subscribes with `since = cut - 1`: the ack's backfill holds every reading from
 *    `cut` on that the live stream will not bring, and the live stream continues from there. After a reconnect the
 *    socket service resubscribes from the newest reading held, and drops what it has handed out before.
 */
export class SeriesFeed {
  readonly status = signal<FeedStatus>('loading');
  readonly error = signal<string | null>(null);
  /** Bumped whenever points change: charts redraw on it (at most once per frame). */
  readonly revision = signal(0);
  readonly metrics = signal<readonly string[]>([]);
  /** Width of the history's buckets (null: raw history or none). */
  readonly bucketMs = signal<number | null>(null);
  /** The newest readings, newest first. */
  readonly latest = signal<readonly Reading[]>([]);
  /** Where history ends and raw readings begin. */
  cut = 0;
  /** How long the history request took, ms. */
  historyMs = 0;
  private readonly series = new Map<string, MetricSeries>();
  private watchHandle: LiveWatch | null = null;
  private closed = false;
  private readonly now: () => number;

  constructor(
    private readonly deps: FeedDeps,
    readonly options: FeedOptions,
  ) {
    this.now = deps.now ?? Date.now;
  }

  /** The live watch, once history is in (null for a window in the past). */
  get watch(): LiveWatch | null {
    return this.watchHandle;
  }

  seriesOf(metric: string): MetricSeries | undefined {
    return this.series.get(metric);
  }

  async start(): Promise<void> {
    const { deviceId, range, maxPoints, metric } = this.options;
    const bucketMs = autoBucketMs(range.from, range.to, maxPoints);
    const settled = Math.floor((this.now() - SETTLE_MS) / bucketMs) * bucketMs;
    this.cut = range.live ? Math.min(range.to, Math.max(range.from, settled)) : range.to;
    try {
      if (this.cut > range.from) {
        const t0 = performance.now();
        const res = await this.deps.fetch(deviceId, { from: range.from, to: this.cut, maxPoints, metric });
        this.historyMs = performance.now() - t0;
        if (this.closed) return;
        this.applyHistory(res);
      }
    } catch (err) {
      if (this.closed) return;
      this.error.set(describe(err));
      this.status.set('error');
      return;
    }
    this.status.set('ready');
    this.revision.update((n) => n + 1);
    if (range.live && !this.closed) {
      this.watchHandle = this.deps.watch(deviceId, (batch) => this.onBatch(batch), { since: this.cut - 1 });
    }
  }

  /** Slides a live window: drops points older than its start. */
  trim(now = this.now()): void {
    const span = this.options.range.spanMs;
    if (span === null) return;
    let dropped = false;
    for (const s of this.series.values()) dropped = s.trimBefore(now - span) || dropped;
    if (dropped) this.revision.update((n) => n + 1);
  }

  close(): void {
    this.closed = true;
    this.watchHandle?.close();
  }

  /** Timestamps of the raw points of a metric (the browser suite checks them against the store). */
  rawTimestamps(metric: string): number[] {
    const s = this.series.get(metric);
    return s ? s.line.filter((p) => !('count' in p)).map((p) => p.x) : [];
  }

  private applyHistory(res: HistoryResponse): void {
    this.bucketMs.set(res.bucketMs);
    for (const { metric, points } of res.series) this.seriesFor(metric).setHistory(points, res.bucketMs);
  }

  private onBatch(batch: LiveBatch): void {
    if (this.closed) return;
    const { range, metric } = this.options;
    // A sliding window has no end; a fixed one keeps to its bounds.
    const maxTs = range.spanMs === null ? range.to : Infinity;
    const touched = new Set<MetricSeries>();
    for (const r of batch.readings) {
      if (r.ts < range.from || r.ts > maxTs) continue;
      for (const name in r.metrics) {
        if (metric !== undefined && name !== metric) continue;
        const s = this.seriesFor(name);
        s.addRaw(r.ts, r.metrics[name]);
        touched.add(s);
      }
    }
    for (const s of touched) s.commit();
    this.keepLatest(batch.readings);
    if (batch.gap) void this.fillGap(batch.gap);
    this.revision.update((n) => n + 1);
  }

  private keepLatest(readings: readonly Reading[]): void {
    const keep = this.options.keepLatest ?? 0;
    if (keep === 0 || readings.length === 0) return;
    const merged = [...this.latest(), ...readings.slice(-keep)];
    merged.sort((a, b) => b.ts - a.ts || (b.seq ?? 0) - (a.seq ?? 0));
    this.latest.set(merged.slice(0, keep));
  }

  /** The gateway cut a backfill short (too many missed readings): fetch the hole as aggregated history. */
  private async fillGap(gap: { from: number; to: number }): Promise<void> {
    const { deviceId, metric, maxPoints } = this.options;
    try {
      const res = await this.deps.fetch(deviceId, { from: gap.from + 1, to: gap.to, maxPoints, metric });
      if (this.closed) return;
      for (const { metric: name, points } of res.series) this.seriesFor(name).mergeHistory(points);
      this.revision.update((n) => n + 1);
    } catch (err) {
      if (!this.closed) this.error.set(`missed readings could not be loaded: ${describe(err)}`);
    }
  }

  private seriesFor(metric: string): MetricSeries {
    let s = this.series.get(metric);
    if (!s) {
      s = new MetricSeries(metric, this.options.maxRaw);
      this.series.set(metric, s);
      this.metrics.set([...this.series.keys()].sort());
    }
    return s;
  }
}

function describe(err: unknown): string {
  const e = err as { error?: { message?: unknown }; message?: unknown; status?: number };
  if (typeof e?.error?.message === 'string') return e.error.message;
  if (e?.status === 0) return 'the gateway cannot be reached';
  return typeof e?.message === 'string' ? e.message : String(err);
}
