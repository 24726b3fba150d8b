import { mkdir } from 'node:fs/promises';
import { dirname } from 'node:path';
import { BIGINT, DuckDBInstance, VARCHAR } from '@duckdb/node-api';
import type { DuckDBConnection, DuckDBType, DuckDBValue } from '@duckdb/node-api';
import type { HistoryQuery, HistoryResponse, HistorySeries, Reading } from '@fieldline/contracts';
import { PermanentStoreError, type StoredDevice, type TelemetryStore } from './store';
import { errorMessage } from '@fieldline/contracts';

const DAY_MS = 86_400_000;
const YIELD_EVERY_ROWS = 4096;

/**
 * A mean over values near the largest double must not overflow to Infinity (sent as null): a bucket holding any
 * value above HUGE is averaged scaled by 2^-64 (exact for every double above 1e-288) and scaled back.
 */
const HUGE = '1e300';
const SCALE = '5.421010862427522e-20'; // 2^-64
const UNSCALE = '18446744073709551616.0'; // 2^64

/**
 * Narrow layout: one row per metric point, so a new metric needs no schema change and a per-metric scan reads only
 * the rows it needs. `tags` repeats on every row of its reading; readings rarely carry tags and the column is
 * dictionary-compressed, so this is cheaper than a join.
 */
const COLUMNS = `(
  device_id VARCHAR NOT NULL,
  ts BIGINT NOT NULL,
  seq BIGINT,
  metric VARCHAR NOT NULL,
  value DOUBLE NOT NULL,
  tags VARCHAR
)`;
const SCHEMA = `CREATE TABLE IF NOT EXISTS readings ${COLUMNS}`;

/**
 * Batches are appended to this session-local table first and moved over with an anti-join, so a reading written
 * twice (a replay after a crash, a retry after a timeout, a resend) never becomes two rows. The key is (device, ts,
 * seq, metric); a reading without seq is identified by (device, ts, metric). The join only looks at rows in the
 * batch's time range, which DuckDB's zone maps narrow to a few row groups for live data.
 */
const STAGING = `CREATE TEMP TABLE IF NOT EXISTS staging ${COLUMNS}`;

/** Catalog name of the backup file while it is attached (one backup at a time: the backup service sees to it). */
const BACKUP_ALIAS = 'fieldline_backup';

type Params = Record<string, DuckDBValue>;
type ParamTypes = Record<string, DuckDBType>;

/** Embedded store on DuckDB (a file under DATA_DIR, or `:memory:`). */
export class DuckDbStore implements TelemetryStore {
  readonly kind = 'duckdb';
  private instance: DuckDBInstance | null = null;
  /** Only writes use this connection: a write holds a transaction open on it, which a read must never join. */
  private writer: DuckDBConnection | null = null;
  private reader: DuckDBConnection | null = null;
  /**
   * Only {@link ping} uses this one: /health must answer while operators keep the reader busy (issue 15: a flood of
   * backfills turned /health 503 when the check queued behind them on the shared reader).
   */
  private health: DuckDBConnection | null = null;
  /** Writes run one at a time: two batches must not share the writer's transaction. */
  private writeTail: Promise<unknown> = Promise.resolve();
  /**
   * Reads run one at a time as well. A connection runs one query at a time anyway, but each query waiting for it
   * would hold a libuv thread (4 by default) while it waits, and the health check and the spool's file I/O need one.
   */
  private readTail: Promise<unknown> = Promise.resolve();
  private closed = false;

  constructor(private readonly opts: { path: string }) {}

  async init(): Promise<void> {
    if (this.closed) throw new Error('DuckDB store is closed');
    if (this.instance) return;
    const { path } = this.opts;
    if (path !== ':memory:' && path !== '') await mkdir(dirname(path), { recursive: true });
    const instance = await DuckDBInstance.create(path);
    try {
      const writer = await instance.connect();
      const reader = await instance.connect();
      const health = await instance.connect();
      // Casts between TIMESTAMP and TIMESTAMPTZ follow the session zone; pin it so results never depend on the host.
      for (const c of [writer, reader]) await c.run(`SET TimeZone = 'UTC'`);
      await writer.run(SCHEMA);
      await writer.run(STAGING);
      this.instance = instance;
      this.writer = writer;
      this.reader = reader;
      this.health = health;
    } catch (err) {
      instance.closeSync();
      throw err;
    }
  }

  write(readings: readonly Reading[]): Promise<void> {
    const run = this.writeTail.then(() => this.writeBatch(readings));
    this.writeTail = run.catch(() => undefined);
    return run;
  }

  private async writeBatch(readings: readonly Reading[]): Promise<void> {
    const c = this.conn('writer');
    if (readings.length === 0) return;
    // The appender joins the connection's open transaction, so a rollback discards every row of the batch.
    await c.run('BEGIN TRANSACTION');
    try {
      const appender = await c.createAppender('staging', 'main', 'temp');
      let minTs = Infinity;
      let maxTs = -Infinity;
      try {
        let rows = 0;
        for (const r of readings) {
          if (r.ts < minTs) minTs = r.ts;
          if (r.ts > maxTs) maxTs = r.ts;
          // Appending is synchronous (~1.3 µs a row): give the event loop a turn every few thousand rows so a
          // large batch does not stall ingest and live fan-out. The transaction keeps the batch invisible meanwhile.
          if (rows >= YIELD_EVERY_ROWS) {
            rows = 0;
            await new Promise<void>((resolve) => setImmediate(resolve));
          }
          const tags = r.tags === undefined ? null : JSON.stringify(r.tags);
          const metrics = r.metrics;
          for (const name in metrics) {
            appender.appendVarchar(r.deviceId);
            // appendDouble into a BIGINT column casts natively: no BigInt allocation per row.
            appender.appendDouble(r.ts);
            if (r.seq === undefined) appender.appendNull();
            else appender.appendDouble(r.seq);
            appender.appendVarchar(name);
            appender.appendDouble(metrics[name]);
            if (tags === null) appender.appendNull();
            else appender.appendVarchar(tags);
            appender.endRow();
            rows++;
          }
        }
      } catch (err) {
        // Drop the rows not yet flushed; those already flushed go with the rollback below.
        try {
          appender.clear();
          appender.closeSync();
        } catch {
          // The original error is the one worth reporting.
        }
        throw err;
      }
      appender.closeSync();
      // minTs/maxTs are numbers (validated readings): safe to inline, and constants let DuckDB prune by zone map.
      await c.run(
        `INSERT INTO readings SELECT DISTINCT ON (s.device_id, s.ts, s.seq, s.metric) s.* FROM temp.main.staging s
         WHERE NOT EXISTS (SELECT 1 FROM readings r
           WHERE r.ts >= ${Math.floor(minTs)} AND r.ts <= ${Math.ceil(maxTs)}
             AND r.device_id = s.device_id AND r.ts = s.ts AND r.metric = s.metric
             AND r.seq IS NOT DISTINCT FROM s.seq)`,
      );
      await c.run('DELETE FROM temp.main.staging');
      await c.run('COMMIT');
    } catch (err) {
      await c.run('ROLLBACK').catch(() => undefined);
      // Data DuckDB can never take (a value out of range): retrying would block the queue behind it for good.
      const message = errorMessage(err);
      if (/^(Conversion|Invalid Input|Out of Range) Error/.test(message)) throw new PermanentStoreError(message);
      throw err;
    }
  }

  async history(q: HistoryQuery): Promise<HistoryResponse> {
    const series = q.bucketMs === null ? await this.rawSeries(q) : await this.bucketSeries(q, q.bucketMs);
    return {
      deviceId: q.deviceId,
      from: q.from,
      to: q.to,
      bucketMs: q.bucketMs,
      agg: q.agg,
      series: series.series,
      truncated: series.truncated,
    };
  }

  private async rawSeries(q: HistoryQuery): Promise<{ series: HistorySeries[]; truncated: boolean }> {
    const { values, types, filter } = this.rangeParams(q);
    const limit = Math.max(0, Math.floor(q.maxPoints));
    // One extra row per metric tells whether more existed. A plain `ORDER BY ts` in the window (no tie-breaker)
    // lets DuckDB turn the filter into a per-metric top-N instead of sorting every row in range (90 vs 400 ms
    // over 2.6M rows).
    const rows = await this.read(
      `SELECT metric, ts::DOUBLE, value FROM readings WHERE ${filter}
       QUALIFY row_number() OVER (PARTITION BY metric ORDER BY ts) <= $limit
       ORDER BY metric, ts`,
      { ...values, limit: limit + 1 },
      { ...types, limit: BIGINT },
    );
    const series: HistorySeries[] = [];
    let truncated = false;
    let current: HistorySeries | null = null;
    for (const row of rows) {
      const metric = row[0] as string;
      if (current === null || current.metric !== metric) {
        current = { metric, points: [] };
        series.push(current);
      }
      if (current.points.length === limit) truncated = true;
      else current.points.push({ ts: row[1] as number, value: row[2] as number });
    }
    if (q.metric !== undefined && series.length === 0) series.push({ metric: q.metric, points: [] });
    return { series, truncated };
  }

  private async bucketSeries(
    q: HistoryQuery,
    bucketMs: number,
  ): Promise<{ series: HistorySeries[]; truncated: boolean }> {
    const { values, types, filter } = this.rangeParams(q);
    values['bucket'] = Math.max(1, Math.floor(bucketMs));
    types['bucket'] = BIGINT;
    const last = q.agg === 'last';
    let sql: string;
    if (q.tz !== undefined && bucketMs >= DAY_MS) {
      // Buckets start at local midnight: floor the local wall-clock time (aligned to the local epoch, so tz=UTC
      // matches the plain path) and map that start back to an instant; a DST day is 23 or 25 h long. Converting
      // every row through ICU costs ~1 µs a row (0.6 s over 650k rows), so rows are first folded into 15-minute UTC
      // slots: every zone's offset is a multiple of 15 minutes, so local midnight always falls on a slot edge and
      // no slot straddles two buckets.
      values['tz'] = q.tz;
      types['tz'] = VARCHAR;
      const bucket = `epoch_ms(timezone($tz, time_bucket(to_milliseconds($bucket),
        timezone($tz, make_timestamp(slot * 1000)::TIMESTAMPTZ), TIMESTAMP '1970-01-01')))`;
      const value = {
        mean: `CASE WHEN max(mx) > ${HUGE} THEN sum(ss) / sum(n) * ${UNSCALE} ELSE sum(s) / sum(n) END`,
        min: 'min(lo)',
        max: 'max(hi)',
        last: 'arg_max(l, lt)',
        count: 'sum(n)',
      }[q.agg];
      sql = `SELECT metric, ${bucket} AS b, (${value})::DOUBLE, min(lo), max(hi), sum(n)::DOUBLE
        FROM (SELECT metric, ts - ts % 900000 AS slot, sum(value) AS s, count(*) AS n, min(value) AS lo, max(value) AS hi
          ${last ? ', arg_max(value, ts) AS l, max(ts) AS lt' : ''}
          ${q.agg === 'mean' ? `, sum(value * ${SCALE}) AS ss, max(abs(value)) AS mx` : ''}
          FROM readings WHERE ${filter} GROUP BY metric, slot)
        GROUP BY metric, b ORDER BY metric, b`;
    } else {
      const value = {
        mean: `CASE WHEN max(abs(value)) > ${HUGE} THEN avg(value * ${SCALE}) * ${UNSCALE} ELSE avg(value) END`,
        min: 'min(value)',
        max: 'max(value)',
        last: 'arg_max(value, ts)',
        count: 'count(*)',
      }[q.agg];
      sql = `SELECT metric, (ts - ts % $bucket) AS b, (${value})::DOUBLE, min(value), max(value), count(*)::DOUBLE
        FROM readings WHERE ${filter} GROUP BY metric, b ORDER BY metric, b`;
    }
    const rows = await this.read(sql, values, types);
    const series: HistorySeries[] = [];
    let current: HistorySeries | null = null;
    for (const row of rows) {
      const metric = row[0] as string;
      if (current === null || current.metric !== metric) {
        current = { metric, points: [] };
        series.push(current);
      }
      current.points.push({
        ts: Number(row[1]),
        value: row[2] as number,
        min: row[3] as number,
        max: row[4] as number,
        count: row[5] as number,
      });
    }
    if (q.metric !== undefined && series.length === 0) series.push({ metric: q.metric, points: [] });
    return { series, truncated: false };
  }

  async since(deviceId: string, since: number, limit: number, before?: number): Promise<Reading[]> {
    if (limit <= 0) return [];
    const values: Params = { device: deviceId, since: Math.floor(since), limit: Math.floor(limit) };
    const types: ParamTypes = { device: VARCHAR, since: BIGINT, limit: BIGINT };
    let filter = 'device_id = $device AND ts > $since';
    if (before !== undefined) {
      filter += ' AND ts < $before';
      values['before'] = Math.ceil(before);
      types['before'] = BIGINT;
    }
    // Rows of one reading share (ts, seq): regroup them, and limit readings rather than rows.
    const rows = await this.read(
      `SELECT ts::DOUBLE, seq::DOUBLE, list(metric), list(value), any_value(tags)
       FROM readings WHERE ${filter}
       GROUP BY ts, seq ORDER BY ts, seq NULLS FIRST LIMIT $limit`,
      values,
      types,
    );
    return rows.map((row) => {
      const names = row[2] as string[];
      const vals = row[3] as number[];
      // No prototype: a metric named `__proto__` is kept like any other name.
      const metrics = Object.create(null) as Record<string, number>;
      for (let i = 0; i < names.length; i++) metrics[names[i]] = vals[i];
      const reading: Reading = { deviceId, ts: row[0] as number, metrics };
      if (row[1] !== null) reading.seq = row[1] as number;
      if (row[4] !== null) reading.tags = JSON.parse(row[4] as string) as Record<string, string>;
      return reading;
    });
  }

  async devices(): Promise<StoredDevice[]> {
    const rows = await this.read(
      `SELECT device_id, metric, arg_max(value, ts), max(ts)::DOUBLE
       FROM readings GROUP BY device_id, metric ORDER BY device_id, metric`,
    );
    const out: StoredDevice[] = [];
    let current: StoredDevice | null = null;
    for (const row of rows) {
      const deviceId = row[0] as string;
      const metric = row[1] as string;
      const ts = row[3] as number;
      if (current === null || current.deviceId !== deviceId) {
        current = { deviceId, lastTs: ts, latest: Object.create(null) as Record<string, number>, metrics: [] };
        out.push(current);
      }
      current.latest[metric] = row[2] as number;
      current.metrics.push(metric);
      if (ts > current.lastTs) current.lastTs = ts;
    }
    return out;
  }

  async ping(): Promise<void> {
    await this.conn('health').run('SELECT 1');
  }

  /**
   * A consistent copy of the database in `file` (which must not exist), taken while readings are written: DuckDB
   * copies one snapshot (its MVCC) of every table into a database attached for the purpose, on a connection of its
   * own, so writes and reads go on meanwhile. What the write buffer still holds is not in it: flush first.
   */
  async backup(file: string): Promise<void> {
    if (this.instance === null)
      throw new Error(this.closed ? 'DuckDB store is closed' : 'DuckDB store is not initialised');
    const c = await this.instance.connect();
    try {
      const [[name]] = (await c.runAndReadAll('SELECT current_database()')).getRowsJS() as [[string]];
      await c.run(`ATTACH '${file.replace(/'/g, "''")}' AS ${BACKUP_ALIAS}`);
      try {
        await c.run(`COPY FROM DATABASE "${name.replace(/"/g, '""')}" TO ${BACKUP_ALIAS}`);
      } finally {
        await c.run(`DETACH ${BACKUP_ALIAS}`);
      }
    } finally {
      c.disconnectSync();
    }
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    // Let a batch that is being written commit rather than cut it off mid-transaction.
    await this.writeTail;
    this.writer?.disconnectSync();
    this.reader?.disconnectSync();
    this.health?.disconnectSync();
    this.instance?.closeSync();
    this.writer = this.reader = this.health = this.instance = null;
  }

  /** The device / range / metric filter shared by history queries, with its bound parameters. */
  private rangeParams(q: HistoryQuery): { values: Params; types: ParamTypes; filter: string } {
    const values: Params = { device: q.deviceId, from: Math.ceil(q.from), to: Math.ceil(q.to) };
    const types: ParamTypes = { device: VARCHAR, from: BIGINT, to: BIGINT };
    let filter = 'device_id = $device AND ts >= $from AND ts < $to';
    if (q.metric !== undefined) {
      filter += ' AND metric = $metric';
      values['metric'] = q.metric;
      types['metric'] = VARCHAR;
    }
    return { values, types, filter };
  }

  private read(sql: string, values?: Params, types?: ParamTypes): Promise<unknown[][]> {
    const run = this.readTail.then(async () => {
      const reader = await this.conn('reader').runAndReadAll(sql, values, types);
      return reader.getRowsJS();
    });
    this.readTail = run.catch(() => undefined);
    return run;
  }

  private conn(which: 'writer' | 'reader' | 'health'): DuckDBConnection {
    const c = this[which];
    if (c === null) throw new Error(this.closed ? 'DuckDB store is closed' : 'DuckDB store is not initialised');
    return c;
  }
}
