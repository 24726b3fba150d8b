import { FieldlineError, ErrorCode } from './errors';
import { AuthPath } from './auth';
import { BackupPath } from './backup';
import { isQueryableTime, LIMITS, METRIC_NAME_PATTERN } from './limits';

/**
 * Route patterns of the gateway's HTTP API as its controllers declare them (`:id` is a device id). Clients build
 * concrete paths with {@link devicePath}, {@link readingsPath}, {@link AuthPath} and its builders.
 */
export const RestRoute = {
  /** `GET` → {@link DeviceSummary}[]; `POST` (admin) registers a device. */
  devices: AuthPath.devices,
  /** `GET` → {@link DeviceSummary}. */
  device: '/api/devices/:id',
  /** `GET` → {@link HistoryResponse}; `POST` (device token) ingests → {@link IngestResponse}. */
  readings: '/api/devices/:id/readings',
  /** `GET` history as a file: CSV or NDJSON (`format=csv|ndjson` or `Accept`), raw unless `bucket` is given. */
  export: '/api/devices/:id/export',
  /** `GET` (admin): a device's registration. */
  deviceRegistration: '/api/devices/:id/registration',
  /** `POST` rotates (admin), `DELETE` revokes (admin) a device token. */
  deviceToken: '/api/devices/:id/token',
  /** `GET` (operators) / `PUT` (admin) a device's labels and metric metadata: DeviceMetaResponse. */
  deviceMeta: '/api/devices/:id/meta',
  /** `POST` operator login. */
  login: AuthPath.login,
  /** `GET` the operator session. */
  me: AuthPath.me,
  /** `POST` (admin) clears a user name's failed-login delay. */
  unlock: AuthPath.unlock,
  /** `GET` (admin) every registration. */
  registrations: AuthPath.registrations,
  /** `POST` trades a refresh token for a new access token. */
  refresh: AuthPath.refresh,
  /** `POST` ends a session (revokes its refresh token). */
  logout: AuthPath.logout,
  /** `POST` changes the caller's own password. */
  password: AuthPath.password,
  /** `GET` (admin) every user; `POST` (admin) adds one. */
  users: AuthPath.users,
  /** `PATCH` (admin) changes a user's role or disables/enables it; `DELETE` (admin) removes it. */
  user: '/api/users/:username',
  /** `POST` (admin) resets a user's password. */
  userPassword: '/api/users/:username/password',
  /** `GET` (admin) the audit log, newest first: AuditPage. */
  audit: '/api/audit',
  /** Readiness (alias of {@link RestRoute.ready}). */
  health: '/health',
  /** Readiness: 200 ok, 503 degraded or unavailable. */
  ready: '/health/ready',
  /** Liveness. */
  live: '/health/live',
  /** Prometheus metrics. */
  metrics: '/metrics',
  /** `POST` (admin): an online backup of embedded mode (state + readings) into a directory. */
  backup: BackupPath,
} as const;

/** `GET` path of one device. */
/**
 * Header naming one HTTP request in the gateway's log lines: sent back on every answer; a caller's own id
 * (1–64 of `A-Z a-z 0-9 . _ : -`) is kept, else the gateway makes one.
 */
export const REQUEST_ID_HEADER = 'x-request-id';
/** The request ids the gateway takes from a caller as they are. */
export const REQUEST_ID_PATTERN = /^[A-Za-z0-9._:-]{1,64}$/;

export const devicePath = (deviceId: string): string => `/api/devices/${encodeURIComponent(deviceId)}`;
/** Path of a device's readings: `GET` history, `POST` ingest. */
export const readingsPath = (deviceId: string): string => `/api/devices/${encodeURIComponent(deviceId)}/readings`;
/** `GET` path of a device's history export. */
export const exportPath = (deviceId: string): string => `/api/devices/${encodeURIComponent(deviceId)}/export`;
/** Values of the export's `format` parameter: CSV (RFC 4180) or NDJSON. */
export const EXPORT_FORMATS = ['csv', 'ndjson'] as const;
/** An export format. */
export type ExportFormat = (typeof EXPORT_FORMATS)[number];

/** A device as operators see it (REST device list, `/devices` namespace). */
export interface DeviceSummary {
  deviceId: string;
  online: boolean;
  /** Epoch ms the gateway last received a reading from it, or null. */
  lastSeen: number | null;
  /** Device timestamp of the latest reading, or null. */
  latestTs: number | null;
  /** The latest value of each metric. */
  latest: Record<string, number>;
  /** Every metric name the device has sent. */
  metrics: string[];
}

/** `POST /api/devices/:id/readings` answer (202). */
export interface IngestResponse {
  accepted: number;
  rejected: number;
  errors: { index: number; seq?: number; code: string; message: string }[];
}

/** Aggregations per bucket. */
export const AGGREGATIONS = ['mean', 'min', 'max', 'last', 'count'] as const;
export type Aggregation = (typeof AGGREGATIONS)[number];

/** A normalised history query. `bucketMs` null means raw points. */
export interface HistoryQuery {
  deviceId: string;
  /** One metric, or all when undefined. */
  metric?: string;
  from: number;
  to: number;
  bucketMs: number | null;
  agg: Aggregation;
  maxPoints: number;
  /** IANA time zone for bucket boundaries of a day or longer. */
  tz?: string;
}

/** One point of a history series: `value` is the chosen aggregation; `min`/`max`/`count` describe the bucket. */
export interface HistoryPoint {
  ts: number;
  value: number;
  min?: number;
  max?: number;
  count?: number;
}

export interface HistorySeries {
  metric: string;
  points: HistoryPoint[];
}

/** `GET /api/devices/:id/readings` answer. */
export interface HistoryResponse {
  deviceId: string;
  from: number;
  to: number;
  /** Bucket width in ms, or null for raw points. */
  bucketMs: number | null;
  agg: Aggregation;
  series: HistorySeries[];
  /** True when raw points were cut at `maxPoints`. */
  truncated: boolean;
}

const UNIT_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000 };

/** Parses a duration such as `500ms`, `10s`, `5m`, `1h`, `1d`, `1w` into ms; null when malformed. */
export function parseDuration(text: string): number | null {
  const m = /^(\d{1,6})(ms|s|m|h|d|w)$/.exec(text);
  if (!m) return null;
  const ms = Number(m[1]) * UNIT_MS[m[2]];
  return ms > 0 ? ms : null;
}

/** Bucket widths `bucket=auto` chooses from, so that axis ticks fall on round times. */
export const NICE_BUCKETS_MS = [
  1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10_000, 15_000, 30_000, 60_000, 120_000, 300_000, 600_000,
  900_000, 1_800_000, 3_600_000, 7_200_000, 10_800_000, 21_600_000, 43_200_000, 86_400_000, 172_800_000, 604_800_000,
  2_592_000_000,
];

/** The smallest nice bucket width that yields at most `maxPoints` buckets over `[from, to]`. */
export function autoBucketMs(from: number, to: number, maxPoints: number): number {
  const span = Math.max(1, to - from);
  const min = span / Math.max(1, maxPoints);
  for (const b of NICE_BUCKETS_MS) if (b >= min && Math.ceil(span / b) <= maxPoints) return b;
  return Math.ceil(min / 86_400_000) * 86_400_000;
}

/** Raw query-string parameters of the history endpoint. */
export interface HistoryParams {
  metric?: string;
  from?: string;
  to?: string;
  bucket?: string;
  agg?: string;
  maxPoints?: string;
  tz?: string;
}

/** ISO-8601 as `Date.parse` reads it reliably: a date, optionally a time, optionally a zone (none: UTC for a date). */
const ISO_TIME = /^\d{4}-\d{2}-\d{2}(?:T\d{2}:\d{2}(?::\d{2}(?:\.\d{1,9})?)?(?:Z|[+-]\d{2}:\d{2})?)?$/;

/** A query time: epoch ms or ISO-8601 (empty: `fallback`); INVALID_REQUEST naming `name` otherwise. */
export function parseTime(text: string | undefined, fallback: number, name: string): number {
  if (text === undefined || text === '') return fallback;
  // Date.parse alone takes almost anything ("1.5" is a day in 2001): only epoch ms and ISO-8601 are times here.
  const n = /^\d+$/.test(text) ? Number(text) : ISO_TIME.test(text) ? Date.parse(text) : NaN;
  if (!Number.isFinite(n))
    throw new FieldlineError(ErrorCode.INVALID_REQUEST, `${name} must be epoch ms or ISO-8601`, { param: name });
  if (!isQueryableTime(n))
    throw new FieldlineError(ErrorCode.INVALID_REQUEST, `${name} must lie between 1970-01-01 and 2262-01-01`, {
      param: name,
    });
  return n;
}

/**
 * Turns query parameters into a {@link HistoryQuery}. Defaults: the last hour, `bucket=auto`, `agg=mean`,
 * `maxPoints=1000`. `bucket=raw` returns raw points (at most `maxPoints`).
 */
export function parseHistoryParams(deviceId: string, p: HistoryParams, now: number): HistoryQuery {
  const to = parseTime(p.to, now, 'to');
  const from = parseTime(p.from, to - 3_600_000, 'from');
  if (from >= to) throw new FieldlineError(ErrorCode.INVALID_REQUEST, 'from must be before to', { param: 'from' });
  const maxPoints = p.maxPoints === undefined ? 1000 : Number(p.maxPoints);
  if (!Number.isInteger(maxPoints) || maxPoints < 1 || maxPoints > LIMITS.maxHistoryPoints) {
    throw new FieldlineError(
      ErrorCode.INVALID_REQUEST,
      `maxPoints must be an integer in 1..${LIMITS.maxHistoryPoints}`,
      {
        param: 'maxPoints',
      },
    );
  }
  const agg = (p.agg ?? 'mean') as Aggregation;
  if (!AGGREGATIONS.includes(agg)) {
    throw new FieldlineError(ErrorCode.INVALID_REQUEST, `agg must be one of ${AGGREGATIONS.join(', ')}`, {
      param: 'agg',
    });
  }
  let bucketMs: number | null;
  const bucket = p.bucket ?? 'auto';
  if (bucket === 'auto') bucketMs = autoBucketMs(from, to, maxPoints);
  else if (bucket === 'raw') bucketMs = null;
  else {
    bucketMs = parseDuration(bucket);
    if (bucketMs === null) {
      throw new FieldlineError(
        ErrorCode.INVALID_REQUEST,
        'bucket must be auto, raw or a duration such as 10s, 5m, 1h, 1d',
        {
          param: 'bucket',
        },
      );
    }
    if ((to - from) / bucketMs > LIMITS.maxHistoryPoints) {
      throw new FieldlineError(
        ErrorCode.INVALID_REQUEST,
        `bucket too small: more than ${LIMITS.maxHistoryPoints} buckets`,
        {
          param: 'bucket',
        },
      );
    }
  }
  if (p.metric !== undefined && !METRIC_NAME_PATTERN.test(p.metric)) {
    throw new FieldlineError(ErrorCode.INVALID_REQUEST, 'metric name is invalid', { param: 'metric' });
  }
  const q: HistoryQuery = { deviceId, from, to, bucketMs, agg, maxPoints };
  if (p.metric) q.metric = p.metric;
  if (p.tz) {
    try {
      new Intl.DateTimeFormat('en', { timeZone: p.tz });
    } catch {
      throw new FieldlineError(ErrorCode.INVALID_REQUEST, 'tz must be an IANA time zone such as Europe/Berlin', {
        param: 'tz',
      });
    }
    q.tz = p.tz;
  }
  return q;
}
