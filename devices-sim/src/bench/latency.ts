import { build, type Histogram } from 'hdr-histogram-js';

/** Percentiles of one latency distribution, in milliseconds. */
export interface LatencySummary {
  count: number;
  p50: number;
  p95: number;
  p99: number;
  max: number;
  mean: number;
}

/** Epoch milliseconds with sub-millisecond resolution, comparable with `Date.now()` on the same machine. */
export function nowMs(): number {
  return performance.timeOrigin + performance.now();
}

/**
 * An HDR histogram of latencies recorded in microseconds (3 significant digits, up to 10 min): recording is O(1) and
 * allocation-free, so the receiver can record every reading at tens of thousands per second.
 */
export class LatencyRecorder {
  private readonly hist: Histogram;

  constructor() {
    this.hist = build({
      lowestDiscernibleValue: 1,
      highestTrackableValue: 600_000_000,
      numberOfSignificantValueDigits: 3,
    });
  }

  /** Records one latency in milliseconds. A negative value (a `ts` rounded up by the sender) counts as 0. */
  record(ms: number): void {
    const us = Math.round(ms * 1000);
    this.hist.recordValue(us < 0 ? 0 : us > 600_000_000 ? 600_000_000 : us);
  }

  /** Records the delay from a sender's `ts` (epoch ms) to now on this machine's clock. */
  recordSince(ts: number, now = nowMs()): void {
    this.record(now - ts);
  }

  get count(): number {
    return this.hist.totalCount;
  }

  reset(): void {
    this.hist.reset();
  }

  summary(): LatencySummary {
    const h = this.hist;
    if (h.totalCount === 0) return { count: 0, p50: NaN, p95: NaN, p99: NaN, max: NaN, mean: NaN };
    const ms = (us: number): number => Math.round(us) / 1000;
    return {
      count: h.totalCount,
      p50: ms(h.getValueAtPercentile(50)),
      p95: ms(h.getValueAtPercentile(95)),
      p99: ms(h.getValueAtPercentile(99)),
      max: ms(h.maxValue),
      mean: ms(h.mean),
    };
  }
}
