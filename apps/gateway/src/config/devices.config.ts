import { z } from 'zod';
import { bytes, decimal, type Env, integer, parseSection } from './env';

/** What the gateway expects of a device: how fast it may send, how quiet it may be before it shows offline. */
export interface DevicesConfig {
  /** Per-device rate limit, readings per second (token bucket refill); 0 turns the limit off. */
  rate: number;
  /** Per-device token bucket size: readings a device may send at once after being quiet. */
  burst: number;
  /** A device that sends nothing for this long is shown offline. */
  offlineAfterMs: number;
  /** Interval of the `/devices` `updated` event. */
  presenceTickMs: number;
  /** WebSocket ingest: ping interval; a connection that misses a pong is cut and its device shown offline. 0: off. */
  wsPingIntervalMs: number;
  /** Open connections one device may hold on the embedded MQTT broker; one more is refused (CONNACK 3). */
  mqttConnections: number;
  /** Open WebSocket ingest connections one device may hold; one more upgrade is answered 429. */
  wsConnections: number;
  /** Reply bytes a WebSocket ingest connection may leave unread; past it the connection is closed (4008). */
  wsReplyBufferBytes: number;
}

const schema = z
  .object({
    DEVICE_RATE: decimal(100, 0, 1_000_000),
    DEVICE_BURST: integer(1000, 1, 10_000_000),
    DEVICE_OFFLINE_AFTER_MS: integer(15_000, 100, 86_400_000),
    PRESENCE_TICK_MS: integer(1000, 10, 60_000),
    WS_PING_INTERVAL_MS: integer(15_000, 0, 3_600_000),
    DEVICE_MQTT_CONNECTIONS: integer(10, 1, 10_000),
    DEVICE_WS_CONNECTIONS: integer(10, 1, 10_000),
    WS_REPLY_BUFFER_BYTES: bytes(1024 ** 2, 16 * 1024, 1024 ** 3),
  })
  .transform((e): DevicesConfig => ({
    rate: e.DEVICE_RATE,
    burst: e.DEVICE_BURST,
    offlineAfterMs: e.DEVICE_OFFLINE_AFTER_MS,
    presenceTickMs: e.PRESENCE_TICK_MS,
    wsPingIntervalMs: e.WS_PING_INTERVAL_MS,
    mqttConnections: e.DEVICE_MQTT_CONNECTIONS,
    wsConnections: e.DEVICE_WS_CONNECTIONS,
    wsReplyBufferBytes: e.WS_REPLY_BUFFER_BYTES,
  }));

/**
 * `DEVICE_RATE`, `DEVICE_BURST`, `DEVICE_OFFLINE_AFTER_MS`, `PRESENCE_TICK_MS`, `WS_PING_INTERVAL_MS`,
 * `DEVICE_MQTT_CONNECTIONS`, `DEVICE_WS_CONNECTIONS`, `WS_REPLY_BUFFER_BYTES`.
 */
export const loadDevicesConfig = (env: Env): DevicesConfig => parseSection(schema, env);
