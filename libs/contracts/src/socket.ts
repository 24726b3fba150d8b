import type { Command } from './commands';
import type { ErrorBody } from './errors';
import type { Reading } from './reading';
import type { DeviceSummary } from './rest';

/** Socket.IO namespaces. */
export const Namespace = {
  /** Live readings, one room per device. */
  telemetry: '/telemetry',
  /** Device presence: snapshot, online, offline, updated; and `command` (a command changed status). */
  devices: '/devices',
  /** Alarms: raised, updated, cleared, each with a sequence number; `subscribe {since}` backfills (alarms.ts). */
  alerts: '/alerts',
} as const;

/** The room of one device in the `/telemetry` namespace. */
export const deviceRoom = (deviceId: string): string => `device:${deviceId}`;

/** Event names, one place for server and clients. */
export const TelemetryEvent = {
  subscribe: 'subscribe',
  unsubscribe: 'unsubscribe',
  readings: 'readings',
} as const;

export const DevicesEvent = {
  snapshot: 'snapshot',
  online: 'online',
  offline: 'offline',
  updated: 'updated',
} as const;

/**
 * Sent on every namespace just before the gateway disconnects a socket whose operator token expired (payload: an
 * `UNAUTHORIZED` {@link ErrorBody}); log in again and reconnect with the new token. A socket refused at connect gets
 * `connect_error` whose `data` is an {@link ErrorBody} (`UNAUTHORIZED`: no, bad or expired token).
 */
export const AUTH_EXPIRED_EVENT = 'auth_expired';

/**
 * Sent on a namespace just before the gateway disconnects a socket that went on sending requests after they were
 * answered `RATE_LIMITED` (payload: a `RATE_LIMITED` {@link ErrorBody} with `details.limit` and `retryAfterMs`). A socket
 * refused at connect because its operator holds too many gets `connect_error` with a `RATE_LIMITED` `data`.
 */
export const RATE_LIMITED_EVENT = 'rate_limited';

/** Ack envelope of every Socket.IO request: `{ ok: true, ...data }` or `{ ok: false, error }`. */
export type Ack<T extends object = object> = ({ ok: true } & T) | { ok: false; error: ErrorBody };

/** `subscribe` request: join a device's room; `since` (epoch ms) asks for the readings after it. */
export interface SubscribeRequest {
  deviceId: string;
  since?: number;
}
/** `subscribe` answer: the readings with `ts > since` that the live stream will not deliver, oldest first. */
export type SubscribeAck = Ack<{ deviceId: string; backfill: Reading[]; truncated: boolean }>;
/** `unsubscribe` request. */
export interface UnsubscribeRequest {
  deviceId: string;
}
export type UnsubscribeAck = Ack<{ deviceId: string }>;

/** The `readings` event: readings of one device, in arrival order, coalesced per tick. */
export interface ReadingsPayload {
  deviceId: string;
  readings: Reading[];
}

/** Events the server sends on `/telemetry`. */
export interface TelemetryServerEvents {
  readings: (payload: ReadingsPayload) => void;
  [AUTH_EXPIRED_EVENT]: (error: ErrorBody) => void;
  [RATE_LIMITED_EVENT]: (error: ErrorBody) => void;
}
/** Events clients send on `/telemetry`. */
export interface TelemetryClientEvents {
  subscribe: (req: SubscribeRequest, ack: (res: SubscribeAck) => void) => void;
  /** The ack is optional: a client leaving a room need not wait for the answer. */
  unsubscribe: (req: UnsubscribeRequest, ack?: (res: UnsubscribeAck) => void) => void;
}

/** Events the server sends on `/devices`. `updated` carries every device that changed since the last tick. */
export interface DevicesServerEvents {
  snapshot: (devices: DeviceSummary[]) => void;
  online: (device: DeviceSummary) => void;
  offline: (device: DeviceSummary) => void;
  updated: (devices: DeviceSummary[]) => void;
  /** A command to a device changed status ({@link CommandsEvent}). */
  command: (command: Command) => void;
  [AUTH_EXPIRED_EVENT]: (error: ErrorBody) => void;
  [RATE_LIMITED_EVENT]: (error: ErrorBody) => void;
}
/** `/devices` takes no client events. */
export type DevicesClientEvents = Record<string, never>;
