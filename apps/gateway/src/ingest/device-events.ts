import {
  COMMAND_LIMITS,
  type DeviceCommandReply,
  DeviceCommandReplySchema,
  type ErrorBody,
  ErrorCode,
} from '@fieldline/contracts';

/** What the command service hears from the device transports (commands/commands.service.ts). */
export interface DeviceEventsListener {
  /** The device can take commands now (a WebSocket connection opened, an MQTT subscription to its commands). */
  connected(deviceId: string): void;
  /** The device's own acknowledgement of a command (MQTT PUBACK, WebSocket `command_ack`). */
  commandAck(deviceId: string, commandId: string): void;
  /** The device's answer to a command, validated. */
  commandReply(deviceId: string, commandId: string, reply: DeviceCommandReply): void;
}

/**
 * What devices say about commands, from every transport to one listener. Transports are built before the command
 * service, and ingest may not import it: the service registers here once it is built.
 */
export class DeviceEvents {
  private listener: DeviceEventsListener | null = null;
  /** Replies refused (bad JSON, bad shape, too large): counted like other bad input. */
  refusedReplies = 0;

  listen(listener: DeviceEventsListener): void {
    this.listener = listener;
  }

  connected(deviceId: string): void {
    this.listener?.connected(deviceId);
  }

  ack(deviceId: string, commandId: string): void {
    this.listener?.commandAck(deviceId, commandId);
  }

  /** Validates a device's reply (`raw`: JSON text, or the parsed frame); the refusal to send back, or null. */
  reply(deviceId: string, commandId: string, raw: string | object): ErrorBody | null {
    let value: unknown = raw;
    if (typeof raw === 'string') {
      if (Buffer.byteLength(raw) > COMMAND_LIMITS.maxResultBytes + 1024) {
        return this.refuse(
          ErrorCode.MESSAGE_TOO_LARGE,
          `a command result is at most ${COMMAND_LIMITS.maxResultBytes} bytes`,
        );
      }
      try {
        value = JSON.parse(raw);
      } catch {
        return this.refuse(ErrorCode.MALFORMED_JSON, `the result of command ${commandId} is not JSON`);
      }
    }
    const parsed = DeviceCommandReplySchema.safeParse(value);
    if (!parsed.success) {
      const why = parsed.error.issues[0];
      return this.refuse(
        ErrorCode.INVALID_MESSAGE,
        `the result of command ${commandId}: ${why.path.join('.') || 'body'}: ${why.message} (status: delivered | succeeded | failed | rejected)`,
      );
    }
    this.listener?.commandReply(deviceId, commandId, parsed.data);
    return null;
  }

  private refuse(code: ErrorCode, message: string): ErrorBody {
    this.refusedReplies++;
    return { code, message };
  }
}
