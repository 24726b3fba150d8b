import { isAbsolute, resolve } from 'node:path';

/** The gateway's configuration, read once from the environment and validated (see README). */
export interface GatewayConfig {
  port: number;
  host: string;
  /** Port of the embedded MQTT broker; null when an external broker is used. */
  mqttPort: number | null;
  dataDir: string;
  mqttUrl: string | null;
  influxUrl: string | null;
  redisUrl: string | null;
  simDevices: number;
  simRate: number;
  /** A device that sends nothing for this long is shown offline. */
  offlineAfterMs: number;
  writeBatch: number;
  writeFlushMs: number;
  /** Readings the write buffer holds at most before ingest answers STORE_UNAVAILABLE. */
  writeMaxPending: number;
  /** Live fan-out tick: under load, readings of a device are coalesced into one event per tick. */
  liveTickMs: number;
  /** Interval of the `/devices` `updated` event. */
  presenceTickMs: number;
  corsOrigins: string[];
  logLevel: 'error' | 'warn' | 'log' | 'debug';
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

/** Reads and validates the configuration; throws {@link ConfigError} naming the first bad variable. */
export function loadConfig(env: Env = process.env): GatewayConfig {
  const mqttUrl = url(env, 'MQTT_URL', ['mqtt:', 'mqtts:', 'tcp:', 'ws:', 'wss:']);
  const influxUrl = url(env, 'INFLUX_URL', ['http:', 'https:']);
  const redisUrl = url(env, 'REDIS_URL', ['redis:', 'rediss:']);
  // Production mode (external broker, InfluxDB, Redis) is its own piece of work; refuse rather than half-run.
  if (mqttUrl)
    throw new ConfigError(
      'MQTT_URL',
      'an external broker is not supported by this build yet; unset it to use the embedded broker',
    );
  if (influxUrl)
    throw new ConfigError(
      'INFLUX_URL',
      'the InfluxDB store is not supported by this build yet; unset it to use the embedded store',
    );
  if (redisUrl)
    throw new ConfigError(
      'REDIS_URL',
      'the Redis adapter is not supported by this build yet; unset it to run one node',
    );
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
    influxUrl,
    redisUrl,
    simDevices: int(env, 'SIM_DEVICES', 0, 0, 10_000),
    simRate: num(env, 'SIM_RATE', 1, 0.01, 1000),
    offlineAfterMs: int(env, 'DEVICE_OFFLINE_AFTER_MS', 15_000, 100, 86_400_000),
    writeBatch: int(env, 'WRITE_BATCH', 5000, 1, 100_000),
    writeFlushMs: int(env, 'WRITE_FLUSH_MS', 100, 1, 60_000),
    writeMaxPending: int(env, 'WRITE_MAX_PENDING', 200_000, 1000, 10_000_000),
    liveTickMs: int(env, 'LIVE_TICK_MS', 20, 1, 1000),
    presenceTickMs: int(env, 'PRESENCE_TICK_MS', 1000, 10, 60_000),
    corsOrigins,
    logLevel,
  };
}

/** Nest injection token of the {@link GatewayConfig}. */
export const CONFIG = Symbol('CONFIG');
