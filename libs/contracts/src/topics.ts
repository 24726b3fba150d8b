import { isValidDeviceId } from './limits';

/** The kinds of per-device MQTT topic. */
export type TopicKind = 'telemetry' | 'status' | 'errors';

/** Topic a device publishes its readings to. */
export const telemetryTopic = (deviceId: string): string => `devices/${deviceId}/telemetry`;
/** Retained `online` / `offline` topic of a device (also its last will). */
export const statusTopic = (deviceId: string): string => `devices/${deviceId}/status`;
/** Topic on which the gateway answers a refused message. */
export const errorsTopic = (deviceId: string): string => `devices/${deviceId}/errors`;

/** Filter the gateway subscribes to for readings. */
export const TELEMETRY_FILTER = 'devices/+/telemetry';
/** Shared-subscription group used when several gateway nodes share an external broker. */
export const SHARED_GROUP = 'fieldline';
/** The shared subscription gateway nodes use on an external broker. */
export const SHARED_TELEMETRY_FILTER = `$share/${SHARED_GROUP}/${TELEMETRY_FILTER}`;

/** Filter for every device's status topic. */
export const STATUS_FILTER = 'devices/+/status';
/** The shared subscription gateway nodes use for device status on an external broker. */
export const SHARED_STATUS_FILTER = `$share/${SHARED_GROUP}/${STATUS_FILTER}`;

/** Prefix of the gateway nodes' own topics on an external broker. Gateways need read/write on `fieldline/nodes/#`. */
export const NODE_TOPIC_PREFIX = 'fieldline/nodes/';
/** Retained status topic of a gateway node (also its last will). */
export const nodeStatusTopic = (nodeId: string): string => `${NODE_TOPIC_PREFIX}${nodeId}/status`;
/** Filter gateway nodes subscribe to for their peers' status. */
export const NODE_STATUS_FILTER = `${NODE_TOPIC_PREFIX}+/status`;
/** The node id of a `fieldline/nodes/<id>/status` topic (may be empty), or null for any other topic. */
export function parseNodeStatusTopic(topic: string): string | null {
  if (!topic.startsWith(NODE_TOPIC_PREFIX) || !topic.endsWith('/status')) return null;
  return topic.slice(NODE_TOPIC_PREFIX.length, -'/status'.length);
}

/** Payloads of the status topic. */
export const STATUS_ONLINE = 'online';
export const STATUS_OFFLINE = 'offline';

/** A parsed device topic. `validId` is false when the id segment breaks the device id rule. */
export interface ParsedTopic {
  deviceId: string;
  kind: TopicKind;
  validId: boolean;
}

/** Parses `devices/<id>/<kind>`; returns null for any other topic. */
export function parseTopic(topic: string): ParsedTopic | null {
  if (!topic.startsWith('devices/')) return null;
  const end = topic.indexOf('/', 8);
  if (end <= 8) return null;
  const kind = topic.slice(end + 1);
  if (kind !== 'telemetry' && kind !== 'status' && kind !== 'errors') return null;
  const deviceId = topic.slice(8, end);
  return { deviceId, kind, validId: isValidDeviceId(deviceId) };
}
