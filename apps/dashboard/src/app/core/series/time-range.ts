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

/** Resolves a range at `now`; a custom range needs `from < to`, else it falls back to the 5-minute live window. */
export function resolveRange(key: RangeKey, now: number, custom?: { from: number; to: number }): TimeRange {
  if (
    key === 'custom' &&
    custom &&
    Number.isFinite(custom.from) &&
    Number.isFinite(custom.to) &&
    custom.from < custom.to
  ) {
    return { from: custom.from, to: custom.to, live: custom.to > now, spanMs: null };
  }
  const preset = PRESETS.find((p) => p.key === key) ?? PRESETS[0];
  return { from: now - preset.spanMs, to: now, live: true, spanMs: preset.spanMs };
}
