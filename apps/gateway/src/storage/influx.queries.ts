import type { HistoryQuery, HistoryResponse, HistorySeries, Reading } from '@fieldline/contracts';
import { errorMessage } from '@fieldline/contracts';
import type { RawResult } from './influx.http';
import {
  DEVICE_TAG,
  fieldOf,
  ident,
  literal,
  METRIC_FIELDS_RE,
  metricOf,
  SEQ_FIELD,
  TAGS_FIELD,
} from './influx.layout';
import type { StoredDevice } from './store';

/** Runs InfluxQL statements in one request, one result per statement (times in ms). */
export type RunQuery = (statements: string[]) => Promise<RawResult[]>;

const DAY_MS = 86_400_000;
/** 2^64: scaling by a power of two is exact, so a scaled mean differs only where it would overflow. */
const UNSCALE = 18446744073709551616;
/** As an InfluxQL literal (which has no exponent notation, and integers only up to 2^63). */
const UNSCALE_QL = '18446744073709551616.0';

/**
 * The store's reads, as InfluxQL over the layout (influx.layout.ts). `from` is the fully qualified measurement
 * (`"db"."rp"."readings"`).
 */
export class InfluxQueries {
  constructor(
    private readonly run: RunQuery,
    private readonly from: string,
  ) {}

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
      const [counts] = await this.run([`SELECT COUNT(${METRIC_FIELDS_RE}) FROM ${this.from} WHERE ${where}`]);
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
    const results = await this.run(
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
    const aggs = ['MIN', 'MAX', 'COUNT', ...(q.agg === 'last' ? ['LAST'] : [])];
    const bucket = Math.max(1, Math.floor(bucketMs));
    // Day buckets (and longer) in a zone start at local midnight; InfluxDB's tz() follows DST (a 23 or 25 h day).
    const tz = q.tz !== undefined && bucketMs >= DAY_MS ? ` tz(${literal(q.tz)})` : '';
    const groupBy = `GROUP BY time(${bucket}ms) fill(none)${tz}`;
    let result: RawResult;
    try {
      [result] = await this.run([
        `SELECT ${['MEAN', ...aggs].map((a) => `${a}(${target})`).join(', ')} FROM ${this.from} WHERE ${this.where(q)}
         ${groupBy}`,
      ]);
    } catch (err) {
      // InfluxDB sums in doubles: a mean of values near the largest double overflows, and it cannot send +Inf.
      if (!/unsupported value: [+-]Inf/.test(errorMessage(err))) throw err;
      result = await this.scaledMeans(q, target, aggs, groupBy);
    }
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

  /**
   * The bucket aggregates as {@link bucketSeries} asks for them, with each mean taken over the values scaled by 2^-64
   * (exact for every double above 1e-288) and scaled back, as the DuckDB store does. Only after an overflow: the
   * subquery costs InfluxDB more than a plain MEAN.
   */
  private async scaledMeans(q: HistoryQuery, target: string, aggs: string[], groupBy: string): Promise<RawResult> {
    const where = this.where(q);
    const [rest] = await this.run([
      `SELECT ${aggs.map((a) => `${a}(${target})`).join(', ')} FROM ${this.from} WHERE ${where} ${groupBy}`,
    ]);
    const s = rest.series?.[0];
    if (!s) return rest;
    // The fields that have points, from the MIN columns (`min`, or `min_<field>` when the target is a regex).
    const fields =
      q.metric !== undefined
        ? [fieldOf(q.metric)]
        : s.columns.filter((c) => c.startsWith('min_')).map((c) => c.slice(4));
    const name = (f: string): string => (q.metric !== undefined ? 'mean' : `mean_${f}`);
    const [scaled] = await this.run([
      `SELECT ${fields.map((f) => `MEAN(${ident(f)}) AS ${ident(name(f))}`).join(', ')}
       FROM (SELECT ${fields.map((f) => `${ident(f)} / ${UNSCALE_QL} AS ${ident(f)}`).join(', ')} FROM ${this.from} WHERE ${where})
       WHERE time >= ${Math.ceil(q.from)}ms AND time < ${Math.ceil(q.to)}ms ${groupBy}`,
    ]);
    const means = scaled.series?.[0];
    const byTime = new Map<unknown, unknown[]>();
    for (const row of means?.values ?? []) byTime.set(row[0], row);
    const columns = [...s.columns, ...(means?.columns.slice(1) ?? [])];
    const width = columns.length - s.columns.length;
    const values = s.values.map((row) => {
      const m = byTime.get(row[0]);
      const scaledBack = m ? m.slice(1).map((v) => (typeof v === 'number' ? v * UNSCALE : v)) : [];
      while (scaledBack.length < width) scaledBack.push(null);
      return [...row, ...scaledBack];
    });
    return { ...rest, series: [{ ...s, columns, values }] };
  }

  async since(deviceId: string, since: number, limit: number, before?: number): Promise<Reading[]> {
    if (limit <= 0) return [];
    const upTo = before === undefined ? '' : ` AND time < ${Math.ceil(before)}ms`;
    const [result] = await this.run([
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
    // The latest value of each metric per device, and the time of each device's latest point.
    const [latest, last] = await this.run([
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
}
