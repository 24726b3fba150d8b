import type { ExportFormat, HistoryQuery, Reading } from '@fieldline/contracts';
import type { TelemetryStore } from '../storage/store';

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
 * Readings of `[from, to)` page by page, each page one {@link TelemetryStore.since} call bounded by a time window
 * (`ts > since`, `ts < before`), so that neither the gateway nor the store holds more than one page: without the
 * upper bound the store would group every reading after the cursor to find the first page (2.5 s and +600 MB of
 * DuckDB memory per page over a month of 1 Hz). The window adapts to the device's rate: it doubles while pages come
 * back less than half full (sparse data, gaps) and halves when one fills. A full page that ends inside a run of
 * readings sharing one timestamp is cut before that run and the next page starts at it again, so no reading is lost or
 * repeated at a page edge; only a single timestamp with more than a page of readings is cut at the page size.
 */
export async function* rawPages(
  store: TelemetryStore,
  deviceId: string,
  from: number,
  to: number,
  pageSize = RAW_PAGE_READINGS,
): AsyncGenerator<Reading[]> {
  // Half a page of 1 Hz data: a common rate lands between half full and full at once.
  let span = Math.max(1, (pageSize * 1000) / 2);
  let since = from - 1;
  while (since < to - 1) {
    const before = Math.min(to, since + 1 + span);
    const page = await store.since(deviceId, since, pageSize, before);
    if (page.length < pageSize) {
      // The window is complete.
      if (page.length) yield page;
      since = before - 1;
      if (page.length < pageSize / 2) span *= 2;
      continue;
    }
    const lastTs = page[page.length - 1].ts;
    let end = page.length;
    while (end > 0 && page[end - 1].ts === lastTs) end--;
    if (end === 0) {
      // More than a page at one timestamp: take the page as it is rather than loop on it.
      yield page;
      since = lastTs;
    } else {
      yield page.slice(0, end);
      since = lastTs - 1;
    }
    span = Math.max(1, Math.floor(span / 2));
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
        if (!row) byTs.set(p.ts, (row = { ts: p.ts, metrics: Object.create(null) as BucketRow['metrics'] }));
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

/** Optional columns of a raw CSV export (`include=`); NDJSON lines always carry `seq` and `tags`. */
export const CSV_EXTRA_COLUMNS = ['seq', 'tags'] as const;
export type CsvExtraColumn = (typeof CSV_EXTRA_COLUMNS)[number];

/** What to export: a normalised history query (`bucketMs` null: raw) and the metric columns. */
export interface ExportJob {
  query: HistoryQuery;
  format: ExportFormat;
  /** Metric columns in order (CSV header); readings' other metrics are left out. */
  metrics: readonly string[];
  /** Raw CSV only: `seq` before the metrics, `tags` (one JSON object) after them. */
  include?: readonly CsvExtraColumn[];
}

/** The optional columns a job's CSV carries: raw exports only. */
const extras = (job: ExportJob): { seq: boolean; tags: boolean } => {
  const raw = job.query.bucketMs === null;
  return { seq: raw && !!job.include?.includes('seq'), tags: raw && !!job.include?.includes('tags') };
};

/** The CSV header row of a job: `ts,<metrics...>`, raw with `include=seq,tags`: `ts,seq,<metrics...>,tags`. */
export function csvHeader(job: ExportJob): string {
  const { seq, tags } = extras(job);
  return csvRecord(['ts', ...(seq ? ['seq'] : []), ...job.metrics, ...(tags ? ['tags'] : [])]);
}

/** One raw reading as a CSV record or NDJSON line; null when it carries none of the exported metrics. */
function rawLine(r: Reading, job: ExportJob, extra: { seq: boolean; tags: boolean }): string | null {
  const { metrics } = job;
  if (!metrics.some((m) => r.metrics[m] !== undefined)) return null;
  const tags = r.tags && Object.keys(r.tags).length ? r.tags : undefined;
  if (job.format === 'csv') {
    const fields = [new Date(r.ts).toISOString()];
    if (extra.seq) fields.push(num(r.seq));
    for (const m of metrics) fields.push(num(r.metrics[m]));
    if (extra.tags) fields.push(tags ? JSON.stringify(tags) : '');
    return csvRecord(fields);
  }
  // No prototype: a metric named `__proto__` is kept like any other name.
  const picked = Object.create(null) as Record<string, number>;
  for (const m of metrics) if (r.metrics[m] !== undefined) picked[m] = r.metrics[m];
  // The shape devices send, so a file can be posted back as it is.
  const line: Record<string, unknown> = { deviceId: r.deviceId, ts: r.ts };
  if (r.seq !== undefined) line.seq = r.seq;
  line.metrics = picked;
  if (tags) line.tags = tags;
  return JSON.stringify(line) + '\n';
}

/** One bucket as a CSV record (the chosen aggregation per metric) or NDJSON line (value, min, max, count). */
function bucketLine(b: BucketRow, format: ExportFormat, metrics: readonly string[]): string {
  if (format === 'csv')
    return csvRecord([new Date(b.ts).toISOString(), ...metrics.map((m) => num(b.metrics[m]?.value))]);
  const picked = Object.create(null) as BucketRow['metrics'];
  for (const m of metrics) if (b.metrics[m]) picked[m] = b.metrics[m];
  return JSON.stringify({ ts: b.ts, metrics: picked }) + '\n';
}

/** Chunks of text are gathered up to this size before a write, so a write is not a syscall per row. */
export const CHUNK_CHARS = 64 * 1024;

/**
 * Streams an export to `sink`; resolves with the number of rows written (`aborted` when the client left). The next
 * page is asked of the store only once the sink took the previous one (`write` returned true, or `drain`), so memory
 * stays at one page plus one chunk whatever the range. Nothing is written before the first chunk is full or the
 * export ends: an error on the first page can still become a proper HTTP error. Rejects with the store's error.
 */
export async function streamExport(
  store: TelemetryStore,
  job: ExportJob,
  sink: ExportSink,
): Promise<{ rows: number; aborted: boolean }> {
  const { query, format, metrics } = job;
  const extra = extras(job);
  let buf = format === 'csv' ? csvHeader(job) : '';
  let rows = 0;
  const flush = async (): Promise<boolean> => {
    if (sink.destroyed) return false;
    const chunk = buf;
    buf = '';
    if (chunk && !sink.write(chunk)) return drained(sink);
    return true;
  };
  const raw = query.bucketMs === null;
  const pages: AsyncGenerator<Reading[] | BucketRow[]> = raw
    ? rawPages(store, query.deviceId, query.from, query.to)
    : bucketPages(store, query);
  for await (const page of pages) {
    for (const row of page) {
      const line = raw ? rawLine(row as Reading, job, extra) : bucketLine(row as BucketRow, format, metrics);
      if (line === null) continue;
      buf += line;
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
