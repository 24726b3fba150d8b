/** Device ids: 1–64 characters of letters, digits, `_`, `.` and `-` (safe in topics, rooms and URLs). */
export const DEVICE_ID_PATTERN = /^[A-Za-z0-9_.-]{1,64}$/;
/** Metric names: a letter or `_` first, then up to 63 letters, digits, `_`, `.` or `-`. */
export const METRIC_NAME_PATTERN = /^[A-Za-z_][A-Za-z0-9_.-]{0,63}$/;
/** Tag keys follow the metric name rule; tag values are short strings. */
export const TAG_KEY_PATTERN = METRIC_NAME_PATTERN;

/** Limits every transport enforces; the gateway may lower (never raise) some of them by configuration. */
export const LIMITS = {
  /** Most metrics one reading may carry. */
  maxMetrics: 64,
  /** Most tags one reading may carry. */
  maxTags: 16,
  /** Longest tag value, in characters. */
  maxTagValueLength: 128,
  /** Most readings in one `{ readings: [...] }` message. */
  maxBatch: 500,
  /** Largest message (MQTT payload, WebSocket frame, HTTP body), in bytes. */
  maxMessageBytes: 64 * 1024,
  /** Earliest accepted timestamp (2000-01-01T00:00:00Z): older ones are almost always a device clock never set. */
  minTimestampMs: Date.UTC(2000, 0, 1),
  /** How far in the future a timestamp may lie (device clock skew allowance). */
  maxFutureSkewMs: 24 * 60 * 60 * 1000,
  /**
   * Latest time a query (`from`, `to`, `since`) may name: 2262-01-01, just inside what every store can represent
   * (InfluxDB keeps int64 nanoseconds, up to 2262-04-11); the earliest is the epoch.
   */
  maxQueryTimeMs: Date.UTC(2262, 0, 1),
  /** Largest history response, in points per series. */
  maxHistoryPoints: 10_000,
  /** Largest `since` backfill answered in one subscribe ack, in readings. */
  maxBackfill: 10_000,
  /** Most device rooms one operator socket may join. */
  maxSubscriptionsPerSocket: 1000,
} as const;

/** True when `id` is a valid device id. */
export function isValidDeviceId(id: unknown): id is string {
  return typeof id === 'string' && DEVICE_ID_PATTERN.test(id);
}

/** True when `ms` is a time a query may name (epoch ms, from 1970 to {@link LIMITS.maxQueryTimeMs}). */
export function isQueryableTime(ms: number): boolean {
  return Number.isFinite(ms) && ms >= 0 && ms <= LIMITS.maxQueryTimeMs;
}
