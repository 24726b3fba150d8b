/** "just now", "12 s ago", "3 min ago", "5 h ago", "2 d ago"; "never" for null. */
export function relativeTime(then: number | null, now: number): string {
  if (then === null) return 'never';
  const s = Math.round((now - then) / 1000);
  if (s < 2) return 'just now';
  if (s < 60) return `${s} s ago`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m} min ago`;
  const h = Math.floor(m / 60);
  if (h < 48) return `${h} h ago`;
  return `${Math.floor(h / 24)} d ago`;
}

/** A metric value with at most 4 significant digits before rounding noise shows (21.53, 1234, 0.0042). */
export function formatValue(value: number | undefined): string {
  if (value === undefined || !Number.isFinite(value)) return '–';
  const abs = Math.abs(value);
  if (abs !== 0 && (abs >= 1e6 || abs < 1e-3)) return value.toExponential(2);
  const digits = abs >= 100 ? 1 : abs >= 10 ? 2 : 3;
  return String(Number(value.toFixed(digits)));
}

/** A duration such as a bucket width: 500 ms, 10 s, 15 min, 2 h, 1 d. */
export function formatDuration(ms: number): string {
  if (ms < 1000) return `${ms} ms`;
  if (ms < 60_000) return `${ms / 1000} s`;
  if (ms < 3_600_000) return `${ms / 60_000} min`;
  if (ms < 86_400_000) return `${ms / 3_600_000} h`;
  return `${ms / 86_400_000} d`;
}

/** Local time of day with seconds, and milliseconds when asked (table of readings). */
export function formatTime(ts: number, millis = false): string {
  const d = new Date(ts);
  const pad = (n: number, w = 2): string => String(n).padStart(w, '0');
  const time = `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
  return millis ? `${time}.${pad(d.getMilliseconds(), 3)}` : time;
}
