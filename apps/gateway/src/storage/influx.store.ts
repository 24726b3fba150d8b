import type { HistoryQuery, HistoryResponse, Reading } from '@fieldline/contracts';
import type { Logger } from '../common/logger';
import { errorText, InfluxHttp, parseInfluxUrl } from './influx.http';
import { ident, lineOf, MEASUREMENT } from './influx.layout';
import { normaliseDuration, provisionInflux } from './influx.provision';
import { InfluxQueries } from './influx.queries';
import { PermanentStoreError, type StoredDevice, type TelemetryStore } from './store';

/*
 * The InfluxDB 1.x store, in four files along its seams: the point layout (influx.layout.ts), the one HTTP client
 * (influx.http.ts), database and retention-policy provisioning (influx.provision.ts), the reads (influx.queries.ts);
 * this file writes batches and holds the store's state.
 */

/** Lines per write request: InfluxDB's recommended batch size is 5 000–10 000 points. */
const LINES_PER_REQUEST = 5000;
/** And at most this many bytes (InfluxDB refuses bodies over `max-body-size`, 25 MB by default). */
const BYTES_PER_REQUEST = 4 * 1024 * 1024;

export interface InfluxStoreOptions {
  /** `http(s)://[user:password@]host:port/database`; the path names the database (default `fieldline`). */
  url: string;
  /** Retention policy the store writes to and reads from. Default `fieldline`. */
  retentionPolicy?: string;
  /** Its duration when the store creates it: `30d`, `12w`, `8760h`, or `INF`. Default `30d`. */
  retention?: string;
  /** Request timeout. Default 30 s. */
  timeoutMs?: number;
  /** Where the store reports what it drops, and a retention policy it leaves as it is. */
  log?: Pick<Logger, 'log' | 'warn'>;
}

/** InfluxDB 1.x store (production mode, `INFLUX_URL`). Passes the same contract suite as the DuckDB store. */
export class InfluxStore implements TelemetryStore {
  readonly kind = 'influxdb';
  private readonly http: InfluxHttp;
  private readonly queries: InfluxQueries;
  private readonly rp: string;
  private readonly retention: string;
  private readonly writes = new Set<Promise<void>>();
  private state: 'new' | 'open' | 'closed' = 'new';
  /** Points InfluxDB refused for good (outside the retention policy, field type conflict), for logs and tests. */
  dropped = 0;

  constructor(private readonly opts: InfluxStoreOptions) {
    this.rp = opts.retentionPolicy ?? 'fieldline';
    this.retention = normaliseDuration(opts.retention ?? '30d');
    this.http = new InfluxHttp(parseInfluxUrl(opts.url), opts.timeoutMs ?? 30_000);
    const from = `${ident(this.http.target.database)}.${ident(this.rp)}.${ident(MEASUREMENT)}`;
    this.queries = new InfluxQueries((statements) => this.query(statements), from);
  }

  get database(): string {
    return this.http.target.database;
  }

  get retentionPolicy(): string {
    return this.rp;
  }

  async init(): Promise<void> {
    if (this.state === 'closed') throw new Error('InfluxDB store is closed');
    if (this.state === 'open') return;
    await provisionInflux(this.http, this.rp, this.retention, this.opts.log);
    this.state = 'open';
  }

  write(readings: readonly Reading[]): Promise<void> {
    if (this.state !== 'open') return Promise.reject(this.notOpen());
    if (readings.length === 0) return Promise.resolve();
    const p = this.writeAll(readings);
    this.writes.add(p);
    const forget = (): void => void this.writes.delete(p);
    p.then(forget, forget);
    return p;
  }

  private async writeAll(readings: readonly Reading[]): Promise<void> {
    let body = '';
    let lines = 0;
    let i = 0;
    const refused = { readings: [] as Reading[], reason: '' };
    for (const r of readings) {
      const line = lineOf(r);
      if (lines > 0 && (lines >= LINES_PER_REQUEST || body.length + line.length > BYTES_PER_REQUEST)) {
        await this.postChunk(body, lines, readings, i - lines, refused);
        body = '';
        lines = 0;
      }
      body += line;
      lines++;
      i++;
    }
    if (lines > 0) await this.postChunk(body, lines, readings, i - lines, refused);
    if (refused.readings.length > 0) throw new PermanentStoreError(refused.reason, refused.readings);
  }

  /** Posts one request; readings InfluxDB refuses for good are collected (the other chunks are still written). */
  private async postChunk(
    body: string,
    lines: number,
    readings: readonly Reading[],
    from: number,
    refused: { readings: Reading[]; reason: string },
  ): Promise<void> {
    try {
      await this.post(body, lines);
    } catch (err) {
      if (!(err instanceof PermanentStoreError)) throw err;
      for (let j = from; j < from + lines; j++) refused.readings.push(readings[j]);
      refused.reason = err.message;
    }
  }

  /** POSTs line protocol. Resolves when InfluxDB took it (or dropped points it can never take); rejects to retry. */
  private async post(body: string, lines: number): Promise<void> {
    const { status, text } = await this.http.write(body, this.rp);
    if (status >= 200 && status < 300) return;
    const message = errorText(text);
    // A partial write stored every point it could; the rest (older than the retention policy, or a field of another
    // type) would be refused again on every retry. Points beyond the retention policy are only counted; for anything
    // else InfluxDB does not say which points it dropped, so the request's readings go to the dead letter (those
    // stored are harmless there: writes are idempotent if they are ever replayed). A 400 or 422 (malformed) is as
    // permanent. Anything else (auth, a missing database, 5xx, timeouts) is not the data's fault: retried.
    if (status === 400 && message.startsWith('partial write')) {
      const n = Number(/dropped=(\d+)/.exec(message)?.[1] ?? 0);
      this.dropped += n;
      this.opts.log?.warn(`InfluxDB dropped ${n} of ${lines} points: ${message}`);
      // Older than the retention policy: dropped by the operator's policy, not an error to keep.
      if (/^partial write: points beyond retention policy dropped=\d+$/.test(message)) return;
      throw new PermanentStoreError(`InfluxDB partial write (${n} of ${lines} dropped): ${message}`);
    }
    if (status === 400 || status === 422) {
      throw new PermanentStoreError(`InfluxDB refused the write (${status}): ${message}`);
    }
    throw new Error(`InfluxDB write failed (${status}): ${message}`);
  }

  history(q: HistoryQuery): Promise<HistoryResponse> {
    if (this.state !== 'open') return Promise.reject(this.notOpen());
    return this.queries.history(q);
  }

  since(deviceId: string, since: number, limit: number, before?: number): Promise<Reading[]> {
    if (this.state !== 'open') return Promise.reject(this.notOpen());
    return this.queries.since(deviceId, since, limit, before);
  }

  devices(): Promise<StoredDevice[]> {
    if (this.state !== 'open') return Promise.reject(this.notOpen());
    return this.queries.devices();
  }

  async ping(): Promise<void> {
    if (this.state !== 'open') throw this.notOpen();
    try {
      await this.http.ping(2000);
    } catch {
      throw new Error('InfluxDB does not answer /ping');
    }
  }

  async close(): Promise<void> {
    if (this.state === 'closed') return;
    this.state = 'closed';
    // Let batches being posted finish rather than cut them off.
    await Promise.allSettled([...this.writes]);
    this.http.close();
  }

  /** Queries go to the store's retention policy; refused once the store is closed. */
  private query(statements: string[]) {
    if (this.state !== 'open') return Promise.reject(this.notOpen());
    return this.http.query(statements, this.rp);
  }

  private notOpen(): Error {
    return new Error(this.state === 'closed' ? 'InfluxDB store is closed' : 'InfluxDB store is not initialised');
  }
}
