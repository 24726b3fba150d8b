import type { DeviceMessage, SendOutcome } from '@fieldline/contracts';
import { DeviceEvents } from './device-events';
import type { DeviceTransport } from './device-transport';

/** The device transports of this node, in start-up order (MQTT first: it is the one devices use most). */
export class DeviceTransports {
  /** WebSocket and HTTP first: they know their connections; the external broker cannot tell. */
  private readonly sendOrder: readonly DeviceTransport[];

  constructor(
    readonly all: readonly DeviceTransport[],
    /** What devices say about commands, from every transport (the command service listens). */
    readonly events: DeviceEvents = new DeviceEvents(),
  ) {
    this.sendOrder = [...all.filter((t) => t.kind !== 'mqtt'), ...all.filter((t) => t.kind === 'mqtt')];
  }

  /** Every transport taking connections. */
  get ready(): boolean {
    return this.all.every((t) => t.ready);
  }

  /**
   * Sends on the first transport that holds a connection to the device. WebSocket and HTTP first: they know their
   * connections; the external broker cannot tell and always takes the message for the device's session.
   */
  async send(deviceId: string, message: DeviceMessage): Promise<SendOutcome> {
    for (const t of this.sendOrder) if ((await t.send(deviceId, message)) === 'sent') return 'sent';
    return 'offline';
  }
}
