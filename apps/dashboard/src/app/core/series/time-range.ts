import { autoBucketMs } from '@fieldline/contracts/rest';

/** The ranges the device view offers. */
export type RangeKey = '5m' | '1h' | '24h' | '7d' | 'custom';

/** Sliding live windows, newest first in the selector. */
export const PRESETS: readonly { key: Exclude<RangeKey, 'custom'>; label: string; spanMs: number }[] = [
  { key: '5m', label: 'Live 5 min', spanMs: 5 * 60_000 },
  { key: '1h', label: '1 h', spanMs: 3_600_000 },
  { key: '24h', label: '24 h', spanMs: 86_400_000 },
  { key: '7d', label: '7 d', spanMs: 7 * 86_400_000 },
];

/** A resolved time window. */
export interface TimeRange {
  from: number;
  to: number;
  /** Live readings extend it (a preset, or a custom window that ends in the future). */
  live: boolean;
  /** Width of a sliding window (presets); null for a fixed window. */
  spanMs: number | null;
}

export function isRangeKey(value: unknown): value is RangeKey {
  return value === 'custom' || PRESETS.some((p) => p.key === value);
}

/** A custom window as the URL holds it; `follow`: the window is `to - from` long and ends now, sliding. */
export interface CustomWindow {
  from: number;
  to: number;
  follow?: boolean;
}

/**
 * Resolves a range at `now`; a custom range needs `from < to`, else it falls back to the 5-minute live window. A
 * custom range that follows now slides like the presets do: same length, ending at `now`.
 */
export function resolveRange(key: RangeKey, now: number, custom?: CustomWindow): TimeRange {
  if (
    key === 'custom' &&
    custom &&
    Number.isFinite(custom.from) &&
    Number.isFinite(custom.to) &&
    custom.from < custom.to
  ) {
    if (custom.follow) {
      const spanMs = custom.to - custom.from;
      return { from: now - spanMs, to: now, live: true, spanMs };
    }
    return { from: custom.from, to: custom.to, live: custom.to > now, spanMs: null };
  }
  const preset = PRESETS.find((p) => p.key === key) ?? PRESETS[0];
  return { from: now - preset.spanMs, to: now, live: true, spanMs: preset.spanMs };
}

/** History buckets a chart of `width` px gets for a window of `spanMs` (`bucket=auto`, one bucket per pixel at most). */
export function pointsFor(spanMs: number, width: number): number {
  return Math.ceil(spanMs / autoBucketMs(0, spanMs, width));
}

/** The window a range shows at `now`: a sliding one ends at `now`, a fixed one keeps its bounds. */
export function shownWindow(range: TimeRange, now: number): { from: number; to: number } {
  return range.spanMs === null ? { from: range.from, to: range.to } : { from: now - range.spanMs, to: now };
}
