import { Agent as HttpAgent, request as httpRequest, type IncomingMessage } from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';
import { InfluxDB } from 'influx';
import type { HistoryQuery, HistoryResponse, HistorySeries, Reading } from '@fieldline/contracts';
import { PermanentStoreError, type StoredDevice, type TelemetryStore } from './store';
import { errorMessage } from '@fieldline/contracts';

/*
 * Layout (InfluxDB 1.x), documented for Grafana users in docs/production.md:
 *
 *   measurement `readings`, tag `device_id`, one field per metric (float), time in ns
 *   readings,device_id=pump-7 temperature=21.5,humidity=40,@seq=42,@tags="{\"site\":\"north\"}" 1764072000000000043
 *
 * - One point per reading. Only the device id is a tag: series cardinality = number of devices. Device-sent tags are
 *   kept as a JSON string field (`@tags`), not as InfluxDB tags: a device inventing a tag value per reading would
 *   otherwise create a series per reading, and a resent reading with other tags would be a second point.
 * - Time: InfluxDB identifies a point by series + timestamp, and a second write of the same point overwrites it
 *   (fields merged). The reading's ts (ms) is the timestamp's millisecond part; the sub-millisecond nanoseconds hold
 *   `1 + seq mod 999 999` (0 without seq). So readings of one device at the same ms with different seq are distinct
 *   points, and a reading written twice (a QoS 1 redelivery, a WebSocket resend, a write retried after a timeout) lands
 *   on the same point: the store is idempotent for device + ts + seq. Two readings collide only when they share
 *   device, ms and seq modulo 999 999. Queries ask for `epoch=ms`, which truncates the offset away, and GROUP BY
 *   time() buckets (whole ms) never split a millisecond.
 * - `@seq` keeps the full seq (a float: exact up to 2^53, and InfluxDB cannot take integers without a schema).
 * - Field names: a metric is stored under its own name, except `time` (refused by InfluxDB as a field) and
 *   `device_id` (the tag), stored as `@time` / `@device_id`. Metric names never start with `@`, so the mapping is
 *   one-to-one and `@seq` / `@tags` cannot clash with a metric.
 */

const MEASUREMENT = 'readings';
const DEVICE_TAG = 'device_id';
const SEQ_FIELD = '@seq';
const TAGS_FIELD = '@tags';
/** Sub-millisecond slots for seq: offsets 1..999 999 (0 = no seq). */
const SEQ_SLOTS = 999_999;
/** Metric fields (everything but the internal `@` fields, keeping the two escaped metric names). */
const METRIC_FIELDS_RE = '/^([^@]|@time$|@device_id$)/';
const DAY_MS = 86_400_000;
/** Lines per write request: InfluxDB's recommended batch size is 5 000–10 000 points. */
const LINES_PER_REQUEST = 5000;
/** And at most this many bytes (InfluxDB refuses bodies over `max-body-size`, 25 MB by default). */
const BYTES_PER_REQUEST = 4 * 1024 * 1024;

/** Where the store reports what it drops or retries. */
export interface InfluxStoreLog {
  log(msg: string): void;
  warn(msg: string): void;
}

export interface InfluxStoreOptions {
  /** `http(s)://[user:password@]host:port/database`; the path names the database (default `fieldline`). */
  url: string;
  /** Retention policy the store writes to and reads from. Default `fieldline`. */
  retentionPolicy?: string;
  /** Its duration when the store creates it: `30d`, `12w`, `8760h`, or `INF`. Default `30d`. */
  retention?: string;
  /** Request timeout. Default 30 s. */
  timeoutMs?: number;
  log?: InfluxStoreLog;
}

/** Maps a metric name to its field key (see the layout above). */
export function fieldOf(metric: string): string {
  return metric === 'time' || metric === DEVICE_TAG ? `@${metric}` : metric;
}

/** The metric stored under a field key, or null for internal fields. */
export function metricOf(field: string): string | null {
  if (field.charCodeAt(0) !== 64 /* @ */) return field;
  return field === '@time' || field === '@device_id' ? field.slice(1) : null;
}

/** The point timestamp (ns, as a decimal string: it exceeds 2^53) of a reading. */
export function pointTime(ts: number, seq: number | undefined): string {
  const offset = seq === undefined ? 0 : 1 + (seq % SEQ_SLOTS);
  return `${ts}${String(offset).padStart(6, '0')}`;
}

/** Parses `…/database` URLs; credentials may sit in the URL (never in the repo: they come from the environment). */
export function parseInfluxUrl(url: string): {
  protocol: 'http' | 'https';
  host: string;
  port: number;
  database: string;
  username?: string;
  password?: string;
} {
  const u = new URL(url);
  const protocol = u.protocol === 'https:' ? 'https' : 'http';
  const database = decodeURIComponent(u.pathname.replace(/^\/+|\/+$/g, '')) || 'fieldline';
  return {
    protocol,
    host: u.hostname,
    port: u.port ? Number(u.port) : protocol === 'https' ? 443 : 8086,
    database,
    ...(u.username ? { username: decodeURIComponent(u.username), password: decodeURIComponent(u.password) } : {}),
  };
}

const ident = (s: string): string => `"${s.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`;
const literal = (s: string): string => `'${s.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;
const stringField = (s: string): string => `"${s.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`;

interface RawSeries {
  name: string;
  tags?: Record<string, string>;
  columns: string[];
  values: unknown[][];
}
interface RawResult {
  statement_id: number;
  series?: RawSeries[];
  error?: string;
}

/** InfluxDB 1.x store (production mode, `INFLUX_URL`). Passes the same contract suite as the DuckDB store. */
export class InfluxStore implements TelemetryStore {
  readonly kind = 'influxdb';
  private readonly influx: InfluxDB;
  private readonly target: ReturnType<typeof parseInfluxUrl>;
  private readonly rp: string;
  private readonly retention: string;
  private readonly timeoutMs: number;
  private readonly agent: HttpAgent;
  /** Fully qualified measurement: `"db"."rp"."readings"`. */
  private readonly from: string;
  private readonly writes = new Set<Promise<void>>();
  private state: 'new' | 'open' | 'closed' = 'new';
  /** Points InfluxDB refused for good (outside the retention policy, field type conflict), for logs and tests. */
  dropped = 0;

  constructor(private readonly opts: InfluxStoreOptions) {
    this.target = parseInfluxUrl(opts.url);
    this.rp = opts.retentionPolicy ?? 'fieldline';
    this.retention = normaliseDuration(opts.retention ?? '30d');
    this.timeoutMs = opts.timeoutMs ?? 30_000;
    const { protocol, host, port, database, username, password } = this.target;
    this.influx = new InfluxDB({
      protocol,
      host,
      port,
      database,
      ...(username !== undefined ? { username, password } : {}),
    });
    this.agent =
      protocol === 'https' ? new HttpsAgent({ keepAlive: true, maxSockets: 8 }) : new HttpAgent({ keepAlive: true });
    this.from = `${ident(database)}.${ident(this.rp)}.${ident(MEASUREMENT)}`;
  }

  get database(): string {
    return this.target.database;
  }

  get retentionPolicy(): string {
    return this.rp;
  }

  async init(): Promise<void> {
    if (this.state === 'closed') throw new Error('InfluxDB store is closed');
    if (this.state === 'open') return;
    const db = this.target.database;
    let names: string[];
    try {
      names = await this.influx.getDatabaseNames();
    } catch (err) {
      const { protocol, host, port } = this.target;
      throw new Error(`INFLUX_URL: cannot reach InfluxDB at ${protocol}://${host}:${port}: ${errorMessage(err)}`);
    }
    if (!names.includes(db)) {
      // Created with our policy as its default (and no `autogen`), so Grafana finds the data without naming the RP.
      await this.influx.queryRaw(
        `CREATE DATABASE ${ident(db)} WITH DURATION ${this.retention} REPLICATION 1 NAME ${ident(this.rp)}`,
        { method: 'POST' },
      );
    } else {
      const policies = await this.influx.showRetentionPolicies(db);
      const existing = policies.find((p) => p.name === this.rp);
      if (!existing) {
        await this.influx.queryRaw(
          `CREATE RETENTION POLICY ${ident(this.rp)} ON ${ident(db)} DURATION ${this.retention} REPLICATION 1`,
          { method: 'POST' },
        );
      } else if (normaliseDuration(existing.duration) !== this.retention) {
        // Shortening a policy deletes data: that is an operator's decision, not a side effect of a restart.
        this.opts.log?.warn(
          `retention policy "${this.rp}" on "${db}" keeps ${existing.duration}, not ${this.retention} (INFLUX_RETENTION); ` +
            `change it with ALTER RETENTION POLICY if that is intended`,
        );
      }
    }
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
      let line = `${MEASUREMENT},${DEVICE_TAG}=${escapeTag(r.deviceId)} `;
      let first = true;
      const metrics = r.metrics;
      for (const name in metrics) {
        line += `${first ? '' : ','}${fieldOf(name)}=${formatFloat(metrics[name])}`;
        first = false;
      }
      if (r.seq !== undefined) line += `,${SEQ_FIELD}=${r.seq}`;
      if (r.tags !== undefined) line += `,${TAGS_FIELD}=${stringField(JSON.stringify(r.tags))}`;
      line += ` ${pointTime(r.ts, r.seq)}\n`;
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
  private post(body: string, lines: number): Promise<void> {
    const { protocol, host, port, database, username, password } = this.target;
    const path = `/write?db=${encodeURIComponent(database)}&rp=${encodeURIComponent(this.rp)}&precision=ns`;
    const request = protocol === 'https' ? httpsRequest : httpRequest;
    return new Promise<void>((resolve, reject) => {
      const req = request(
        {
          host,
          port,
          path,
          method: 'POST',
          agent: this.agent,
          timeout: this.timeoutMs,
          headers: {
            'content-type': 'text/plain; charset=utf-8',
            'content-length': Buffer.byteLength(body),
            ...(username !== undefined
              ? { authorization: `Basic ${Buffer.from(`${username}:${password ?? ''}`).toString('base64')}` }
              : {}),
          },
        },
        (res: IncomingMessage) => {
          let text = '';
          res.setEncoding('utf8');
          res.on('data', (chunk: string) => (text += chunk));
          res.on('error', reject);
          res.on('end', () => {
            const status = res.statusCode ?? 0;
            if (status >= 200 && status < 300) return resolve();
            const message = errorText(text);
            // A partial write stored every point it could; the rest (older than the retention policy, or a field
            // of another type) would be refused again on every retry. Points beyond the retention policy are
            // only counted; for anything else InfluxDB does not say which points it dropped, so the request's
            // readings go to the dead letter (those stored are harmless there: writes are idempotent if they are
            // ever replayed). A 400 or 422 (malformed) is as permanent. Anything else
            // (auth, a missing database, 5xx, timeouts) is not the data's fault: retried.
            if (status === 400 && message.startsWith('partial write')) {
              const n = Number(/dropped=(\d+)/.exec(message)?.[1] ?? 0);
              this.dropped += n;
              this.opts.log?.warn(`InfluxDB dropped ${n} of ${lines} points: ${message}`);
              // Older than the retention policy: dropped by the operator's policy, not an error to keep.
              if (/^partial write: points beyond retention policy dropped=\d+$/.test(message)) return resolve();
              return reject(new PermanentStoreError(`InfluxDB partial write (${n} of ${lines} dropped): ${message}`));
            }
            if (status === 400 || status === 422)
              return reject(new PermanentStoreError(`InfluxDB refused the write (${status}): ${message}`));
            reject(new Error(`InfluxDB write failed (${status}): ${message}`));
          });
        },
      );
      req.on('timeout', () => req.destroy(new Error(`InfluxDB write timed out after ${this.timeoutMs} ms`)));
      req.on('error', reject);
      req.end(body);
    });
  }

  async history(q: HistoryQuery): Promise<HistoryResponse> {
    const { series, truncated } =
      q.bucketMs === null ? await this.rawSeries(q) : await this.bucketSeries(q, q.bucketMs);
    if (q.metric !== undefined && series.length === 0) series.push({ metric: q.metric, points: [] });
    return { deviceId: q.deviceId, from: q.from, to: q.to, bucketMs: q.bucketMs, agg: q.agg, series, truncated };
  }

  private where(q: HistoryQuery): string {
    return `${ident(DEVICE_TAG)} = ${literal(q.deviceId)} AND time >= ${Math.ceil(q.from)}ms AND time < ${Math.ceil(q.to)}ms`;
  }

  private async rawSeries(q: HistoryQuery): Promise<{ series: HistorySeries[]; truncated: boolean }> {
    const where = this.where(q);
    let metrics: string[];
    if (q.metric !== undefined) metrics = [q.metric];
    else {
      // The device's metrics in range first: SHOW FIELD KEYS cannot filter by tag.
      const [counts] = await this.query([`SELECT COUNT(${METRIC_FIELDS_RE}) FROM ${this.from} WHERE ${where}`]);
      metrics = [];
      const s = counts.series?.[0];
      if (s) {
        s.columns.forEach((c, i) => {
          const metric = c.startsWith('count_') ? metricOf(c.slice(6)) : null;
          if (metric !== null && typeof s.values[0][i] === 'number' && s.values[0][i] > 0) metrics.push(metric);
        });
      }
      if (metrics.length === 0) return { series: [], truncated: false };
    }
    metrics.sort();
    const limit = Math.max(0, Math.floor(q.maxPoints));
    // One statement per metric, one request: each metric is cut at maxPoints on its own (one extra row tells
    // whether there was more).
    const results = await this.query(
      metrics.map(
        (m) => `SELECT ${ident(fieldOf(m))} FROM ${this.from} WHERE ${where} ORDER BY time ASC LIMIT ${limit + 1}`,
      ),
    );
    const series: HistorySeries[] = [];
    let truncated = false;
    metrics.forEach((metric, i) => {
      const rows = results[i].series?.[0]?.values ?? [];
      if (rows.length === 0) return;
      if (rows.length > limit) truncated = true;
      series.push({
        metric,
        points: rows.slice(0, limit).map((row) => ({ ts: row[0] as number, value: row[1] as number })),
      });
    });
    return { series, truncated };
  }

  private async bucketSeries(
    q: HistoryQuery,
    bucketMs: number,
  ): Promise<{ series: HistorySeries[]; truncated: boolean }> {
    const target = q.metric !== undefined ? ident(fieldOf(q.metric)) : METRIC_FIELDS_RE;
    const aggs = ['MEAN', 'MIN', 'MAX', 'COUNT', ...(q.agg === 'last' ? ['LAST'] : [])];
    const bucket = Math.max(1, Math.floor(bucketMs));
    // Day buckets (and longer) in a zone start at local midnight; InfluxDB's tz() follows DST (a 23 or 25 h day).
    const tz = q.tz !== undefined && bucketMs >= DAY_MS ? ` tz(${literal(q.tz)})` : '';
    const [result] = await this.query([
      `SELECT ${aggs.map((a) => `${a}(${target})`).join(', ')} FROM ${this.from} WHERE ${this.where(q)}
       GROUP BY time(${bucket}ms) fill(none)${tz}`,
    ]);
    const s = result.series?.[0];
    if (!s) return { series: [], truncated: false };
    // Columns: time, then per aggregate either one column named after it (single field) or `<agg>_<field>`.
    const byMetric = new Map<string, Partial<Record<string, number>>>();
    s.columns.forEach((c, i) => {
      if (i === 0) return;
      let agg: string;
      let metric: string | null;
      if (q.metric !== undefined) {
        agg = c;
        metric = q.metric;
      } else {
        const cut = c.indexOf('_');
        agg = c.slice(0, cut);
        metric = metricOf(c.slice(cut + 1));
      }
      if (metric === null) return;
      let cols = byMetric.get(metric);
      if (!cols) byMetric.set(metric, (cols = {}));
      cols[agg] = i;
    });
    const series: HistorySeries[] = [];
    for (const metric of [...byMetric.keys()].sort()) {
      const c = byMetric.get(metric)!;
      const points = [];
      for (const row of s.values) {
        const count = row[c['count']!];
        if (typeof count !== 'number' || count === 0) continue;
        const min = row[c['min']!] as number;
        const max = row[c['max']!] as number;
        const value = {
          mean: row[c['mean']!],
          min,
          max,
          count,
          last: c['last'] !== undefined ? row[c['last']] : null,
        }[q.agg] as number;
        points.push({ ts: row[0] as number, value, min, max, count });
      }
      if (points.length > 0) series.push({ metric, points });
    }
    return { series, truncated: false };
  }

  async since(deviceId: string, since: number, limit: number, before?: number): Promise<Reading[]> {
    if (this.state !== 'open') throw this.notOpen();
    if (limit <= 0) return [];
    const upTo = before === undefined ? '' : ` AND time < ${Math.ceil(before)}ms`;
    const [result] = await this.query([
      `SELECT * FROM ${this.from} WHERE ${ident(DEVICE_TAG)} = ${literal(deviceId)} AND time >= ${Math.floor(since) + 1}ms${upTo}
       ORDER BY time ASC LIMIT ${Math.floor(limit)}`,
    ]);
    const s = result.series?.[0];
    if (!s) return [];
    const cols = s.columns.map((c) => (c === 'time' || c === DEVICE_TAG ? null : c));
    const out: Reading[] = [];
    for (const row of s.values) {
      const metrics: Record<string, number> = {};
      const reading: Reading = { deviceId, ts: row[0] as number, metrics };
      for (let i = 1; i < cols.length; i++) {
        const c = cols[i];
        const v = row[i];
        if (c === null || v === null) continue;
        if (c === SEQ_FIELD) reading.seq = v as number;
        else if (c === TAGS_FIELD) reading.tags = JSON.parse(v as string) as Record<string, string>;
        else {
          const metric = metricOf(c);
          if (metric !== null) metrics[metric] = v as number;
        }
      }
      out.push(reading);
    }
    // Time order is (ms, seq slot); ties within a ms follow seq unless seqs wrapped around 999 999 in that ms.
    out.sort((a, b) => a.ts - b.ts || (a.seq ?? -1) - (b.seq ?? -1));
    return out;
  }

  async devices(): Promise<StoredDevice[]> {
    if (this.state !== 'open') throw this.notOpen();
    // The latest value of each metric per device, and the time of each device's latest point.
    const [latest, last] = await this.query([
      `SELECT LAST(${METRIC_FIELDS_RE}) FROM ${this.from} GROUP BY ${ident(DEVICE_TAG)}`,
      `SELECT * FROM ${this.from} GROUP BY ${ident(DEVICE_TAG)} ORDER BY time DESC LIMIT 1`,
    ]);
    const lastTs = new Map<string, number>();
    for (const s of last.series ?? []) {
      const id = s.tags?.[DEVICE_TAG];
      if (id !== undefined && s.values[0]) lastTs.set(id, s.values[0][0] as number);
    }
    const out: StoredDevice[] = [];
    for (const s of latest.series ?? []) {
      const deviceId = s.tags?.[DEVICE_TAG];
      const ts = deviceId === undefined ? undefined : lastTs.get(deviceId);
      if (deviceId === undefined || ts === undefined || !s.values[0]) continue;
      const d: StoredDevice = { deviceId, lastTs: ts, latest: {}, metrics: [] };
      s.columns.forEach((c, i) => {
        const v = s.values[0][i];
        const metric = c.startsWith('last_') ? metricOf(c.slice(5)) : null;
        if (metric === null || typeof v !== 'number') return;
        d.latest[metric] = v;
        d.metrics.push(metric);
      });
      d.metrics.sort();
      out.push(d);
    }
    return out.sort((a, b) => (a.deviceId < b.deviceId ? -1 : a.deviceId > b.deviceId ? 1 : 0));
  }

  async ping(): Promise<void> {
    if (this.state !== 'open') throw this.notOpen();
    const hosts = await this.influx.ping(2000);
    if (!hosts.some((h) => h.online)) throw new Error('InfluxDB does not answer /ping');
  }

  async close(): Promise<void> {
    if (this.state === 'closed') return;
    this.state = 'closed';
    // Let batches being posted finish rather than cut them off.
    await Promise.allSettled([...this.writes]);
    this.agent.destroy();
  }

  private async query(statements: string[]): Promise<RawResult[]> {
    if (this.state !== 'open') throw this.notOpen();
    const res = (await this.influx.queryRaw(statements.join(';\n'), {
      precision: 'ms',
      retentionPolicy: this.rp,
      method: 'POST',
    })) as { results?: RawResult[]; error?: string };
    if (res.error) throw new Error(`InfluxDB query failed: ${res.error}`);
    const results = res.results ?? [];
    for (const r of results) if (r.error) throw new Error(`InfluxDB query failed: ${r.error}`);
    if (results.length !== statements.length) throw new Error('InfluxDB answered fewer statements than asked');
    return results;
  }

  private notOpen(): Error {
    return new Error(this.state === 'closed' ? 'InfluxDB store is closed' : 'InfluxDB store is not initialised');
  }
}

/** Metric values are finite (validated at ingest); plain JS formatting is valid line protocol for floats. */
function formatFloat(v: number): string {
  return String(v);
}

/** Device ids are `[A-Za-z0-9_.-]`: nothing to escape; kept general in case the id rule ever widens. */
function escapeTag(v: string): string {
  return /[ ,=\\]/.test(v) ? v.replace(/([ ,=\\])/g, '\\$1') : v;
}

function errorText(body: string): string {
  try {
    const parsed = JSON.parse(body) as { error?: string };
    if (parsed.error) return parsed.error;
  } catch {
    // not JSON
  }
  return body.slice(0, 300);
}

/**
 * Normalises an InfluxDB duration for comparison and statements: `INF` / `0s` → `INF`; `30d` → `720h0m0s`-style
 * strings InfluxDB reports are turned back into hours, so `30d`, `720h` and `720h0m0s` compare equal.
 */
export function normaliseDuration(d: string): string {
  const t = d.trim();
  if (/^(inf|0|0s)$/i.test(t)) return 'INF';
  let hours = 0;
  const re = /(\d+)([wdhms])/g;
  let m: RegExpExecArray | null;
  let matched = '';
  while ((m = re.exec(t)) !== null) {
    matched += m[0];
    const n = Number(m[1]);
    hours += { w: n * 168, d: n * 24, h: n, m: n / 60, s: n / 3600 }[m[2] as 'w' | 'd' | 'h' | 'm' | 's'];
  }
  if (matched !== t || hours === 0) throw new Error(`not an InfluxDB duration: "${d}"`);
  return Number.isInteger(hours) ? `${hours}h` : `${Math.round(hours * 3600)}s`;
}
