import { hostname } from 'node:os';
import { isAbsolute, resolve } from 'node:path';
import { type AuthConfig, loadAuthConfig } from '../auth/auth.config';
import { type LineProtocolConfig, loadLineProtocolConfig } from './line-protocol.config';
import { loadStateConfig, type StateConfig } from './state.config';

/** The gateway's configuration, read once from the environment and validated (see README). */
export interface GatewayConfig {
  port: number;
  host: string;
  /** Port of the embedded MQTT broker; null when an external broker is used. */
  mqttPort: number | null;
  dataDir: string;
  /** External broker (production mode); null: the embedded broker on `mqttPort`. */
  mqttUrl: string | null;
  /** The gateway's own broker credentials (not devices'); from the environment, never from the repo. */
  mqttUsername: string | null;
  mqttPassword: string | null;
  /** How long the broker keeps this node's session (and its messages) after the node disconnects, in seconds. */
  mqttSessionExpiryS: number;
  /** InfluxDB store (production mode); null: the embedded DuckDB store under `dataDir`. */
  influxUrl: string | null;
  /** Duration of the retention policy the InfluxDB store creates (`30d`, `12w`, `INF`). */
  influxRetention: string;
  /** Redis (several nodes): Socket.IO adapter and shared presence; null: one node, in memory. */
  redisUrl: string | null;
  /** Prefix of every Redis key and channel, so that several deployments can share one Redis. */
  redisPrefix: string;
  /** This node's stable id: its MQTT client id is `fieldline-<nodeId>`. */
  nodeId: string;
  simDevices: number;
  simRate: number;
  /** A device that sends nothing for this long is shown offline. */
  offlineAfterMs: number;
  /** WebSocket ingest: ping interval; a connection that misses a pong is cut and its device shown offline. 0: off. */
  wsPingIntervalMs: number;
  writeBatch: number;
  writeFlushMs: number;
  /** Readings the write buffer holds in memory at most; beyond, they wait in the spool on disk only. */
  writeMaxPending: number;
  /** Bytes of spool files (DATA_DIR/spool) at most; beyond, ingest answers STORE_UNAVAILABLE. */
  spoolMaxBytes: number;
  /** fdatasync every spool group commit (survives power loss, not only a process crash). */
  spoolFsync: boolean;
  /** Live fan-out tick: under load, readings of a device are coalesced into one event per tick. */
  liveTickMs: number;
  /** Interval of the `/devices` `updated` event. */
  presenceTickMs: number;
  corsOrigins: string[];
  logLevel: 'error' | 'warn' | 'log' | 'debug';
  /** `text` (readable, the default) or `json` (one JSON object a line, for log shippers). */
  logFormat: 'text' | 'json';
  /** Operator login, JWT and /metrics access. */
  auth: AuthConfig;
  /** Per-device rate limit, readings per second (token bucket refill); 0 turns the limit off. */
  deviceRate: number;
  /** Per-device token bucket size: readings a device may send at once after being quiet. */
  deviceBurst: number;
  /** InfluxDB line-protocol ingest (`/write`, `/api/v2/write`): the device tag and the bridge tokens. */
  lineProtocol: LineProtocolConfig;
  /** Entity state: SQLite under `dataDir`, or PostgreSQL (`DATABASE_URL`). */
  state: StateConfig;
}

/** A configuration value that stops the gateway at start; the message names the variable. */
export class ConfigError extends Error {
  constructor(
    readonly variable: string,
    message: string,
  ) {
    super(`${variable}: ${message}`);
    this.name = 'ConfigError';
  }
}

type Env = Record<string, string | undefined>;

function int(env: Env, name: string, def: number, min: number, max: number): number {
  const raw = env[name];
  if (raw === undefined || raw === '') return def;
  if (!/^\d+$/.test(raw.trim())) throw new ConfigError(name, `must be an integer, got "${raw}"`);
  const n = Number(raw);
  if (n < min || n > max) throw new ConfigError(name, `must be between ${min} and ${max}, got ${n}`);
  return n;
}

function num(env: Env, name: string, def: number, min: number, max: number): number {
  const raw = env[name];
  if (raw === undefined || raw === '') return def;
  const n = Number(raw);
  if (!Number.isFinite(n) || n < min || n > max)
    throw new ConfigError(name, `must be a number between ${min} and ${max}, got "${raw}"`);
  return n;
}

function url(env: Env, name: string, protocols: string[]): string | null {
  const raw = env[name];
  if (raw === undefined || raw === '') return null;
  let u: URL;
  try {
    u = new URL(raw);
  } catch {
    throw new ConfigError(name, `must be a URL, got "${raw}"`);
  }
  if (!protocols.includes(u.protocol))
    throw new ConfigError(name, `must use ${protocols.join(' or ')}, got "${u.protocol}"`);
  return raw;
}

/** A byte size: an integer with an optional unit (`k`, `m`, `g`: powers of 1024; `KiB`, `MB` and the like accepted). */
function bytes(env: Env, name: string, def: number, min: number, max: number): number {
  const raw = env[name];
  if (raw === undefined || raw.trim() === '') return def;
  const m = /^(\d+)\s*([kmgt]?)(i?b)?$/i.exec(raw.trim());
  if (!m) throw new ConfigError(name, `must be a size in bytes such as 1073741824, 512m or 1g; got "${raw}"`);
  const unit = { '': 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3, t: 1024 ** 4 }[m[2].toLowerCase()] ?? 1;
  const n = Number(m[1]) * unit;
  if (n < min || n > max) throw new ConfigError(name, `must be between ${min} and ${max} bytes, got ${n}`);
  return n;
}

function bool(env: Env, name: string, def: boolean): boolean {
  const raw = (env[name] ?? '').trim().toLowerCase();
  if (raw === '') return def;
  if (['true', '1', 'yes', 'on'].includes(raw)) return true;
  if (['false', '0', 'no', 'off'].includes(raw)) return false;
  throw new ConfigError(name, `must be true or false, got "${env[name]}"`);
}

/** Reads and validates the configuration; throws {@link ConfigError} naming the first bad variable. */
export function loadConfig(env: Env = process.env): GatewayConfig {
  const mqttUrl = url(env, 'MQTT_URL', ['mqtt:', 'mqtts:', 'tcp:', 'ws:', 'wss:']);
  const influxUrl = url(env, 'INFLUX_URL', ['http:', 'https:']);
  const redisUrl = url(env, 'REDIS_URL', ['redis:', 'rediss:']);
  // Several nodes share state through Redis; they must also share the broker and the store, or data is lost or split.
  if (redisUrl && !mqttUrl)
    throw new ConfigError(
      'MQTT_URL',
      'REDIS_URL is set (several gateway nodes) but MQTT_URL is not: the embedded broker has no shared ' +
        'subscriptions, so each node would only see the devices connected to it; set MQTT_URL to an external ' +
        'broker (Mosquitto, EMQX) or unset REDIS_URL to run one node',
    );
  if (redisUrl && !influxUrl)
    throw new ConfigError(
      'INFLUX_URL',
      'REDIS_URL is set (several gateway nodes) but INFLUX_URL is not: each node would keep its own embedded ' +
        'store, so history and reconnect backfill would depend on the node; set INFLUX_URL or unset REDIS_URL',
    );
  const retentionRaw = (env.INFLUX_RETENTION ?? '').trim().toLowerCase() || '30d';
  const influxRetention = retentionRaw === 'inf' ? 'INF' : retentionRaw;
  // InfluxDB keeps data for at least an hour (or forever: INF).
  if (influxRetention !== 'INF' && (!/^\d{1,6}[hdw]$/.test(influxRetention) || /^0+[hdw]$/.test(influxRetention)))
    throw new ConfigError(
      'INFLUX_RETENTION',
      `must be a duration such as 30d, 12w, 720h, or INF; got "${env.INFLUX_RETENTION}"`,
    );
  const nodeId = (env.NODE_ID ?? '').trim() || defaultNodeId();
  if (!/^[A-Za-z0-9_.-]{1,64}$/.test(nodeId))
    throw new ConfigError('NODE_ID', `must be 1–64 characters of A-Z a-z 0-9 _ . -, got "${nodeId}"`);
  const redisPrefix = (env.REDIS_KEY_PREFIX ?? '').trim() || 'fieldline';
  if (!/^[A-Za-z0-9_.:-]{1,64}$/.test(redisPrefix))
    throw new ConfigError('REDIS_KEY_PREFIX', `must be 1–64 characters of A-Z a-z 0-9 _ . : -, got "${redisPrefix}"`);
  const mqttUsername = env.MQTT_USERNAME && env.MQTT_USERNAME !== '' ? env.MQTT_USERNAME : null;
  const mqttPassword = env.MQTT_PASSWORD && env.MQTT_PASSWORD !== '' ? env.MQTT_PASSWORD : null;
  if (mqttPassword !== null && mqttUsername === null)
    throw new ConfigError('MQTT_USERNAME', 'MQTT_PASSWORD is set without MQTT_USERNAME');
  const logFormat = (env.LOG_FORMAT?.trim() || 'text') as GatewayConfig['logFormat'];
  if (logFormat !== 'text' && logFormat !== 'json')
    throw new ConfigError('LOG_FORMAT', `must be text or json, got "${env.LOG_FORMAT}"`);
  const logLevel = (env.LOG_LEVEL ?? 'log') as GatewayConfig['logLevel'];
  if (!['error', 'warn', 'log', 'debug'].includes(logLevel))
    throw new ConfigError('LOG_LEVEL', 'must be error, warn, log or debug');
  const dataDir = env.DATA_DIR && env.DATA_DIR !== '' ? env.DATA_DIR : './data';
  const cors = env.CORS_ORIGINS ?? '';
  const corsOrigins =
    cors === ''
      ? []
      : cors
          .split(',')
          .map((s) => s.trim())
          .filter(Boolean);
  for (const o of corsOrigins) {
    try {
      if (new URL(o).origin !== o) throw new Error();
    } catch {
      throw new ConfigError('CORS_ORIGINS', `"${o}" is not an origin such as https://ops.example.com`);
    }
  }
  return {
    port: int(env, 'PORT', 3000, 0, 65535),
    host: env.HOST && env.HOST !== '' ? env.HOST : '0.0.0.0',
    mqttPort: mqttUrl ? null : int(env, 'MQTT_PORT', 1883, 0, 65535),
    dataDir: isAbsolute(dataDir) ? dataDir : resolve(dataDir),
    mqttUrl,
    mqttUsername,
    mqttPassword,
    mqttSessionExpiryS: int(env, 'MQTT_SESSION_EXPIRY', 3600, 60, 604_800),
    influxUrl,
    influxRetention,
    redisUrl,
    redisPrefix,
    nodeId,
    simDevices: int(env, 'SIM_DEVICES', 0, 0, 10_000),
    simRate: num(env, 'SIM_RATE', 1, 0.01, 1000),
    offlineAfterMs: int(env, 'DEVICE_OFFLINE_AFTER_MS', 15_000, 100, 86_400_000),
    wsPingIntervalMs: int(env, 'WS_PING_INTERVAL_MS', 15_000, 0, 3_600_000),
    writeBatch: int(env, 'WRITE_BATCH', 5000, 1, 100_000),
    writeFlushMs: int(env, 'WRITE_FLUSH_MS', 100, 1, 60_000),
    writeMaxPending: int(env, 'WRITE_MAX_PENDING', 200_000, 1000, 10_000_000),
    spoolMaxBytes: bytes(env, 'SPOOL_MAX_BYTES', 1024 ** 3, 1024 ** 2, 1024 ** 5),
    spoolFsync: bool(env, 'SPOOL_FSYNC', false),
    liveTickMs: int(env, 'LIVE_TICK_MS', 10, 1, 1000),
    presenceTickMs: int(env, 'PRESENCE_TICK_MS', 1000, 10, 60_000),
    corsOrigins,
    auth: loadAuthConfig(env),
    deviceRate: num(env, 'DEVICE_RATE', 100, 0, 1_000_000),
    deviceBurst: int(env, 'DEVICE_BURST', 1000, 1, 10_000_000),
    lineProtocol: loadLineProtocolConfig(env),
    state: loadStateConfig(env),
    logLevel,
    logFormat,
  };
}

/** The host name, cut to the node id rule: stable across restarts of one machine or pod. */
function defaultNodeId(): string {
  const id = hostname()
    .replace(/[^A-Za-z0-9_.-]/g, '-')
    .slice(0, 64);
  return id === '' ? 'node' : id;
}

/** Nest injection token of the {@link GatewayConfig}. */
export const CONFIG = Symbol('CONFIG');
