import { type AuditConfig, loadAuditConfig } from './audit.config';
import { type AlarmsConfig, loadAlarmsConfig } from './alarms.config';
import { type AuthConfig, loadAuthConfig } from './auth.config';
import { type BackupConfig, loadBackupConfig } from './backup.config';
import { type ClusterConfig, loadClusterConfig } from './cluster.config';
import { type DevicesConfig, loadDevicesConfig } from './devices.config';
import type { Env } from './env';
import { type LineProtocolConfig, loadLineProtocolConfig } from './line-protocol.config';
import { type LiveConfig, loadLiveConfig } from './live.config';
import { loadMqttConfig, type MqttConfig } from './mqtt.config';
import { loadServerConfig, type ServerConfig } from './server.config';
import { loadSimConfig, type SimConfig } from './sim.config';
import { loadStateConfig, type StateConfig } from './state.config';
import { loadStorageConfig, type StorageConfig } from './storage.config';

/**
 * The gateway's configuration, read once from the environment and validated (README, "Configuration"): one section
 * per subsystem, each handed as it is to the part that uses it.
 */
export interface GatewayConfig {
  server: ServerConfig;
  mqtt: MqttConfig;
  storage: StorageConfig;
  cluster: ClusterConfig;
  devices: DevicesConfig;
  live: LiveConfig;
  /** Operator login, JWT and /metrics access. */
  auth: AuthConfig;
  /** InfluxDB line-protocol ingest (`/write`, `/api/v2/write`): the device tag and the bridge tokens. */
  lineProtocol: LineProtocolConfig;
  sim: SimConfig;
  /** Entity state: SQLite under `DATA_DIR`, or PostgreSQL (`DATABASE_URL`). */
  state: StateConfig;
  /** Alarm evaluation: ticker, lateness bound, label refresh. */
  alarms: AlarmsConfig;
  /** Where online backups of embedded mode go. */
  backup: BackupConfig;
  /** The audit log's retention. */
  audit: AuditConfig;
}

/** Reads and validates the configuration; throws a `ConfigError` (config-error.ts) naming the first bad variable. */
export function loadConfig(env: Env = process.env): GatewayConfig {
  // The services first: a bad URL is named before what it makes required elsewhere.
  const mqtt = loadMqttConfig(env);
  const storage = loadStorageConfig(env);
  return {
    mqtt,
    storage,
    cluster: loadClusterConfig(env),
    server: loadServerConfig(env),
    devices: loadDevicesConfig(env),
    live: loadLiveConfig(env),
    auth: loadAuthConfig(env),
    lineProtocol: loadLineProtocolConfig(env),
    sim: loadSimConfig(env),
    state: loadStateConfig(env),
    alarms: loadAlarmsConfig(env),
    backup: loadBackupConfig(env),
    audit: loadAuditConfig(env),
  };
}

/** Nest injection token of the {@link GatewayConfig}. */
export const CONFIG = Symbol('CONFIG');
