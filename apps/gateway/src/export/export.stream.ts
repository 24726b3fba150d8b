import type { HistoryQuery, Reading } from '@fieldline/contracts';
import type { TelemetryStore } from '../storage/store';

/** Export formats: CSV (RFC 4180, one row per timestamp) or NDJSON (one JSON object per line). */
export const EXPORT_FORMATS = ['csv', 'ndjson'] as const;
export type ExportFormat = (typeof EXPORT_FORMATS)[number];

/** Media type of each export format. */
export const EXPORT_MEDIA_TYPE: Record<ExportFormat, string> = {
  csv: 'text/csv; charset=utf-8',
  ndjson: 'application/x-ndjson; charset=utf-8',
};

/** Readings asked of the store per page of a raw export. */
export const RAW_PAGE_READINGS = 5000;
/** Buckets asked of the store per window of an aggregated export. */
export const BUCKETS_PER_WINDOW = 1000;
const DAY_MS = 86_400_000;

/** Quotes a CSV field when RFC 4180 requires it (comma, quote, CR or LF). */
export function csvField(text: string): string {
  return /[",\r\n]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
}

/** One CSV record, CRLF-terminated as RFC 4180 says. */
export function csvRecord(fields: readonly string[]): string {
  return fields.map(csvField).join(',') + '\r\n';
}

const num = (v: number | undefined): string => (v === undefined ? '' : String(v));

/**
 * Readings of `[from, to)` page by page through {@link TelemetryStore.since} (its cursor is `ts >`), so that only one
 * page is ever in memory. A page that ends inside a run of readings sharing one timestamp is cut before that run and
 * the next page starts at it again, so no reading is lost or repeated at a page edge.
 */
export async function* rawPages(
  store: TelemetryStore,
  deviceId: string,
  from: number,
  to: number,
  pageSize = RAW_PAGE_READINGS,
): AsyncGenerator<Reading[]> {
  let since = from - 1;
  for (;;) {
    const page = await store.since(deviceId, since, pageSize);
    if (page.length === 0) return;
    let end = page.length;
    const full = page.length === pageSize;
    if (full) {
      const lastTs = page[page.length - 1].ts;
      while (end > 0 && page[end - 1].ts === lastTs) end--;
      // More than a page at one timestamp: take the page as it is rather than loop on it.
      if (end === 0) end = page.length;
    }
    const rows: Reading[] = [];
    let done = false;
    for (let i = 0; i < end; i++) {
      if (page[i].ts >= to) {
        done = true;
        break;
      }
      rows.push(page[i]);
    }
    if (rows.length) yield rows;
    if (done || !full) return;
    since = end === page.length ? page[end - 1].ts : page[end].ts - 1;
  }
}

/** One aggregated row: a bucket start and, per metric, the chosen aggregation and the bucket's min/max/count. */
export interface BucketRow {
  ts: number;
  metrics: Record<string, { value: number; min?: number; max?: number; count?: number }>;
}

/**
 * Aggregated history in windows of {@link BUCKETS_PER_WINDOW} buckets, aligned to bucket edges so that no bucket is
 * split between two windows. Calendar buckets in a time zone (a day or longer with `tz`) do not align to UTC
 * windows; the range is then asked in one go (at most `LIMITS.maxHistoryPoints` buckets per metric).
 */
export async function* bucketPages(store: TelemetryStore, q: HistoryQuery): AsyncGenerator<BucketRow[]> {
  const bucket = q.bucketMs!;
  const whole = q.tz !== undefined && bucket >= DAY_MS;
  const span = bucket * BUCKETS_PER_WINDOW;
  for (let start = q.from; start < q.to;) {
    let end = whole ? q.to : Math.min(q.to, start - (start % bucket) + span);
    if (end <= start) end = Math.min(q.to, start + span);
    const res = await store.history({ ...q, from: start, to: end });
    const byTs = new Map<number, BucketRow>();
    for (const s of res.series) {
      for (const p of s.points) {
        let row = byTs.get(p.ts);
        if (!row) byTs.set(p.ts, (row = { ts: p.ts, metrics: {} }));
        row.metrics[s.metric] = { value: p.value, min: p.min, max: p.max, count: p.count };
      }
    }
    const rows = [...byTs.values()].sort((a, b) => a.ts - b.ts);
    if (rows.length) yield rows;
    start = end;
  }
}

/** Writes text as it comes, waiting for `drain` when the socket's buffer is full (backpressure). */
export interface ExportSink {
  write(chunk: string): boolean;
  once(event: 'drain' | 'close', listener: () => void): unknown;
  removeListener(event: 'drain' | 'close', listener: () => void): unknown;
  readonly destroyed?: boolean;
}

/** Resolves once the sink drained; false when it closed first (the client went away). */
function drained(sink: ExportSink): Promise<boolean> {
  return new Promise((resolve) => {
    const onDrain = (): void => {
      sink.removeListener('close', onClose);
      resolve(true);
    };
    const onClose = (): void => {
      sink.removeListener('drain', onDrain);
      resolve(false);
    };
    sink.once('drain', onDrain);
    sink.once('close', onClose);
  });
}

/** What to export: a normalised history query (`bucketMs` null: raw) and the metric columns. */
export interface ExportJob {
  query: HistoryQuery;
  format: ExportFormat;
  /** Metric columns in order (CSV header); readings' other metrics are left out. */
  metrics: readonly string[];
}

/** Chunks of text are gathered up to this size before a write, so a write is not a syscall per row. */
const CHUNK_CHARS = 64 * 1024;

/**
 * Streams an export to `sink`; resolves with the number of rows written (false `aborted` when the client left).
 * CSV: `ts` (ISO-8601 UTC) then one column per metric, empty where a reading lacks it. NDJSON raw: one reading per
 * line, as devices send it; aggregated: one bucket per line with each metric's value, min, max and count.
 */
export async function streamExport(
  store: TelemetryStore,
  job: ExportJob,
  sink: ExportSink,
): Promise<{ rows: number; aborted: boolean }> {
  const { query, format, metrics } = job;
  let buf = format === 'csv' ? csvRecord(['ts', ...metrics]) : '';
  let rows = 0;
  const flush = async (): Promise<boolean> => {
    if (sink.destroyed) return false;
    const chunk = buf;
    buf = '';
    if (chunk && !sink.write(chunk)) return drained(sink);
    return true;
  };
  const pages: AsyncGenerator<Reading[] | BucketRow[]> =
    query.bucketMs === null ? rawPages(store, query.deviceId, query.from, query.to) : bucketPages(store, query);
  for await (const page of pages) {
    for (const row of page) {
      if (query.bucketMs === null) {
        const r = row as Reading;
        if (!metrics.some((m) => r.metrics[m] !== undefined)) continue;
        if (format === 'csv')
          buf += csvRecord([new Date(r.ts).toISOString(), ...metrics.map((m) => num(r.metrics[m]))]);
        else {
          const picked: Record<string, number> = {};
          for (const m of metrics) if (r.metrics[m] !== undefined) picked[m] = r.metrics[m];
          const line: Record<string, unknown> = { deviceId: r.deviceId, ts: r.ts };
          if (r.seq !== undefined) line.seq = r.seq;
          line.metrics = picked;
          if (r.tags && Object.keys(r.tags).length) line.tags = r.tags;
          buf += JSON.stringify(line) + '\n';
        }
      } else {
        const b = row as BucketRow;
        if (format === 'csv')
          buf += csvRecord([new Date(b.ts).toISOString(), ...metrics.map((m) => num(b.metrics[m]?.value))]);
        else {
          const picked: BucketRow['metrics'] = {};
          for (const m of metrics) if (b.metrics[m]) picked[m] = b.metrics[m];
          buf += JSON.stringify({ ts: b.ts, metrics: picked }) + '\n';
        }
      }
      rows++;
      if (buf.length >= CHUNK_CHARS && !(await flush())) {
        await pages.return(undefined);
        return { rows, aborted: true };
      }
    }
  }
  if (!(await flush())) return { rows, aborted: true };
  return { rows, aborted: false };
}
