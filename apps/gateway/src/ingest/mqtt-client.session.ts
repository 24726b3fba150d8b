import type { IClientOptions } from 'mqtt';
import {
  NODE_STATUS_FILTER,
  SHARED_COMMAND_RESULTS_FILTER,
  SHARED_STATUS_FILTER,
  SHARED_TELEMETRY_FILTER,
} from '@fieldline/contracts';

export { nodeStatusTopic } from '@fieldline/contracts';
/** Every subscription of a node's session (a drained peer's session is unsubscribed from the same). */
export const NODE_SUBSCRIPTIONS = [
  SHARED_TELEMETRY_FILTER,
  SHARED_STATUS_FILTER,
  SHARED_COMMAND_RESULTS_FILTER,
  NODE_STATUS_FILTER,
];
/** The MQTT client id of a node. */
export const clientIdOf = (nodeId: string): string => `fieldline-${nodeId}`;

/** A short network blip must not make peers take the node's session. */
export const WILL_DELAY_S = 5;
/** Unacknowledged messages the broker may send before waiting for PUBACKs (MQTT 5 Receive Maximum). */
const RECEIVE_MAXIMUM = 65_535;

export interface MqttClientOptions {
  url: string;
  username: string | null;
  password: string | null;
  nodeId: string;
  sessionExpiryS: number;
  /** First reconnect delay ceiling (doubles up to 30 s; full jitter with half of it as a floor). Default 250 ms. */
  reconnectBaseMs?: number;
}

/** Options of a persistent session, the node's own or a dead peer's being drained. */
export function sessionOptions(o: MqttClientOptions, clientId: string, protocolVersion: 4 | 5): IClientOptions {
  return {
    clientId,
    clean: false,
    protocolVersion,
    keepalive: 30,
    connectTimeout: 10_000,
    // Reconnects are ours: jittered backoff, and a fresh look at the session on each.
    reconnectPeriod: 0,
    resubscribe: false,
    ...(o.username !== null ? { username: o.username } : {}),
    ...(o.password !== null ? { password: o.password } : {}),
    ...(protocolVersion === 5
      ? { properties: { sessionExpiryInterval: o.sessionExpiryS, receiveMaximum: RECEIVE_MAXIMUM } }
      : {}),
  };
}
