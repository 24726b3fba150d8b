import type { HistoryPoint } from '@fieldline/contracts';

/** A point as Chart.js draws it (`parsing: false`): x in epoch ms. */
export interface ChartPoint {
  x: number;
  y: number;
}

/** An aggregated point: `y` is the bucket's mean; the bucket starts at `x`. */
export interface AggPoint extends ChartPoint {
  min: number;
  max: number;
  count: number;
}

/** What the chart component draws: a line, and a min/max band where the line is aggregated. */
export interface ChartSeries {
  readonly line: readonly ChartPoint[];
  readonly bandLo: readonly ChartPoint[];
  readonly bandHi: readonly ChartPoint[];
}

export const isAgg = (p: ChartPoint): p is AggPoint => (p as AggPoint).count !== undefined;

/**
 * One metric of one device: aggregated history (server buckets) followed by raw live points, as one line sorted by
 * time. Points appended in order are pushed onto the very arrays the chart holds (Chart.js follows array
 * mutations); anything else (a late reading, compaction, a filled gap) rebuilds the arrays.
 *
 * Bounded: beyond `maxRaw` raw points the oldest half is folded into buckets of the history's width, so a device
 * view left open for days keeps a constant size and still shows min/max where it folded.
 */
export class MetricSeries implements ChartSeries {
  line: ChartPoint[] = [];
  bandLo: ChartPoint[] = [];
  bandHi: ChartPoint[] = [];
  private agg: AggPoint[] = [];
  private raw: ChartPoint[] = [];
  private bucketMs: number | null = null;
  private stale = false;

  constructor(
    readonly metric: string,
    private readonly maxRaw = 20_000,
  ) {}

  get rawCount(): number {
    return this.raw.length;
  }

  get aggCount(): number {
    return this.agg.length;
  }

  get size(): number {
    return this.line.length;
  }

  /** The newest point, if any. */
  get last(): ChartPoint | undefined {
    return this.line[this.line.length - 1];
  }

  /** Replaces the content with a history answer (aggregated when `bucketMs` is set, raw otherwise). */
  setHistory(points: readonly HistoryPoint[], bucketMs: number | null): void {
    this.bucketMs = bucketMs;
    this.agg = bucketMs === null ? [] : points.map(toAgg);
    this.raw = bucketMs === null ? points.map((p) => ({ x: p.ts, y: p.value })) : [];
    this.rebuild();
  }

  /** Merges aggregated history covering a hole (a cut backfill) into the series. */
  mergeHistory(points: readonly HistoryPoint[]): void {
    if (points.length === 0) return;
    this.agg = mergeAgg(this.agg, points.map(toAgg));
    this.rebuild();
  }

  /** Adds a raw reading. Call {@link commit} after a batch. */
  addRaw(x: number, y: number): void {
    const p: ChartPoint = { x, y };
    const last = this.line[this.line.length - 1];
    if (!this.stale && (last === undefined || x >= last.x)) {
      this.raw.push(p);
      this.line.push(p);
      return;
    }
    // A late reading: keep order, rebuild once at commit.
    this.raw.splice(upperBound(this.raw, x), 0, p);
    this.stale = true;
  }

  /** Finishes a batch of {@link addRaw}: rebuilds after late readings and folds raw points beyond the bound. */
  commit(): void {
    if (this.raw.length > this.maxRaw) this.compact();
    else if (this.stale) this.rebuild();
  }

  /**
   * Drops points before `minX` (a sliding window), keeping the last one before it so that the line enters from the
   * chart's left edge. Returns whether anything was dropped.
   */
  trimBefore(minX: number): boolean {
    let dropped = false;
    for (const arr of [this.line, this.raw, this.agg, this.bandLo, this.bandHi]) {
      const n = upperBound(arr, minX - 1) - 1; // points strictly before minX, minus the one kept
      if (n > 0) {
        arr.splice(0, n);
        dropped = true;
      }
    }
    return dropped;
  }

  private compact(): void {
    const keep = Math.floor(this.maxRaw / 2);
    const pivot = this.raw[this.raw.length - keep].x;
    // Buckets of the history's width, unless that would not shrink the series (a short window at a high rate).
    const needed = (pivot - this.raw[0].x) / (keep / 4);
    const width = this.bucketMs !== null && this.bucketMs >= needed ? this.bucketMs : niceWidth(needed);
    const boundary = pivot - (pivot % width);
    const folded: AggPoint[] = [];
    let i = 0;
    for (; i < this.raw.length && this.raw[i].x < boundary; i++) {
      const { x, y } = this.raw[i];
      const start = x - (x % width);
      const b = folded[folded.length - 1];
      if (b !== undefined && b.x === start) {
        b.y += (y - b.y) / (b.count + 1);
        b.count++;
        if (y < b.min) b.min = y;
        if (y > b.max) b.max = y;
      } else {
        folded.push({ x: start, y, min: y, max: y, count: 1 });
      }
    }
    this.raw = this.raw.slice(i);
    this.bucketMs = width;
    this.agg = mergeAgg(this.agg, folded);
    this.rebuild();
  }

  private rebuild(): void {
    const line: ChartPoint[] = new Array<ChartPoint>(this.agg.length + this.raw.length);
    let a = 0;
    let r = 0;
    for (let k = 0; k < line.length; k++) {
      line[k] =
        r >= this.raw.length || (a < this.agg.length && this.agg[a].x <= this.raw[r].x) ? this.agg[a++] : this.raw[r++];
    }
    this.line = line;
    this.bandLo = this.agg.map((p) => ({ x: p.x, y: p.min }));
    this.bandHi = this.agg.map((p) => ({ x: p.x, y: p.max }));
    this.stale = false;
  }
}

function toAgg(p: HistoryPoint): AggPoint {
  return { x: p.ts, y: p.value, min: p.min ?? p.value, max: p.max ?? p.value, count: p.count ?? 1 };
}

/** Merges two sorted lists of buckets; buckets with the same start are combined. */
function mergeAgg(a: readonly AggPoint[], b: readonly AggPoint[]): AggPoint[] {
  const out: AggPoint[] = [];
  let i = 0;
  let j = 0;
  while (i < a.length || j < b.length) {
    const p = j >= b.length || (i < a.length && a[i].x < b[j].x) ? a[i++] : b[j++];
    const last = out[out.length - 1];
    if (last !== undefined && last.x === p.x) {
      const count = last.count + p.count;
      out[out.length - 1] = {
        x: p.x,
        y: (last.y * last.count + p.y * p.count) / count,
        min: Math.min(last.min, p.min),
        max: Math.max(last.max, p.max),
        count,
      };
    } else {
      out.push(p);
    }
  }
  return out;
}

/** Index of the first point with `x > value` in a list sorted by x. */
export function upperBound(points: readonly ChartPoint[], value: number): number {
  let lo = 0;
  let hi = points.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (points[mid].x <= value) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

const NICE_MS = [1000, 2000, 5000, 10_000, 15_000, 30_000, 60_000, 300_000, 900_000, 3_600_000, 86_400_000];

function niceWidth(ms: number): number {
  return NICE_MS.find((w) => w >= ms) ?? 86_400_000;
}
