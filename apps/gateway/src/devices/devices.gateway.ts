import { type OnGatewayConnection, type OnGatewayInit, WebSocketGateway } from '@nestjs/websockets';
import type { Namespace as IoNamespace, Socket } from 'socket.io';
import { DevicesEvent, type DevicesClientEvents, type DevicesServerEvents, Namespace } from '@fieldline/contracts';
import { DevicesChannel } from './devices.channel';
import { PresenceService } from './presence.service';

/** `/devices`: a snapshot on connect, then presence changes as they happen (updates batched per presence tick). */
@WebSocketGateway({ namespace: Namespace.devices })
export class DevicesGateway implements OnGatewayInit, OnGatewayConnection {
  constructor(
    private readonly presence: PresenceService,
    private readonly channel: DevicesChannel,
  ) {}

  afterInit(ns: IoNamespace<DevicesClientEvents, DevicesServerEvents>): void {
    this.channel.open(ns);
  }

  handleConnection(socket: Socket<DevicesClientEvents, DevicesServerEvents>): void {
    socket.emit(DevicesEvent.snapshot, this.presence.list());
  }
}
