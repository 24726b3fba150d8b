import type { Reading } from '@fieldline/contracts';

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

export const MEASUREMENT = 'readings';
export const DEVICE_TAG = 'device_id';
export const SEQ_FIELD = '@seq';
export const TAGS_FIELD = '@tags';
/** Sub-millisecond slots for seq: offsets 1..999 999 (0 = no seq). */
const SEQ_SLOTS = 999_999;
/** Metric fields (everything but the internal `@` fields, keeping the two escaped metric names). */
export const METRIC_FIELDS_RE = '/^([^@]|@time$|@device_id$)/';

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

/** The line-protocol line of a reading, newline included. */
export function lineOf(r: Reading): string {
  let line = `${MEASUREMENT},${DEVICE_TAG}=${escapeTag(r.deviceId)} `;
  let first = true;
  const metrics = r.metrics;
  for (const name in metrics) {
    line += `${first ? '' : ','}${fieldOf(name)}=${formatFloat(metrics[name])}`;
    first = false;
  }
  if (r.seq !== undefined) line += `,${SEQ_FIELD}=${r.seq}`;
  if (r.tags !== undefined) line += `,${TAGS_FIELD}=${stringField(JSON.stringify(r.tags))}`;
  return `${line} ${pointTime(r.ts, r.seq)}\n`;
}

/** An InfluxQL identifier. */
export const ident = (s: string): string => `"${s.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`;
/** An InfluxQL string literal. */
export const literal = (s: string): string => `'${s.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;
const stringField = (s: string): string => `"${s.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`;

/** Metric values are finite (validated at ingest); plain JS formatting is valid line protocol for floats. */
function formatFloat(v: number): string {
  return String(v);
}

/** Device ids are `[A-Za-z0-9_.-]`: nothing to escape; kept general in case the id rule ever widens. */
function escapeTag(v: string): string {
  return /[ ,=\\]/.test(v) ? v.replace(/([ ,=\\])/g, '\\$1') : v;
}
