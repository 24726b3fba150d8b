/**
 * Messages from the gateway to a device (commands, desired state): one shape on every transport. On MQTT a message
 * is published to `devices/<id>/<channel>/<name>`; on WebSocket ingest it is a `{type: 'message', ...}` frame on the
 * device's connection.
 */

/** What a message to a device is about: the path below `devices/<id>/` on MQTT (e.g. `commands/reboot`). */
export type DeviceMessageChannel = 'commands' | 'desired';

/** A message for one device. */
export interface DeviceMessage {
  /** `commands` or `desired`. */
  channel: DeviceMessageChannel;
  /** Name below the channel (a command's method); empty for the channel itself. 1–64 of `[A-Za-z0-9_.-]`. */
  name: string;
  /** JSON payload. */
  payload: unknown;
}

/** The MQTT topic of a message to a device: `devices/<id>/<channel>[/<name>]`. */
export function deviceMessageTopic(deviceId: string, message: Pick<DeviceMessage, 'channel' | 'name'>): string {
  return message.name
    ? `devices/${deviceId}/${message.channel}/${message.name}`
    : `devices/${deviceId}/${message.channel}`;
}

/** The WebSocket frame that carries a {@link DeviceMessage} on a device's `/ingest` connection. */
export interface DeviceMessageFrame extends DeviceMessage {
  type: 'message';
}

/**
 * How a send to a device ended on one transport: `sent` = written to the device's connection or session (the
 * device's own acknowledgement is the command lifecycle's business), `offline` = this node holds no connection to
 * that device on that transport.
 */
export type SendOutcome = 'sent' | 'offline';
