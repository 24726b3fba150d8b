import { z } from 'zod';
import { decimal, type Env, integer, parseSection } from './env';

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
}

const schema = z
  .object({
    DEVICE_RATE: decimal(100, 0, 1_000_000),
    DEVICE_BURST: integer(1000, 1, 10_000_000),
    DEVICE_OFFLINE_AFTER_MS: integer(15_000, 100, 86_400_000),
    PRESENCE_TICK_MS: integer(1000, 10, 60_000),
    WS_PING_INTERVAL_MS: integer(15_000, 0, 3_600_000),
  })
  .transform((e): DevicesConfig => ({
    rate: e.DEVICE_RATE,
    burst: e.DEVICE_BURST,
    offlineAfterMs: e.DEVICE_OFFLINE_AFTER_MS,
    presenceTickMs: e.PRESENCE_TICK_MS,
    wsPingIntervalMs: e.WS_PING_INTERVAL_MS,
  }));

/** `DEVICE_RATE`, `DEVICE_BURST`, `DEVICE_OFFLINE_AFTER_MS`, `PRESENCE_TICK_MS`, `WS_PING_INTERVAL_MS`. */
export const loadDevicesConfig = (env: Env): DevicesConfig => parseSection(schema, env);
