import type { Namespace as IoNamespace } from 'socket.io';
import {
  deviceRoom,
  type Reading,
  TelemetryEvent,
  type TelemetryClientEvents,
  type TelemetryServerEvents,
} from '@fieldline/contracts';

type TelemetryNamespace = IoNamespace<TelemetryClientEvents, TelemetryServerEvents>;

/**
 * The outbound side of `/telemetry`: a device's readings to its room, no Nest code per reading. Socket.IO creates the
 * namespace when the HTTP server starts (TelemetryGateway.afterInit hands it over); until then no operator can be
 * in a room, and what the fan-out hands over goes nowhere.
 */
export class TelemetryChannel {
  private ns: TelemetryNamespace | null = null;

  /** Called once by the Nest gateway with the namespace Socket.IO created. */
  open(ns: TelemetryNamespace): void {
    this.ns = ns;
  }

  readonly readings = (deviceId: string, readings: Reading[]): void => {
    this.ns?.to(deviceRoom(deviceId)).emit(TelemetryEvent.readings, { deviceId, readings });
  };

  /** Connected operator sockets and device rooms with at least one member (local node). */
  stats(): { sockets: number; rooms: number } {
    const ns = this.ns;
    if (!ns) return { sockets: 0, rooms: 0 };
    let rooms = 0;
    for (const name of ns.adapter.rooms.keys()) if (!ns.sockets.has(name)) rooms++;
    return { sockets: ns.sockets.size, rooms };
  }
}
