import { type OnGatewayConnection, type OnGatewayInit, WebSocketGateway } from '@nestjs/websockets';
import type { Namespace as IoNamespace, Socket } from 'socket.io';
import { DevicesEvent, type DevicesClientEvents, type DevicesServerEvents, Namespace } from '@fieldline/contracts';
import { PresenceService } from './presence.service';

/** `/devices`: a snapshot on connect, then presence changes as they happen (updates batched per presence tick). */
@WebSocketGateway({ namespace: Namespace.devices })
export class DevicesGateway implements OnGatewayInit, OnGatewayConnection {
  constructor(private readonly presence: PresenceService) {}

  afterInit(ns: IoNamespace<DevicesClientEvents, DevicesServerEvents>): void {
    // To this node's clients only: with several nodes, each node derives the same presence from the shared state
    // and tells its own clients (a broadcast through the Redis adapter would reach every client once per node).
    this.presence.setListener({
      online: (d) => ns.local.emit(DevicesEvent.online, d),
      offline: (d) => ns.local.emit(DevicesEvent.offline, d),
      updated: (ds) => ns.local.emit(DevicesEvent.updated, ds),
    });
  }

  handleConnection(socket: Socket<DevicesClientEvents, DevicesServerEvents>): void {
    socket.emit(DevicesEvent.snapshot, this.presence.list());
  }
}
