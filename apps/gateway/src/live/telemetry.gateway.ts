import {
  ConnectedSocket,
  MessageBody,
  type OnGatewayInit,
  SubscribeMessage,
  WebSocketGateway,
} from '@nestjs/websockets';
import type { Namespace as IoNamespace, Socket } from 'socket.io';
import {
  deviceRoom,
  Namespace,
  type SubscribeAck,
  TelemetryEvent,
  type TelemetryClientEvents,
  type TelemetryServerEvents,
  type UnsubscribeAck,
} from '@fieldline/contracts';
import { LiveFanout } from './live.fanout';
import { SubscriptionService } from './subscription.service';

/**
 * `/telemetry`: an outbound channel. Live readings go from the fan-out straight to the device's room (no Nest code
 * per reading); subscribe / unsubscribe requests are handed to {@link SubscriptionService}. Socket.IO leaves all
 * rooms of a socket when it disconnects.
 */
@WebSocketGateway({ namespace: Namespace.telemetry })
export class TelemetryGateway implements OnGatewayInit {
  private ns: IoNamespace | null = null;

  constructor(
    private readonly live: LiveFanout,
    private readonly subscriptions: SubscriptionService,
  ) {}

  afterInit(ns: IoNamespace<TelemetryClientEvents, TelemetryServerEvents>): void {
    this.ns = ns;
    this.live.setSink((deviceId, readings) => {
      ns.to(deviceRoom(deviceId)).emit(TelemetryEvent.readings, { deviceId, readings });
    });
  }

  /** Connected operator sockets and device rooms with at least one member (local node). */
  stats(): { sockets: number; rooms: number } {
    if (!this.ns) return { sockets: 0, rooms: 0 };
    let rooms = 0;
    for (const name of this.ns.adapter.rooms.keys()) if (!this.ns.sockets.has(name)) rooms++;
    return { sockets: this.ns.sockets.size, rooms };
  }

  // Nest answers the ack with the returned value.
  @SubscribeMessage(TelemetryEvent.subscribe)
  subscribe(@ConnectedSocket() socket: Socket, @MessageBody() body: unknown): Promise<SubscribeAck> {
    return this.subscriptions.subscribe(socket, body);
  }

  @SubscribeMessage(TelemetryEvent.unsubscribe)
  unsubscribe(@ConnectedSocket() socket: Socket, @MessageBody() body: unknown): Promise<UnsubscribeAck> {
    return this.subscriptions.unsubscribe(socket, body);
  }
}
