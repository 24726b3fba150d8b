import { z } from 'zod';
import { type Env, integer, parseSection, refuse, text, url } from './env';

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
}

const schema = z
  .object({
    MQTT_URL: url(['mqtt:', 'mqtts:', 'tcp:', 'ws:', 'wss:']),
    MQTT_PORT: integer(1883, 0, 65535),
    MQTT_USERNAME: text(null),
    MQTT_PASSWORD: text(null),
    MQTT_SESSION_EXPIRY: integer(3600, 60, 604_800),
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
    };
  });

/** `MQTT_URL`, `MQTT_PORT`, `MQTT_USERNAME`, `MQTT_PASSWORD`, `MQTT_SESSION_EXPIRY`. */
export const loadMqttConfig = (env: Env): MqttConfig => parseSection(schema, env);
