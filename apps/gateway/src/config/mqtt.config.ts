import { z } from 'zod';
import { bytes, type Env, integer, parseSection, refuse, text, url } from './env';

/** MQTT ingest: the embedded broker (default) or a client of an external broker (`MQTT_URL`). */
export interface MqttConfig {
  /** External broker (production mode); null: the embedded broker on `port`. */
  url: string | null;
  /** Port of the embedded broker; null when an external broker is used. */
  port: number | null;
  /** The gateway's own broker credentials (not devices'); from the environment, never from the repo. */
  username: string | null;
  password: string | null;
  /** How long the broker keeps this node's session (and its messages) after the node disconnects, in seconds. */
  sessionExpiryS: number;
  /** What one device session may hold on the embedded broker (not used with an external broker). */
  device: MqttDeviceBudget;
}

/** Limits of one device session on the embedded broker. */
export interface MqttDeviceBudget {
  /** A persistent session (clean = false) is dropped this long after its client disconnected, in seconds. */
  sessionExpiryS: number;
  /** Persistent sessions one device may keep; a new one past it drops the device's oldest session without a client. */
  sessions: number;
  /** QoS 1 messages queued for one session (offline, or sent and not yet acknowledged); newer ones are dropped. */
  queueMessages: number;
  /** Payload bytes queued for one session, the same way. */
  queueBytes: number;
  /** Subscriptions one session may hold; more are refused in SUBACK (0x80). */
  subscriptions: number;
  /** Topic filters one SUBSCRIBE may carry; the ones past it are refused in SUBACK (0x80). */
  subscribeTopics: number;
  /** Inbound QoS 2 publishes awaiting PUBREL per client (aedes `maxInflightInbound`). */
  inflight: number;
}

const schema = z
  .object({
    MQTT_URL: url(['mqtt:', 'mqtts:', 'tcp:', 'ws:', 'wss:']),
    MQTT_PORT: integer(1883, 0, 65535),
    MQTT_USERNAME: text(null),
    MQTT_PASSWORD: text(null),
    MQTT_SESSION_EXPIRY: integer(3600, 60, 604_800),
    MQTT_DEVICE_SESSION_EXPIRY: integer(3600, 1, 604_800),
    MQTT_MAX_SESSIONS: integer(10, 1, 10_000),
    MQTT_QUEUE_MESSAGES: integer(1000, 1, 1_000_000),
    MQTT_QUEUE_BYTES: bytes(4 * 1024 ** 2, 64 * 1024, 1024 ** 3),
    MQTT_MAX_SUBSCRIPTIONS: integer(100, 1, 100_000),
    MQTT_MAX_SUBSCRIBE_TOPICS: integer(20, 1, 10_000),
    MQTT_MAX_INFLIGHT: integer(100, 1, 65_535),
  })
  .transform((e, ctx): MqttConfig => {
    if (e.MQTT_PASSWORD !== null && e.MQTT_USERNAME === null)
      return refuse(ctx, 'MQTT_USERNAME', 'MQTT_PASSWORD is set without MQTT_USERNAME');
    return {
      url: e.MQTT_URL,
      port: e.MQTT_URL === null ? e.MQTT_PORT : null,
      username: e.MQTT_USERNAME,
      password: e.MQTT_PASSWORD,
      sessionExpiryS: e.MQTT_SESSION_EXPIRY,
      device: {
        sessionExpiryS: e.MQTT_DEVICE_SESSION_EXPIRY,
        sessions: e.MQTT_MAX_SESSIONS,
        queueMessages: e.MQTT_QUEUE_MESSAGES,
        queueBytes: e.MQTT_QUEUE_BYTES,
        subscriptions: e.MQTT_MAX_SUBSCRIPTIONS,
        subscribeTopics: e.MQTT_MAX_SUBSCRIBE_TOPICS,
        inflight: e.MQTT_MAX_INFLIGHT,
      },
    };
  });

/**
 * `MQTT_URL`, `MQTT_PORT`, `MQTT_USERNAME`, `MQTT_PASSWORD`, `MQTT_SESSION_EXPIRY`; the embedded broker's device
 * limits `MQTT_DEVICE_SESSION_EXPIRY`, `MQTT_MAX_SESSIONS`, `MQTT_QUEUE_MESSAGES`, `MQTT_QUEUE_BYTES`, `MQTT_MAX_SUBSCRIPTIONS`,
 * `MQTT_MAX_SUBSCRIBE_TOPICS`, `MQTT_MAX_INFLIGHT`.
 */
export const loadMqttConfig = (env: Env): MqttConfig => parseSection(schema, env);
