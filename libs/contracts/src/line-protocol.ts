/**
 * Paths of the InfluxDB-compatible write API, so that Telegraf (`outputs.influxdb`, `outputs.influxdb_v2`) and
 * InfluxDB client libraries can point at the gateway's HTTP port (see docs/line-protocol.md).
 */
export const LineProtocolPath = {
  /** `POST` InfluxDB 1.x write: `?db&rp&precision=ns|u|ms|s|m|h&u&p`, line protocol in the body. */
  write: '/write',
  /** `POST` InfluxDB 2.x write: `?org&bucket&precision=ns|us|ms|s`, `Authorization: Token <token>`. */
  writeV2: '/api/v2/write',
  /** `GET` / `HEAD` → 204: the liveness check clients make before writing. */
  ping: '/ping',
  /** `GET` / `POST` 1.x query stub: `CREATE DATABASE` and `SHOW ...` answer an empty result, anything else 400. */
  query: '/query',
} as const;

/** The tag that names a line's device unless `LINE_PROTOCOL_DEVICE_TAG` says otherwise. */
export const DEFAULT_LINE_DEVICE_TAG = 'device_id';
