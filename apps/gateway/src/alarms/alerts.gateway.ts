import { Logger } from '@nestjs/common';
import { type OnGatewayConnection, type OnGatewayInit, WebSocketGateway } from '@nestjs/websockets';
import type { Namespace as IoNamespace, Socket } from 'socket.io';
import {
  AlertsEvent,
  type AlertsClientEvents,
  type AlertsServerEvents,
  type AlertsSubscribeAck,
  ErrorCode,
  errorBody,
  Namespace,
} from '@fieldline/contracts';
import { AlarmService } from './alarm.service';

/** The room of sockets that subscribed to `/alerts`. */
const ROOM = 'alerts';
/** Most changes one `since` backfill answers with (the newest; `truncated` says when older ones were left out). */
export const ALERTS_BACKFILL_MAX = 1000;

/**
 * `/alerts`: every stored alarm change to the sockets that subscribed, after it is in the store. `subscribe {since}`
 * joins first and then reads the changes after `since`, so a change lands in the backfill, the stream, or both
 * (a client drops the sequence numbers it has seen), never in neither.
 */
@WebSocketGateway({ namespace: Namespace.alerts })
export class AlertsGateway implements OnGatewayInit, OnGatewayConnection {
  private readonly logger = new Logger(AlertsGateway.name);
  private readonly onSubscribe: (this: Socket, ...args: unknown[]) => void;

  constructor(private readonly alarms: AlarmService) {
    const subscribe = (socket: Socket, body: unknown): Promise<AlertsSubscribeAck> => this.subscribe(socket, body);
    const logger = this.logger;
    this.onSubscribe = function (this: Socket, ...args: unknown[]): void {
      const last = args[args.length - 1];
      const ack = typeof last === 'function' ? (last as (res: AlertsSubscribeAck) => void) : undefined;
      subscribe(this, args.length > 1 || !ack ? args[0] : undefined).then(
        (res) => ack?.(res),
        (err: unknown) => {
          logger.error(`subscribe failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
          ack?.({ ok: false, error: errorBody(ErrorCode.INTERNAL, 'internal error') });
        },
      );
    };
  }

  afterInit(ns: IoNamespace<AlertsClientEvents, AlertsServerEvents>): void {
    this.alarms.onChange((change) => ns.to(ROOM).emit(change.event, change));
  }

  handleConnection(socket: Socket): void {
    socket.on(AlertsEvent.subscribe, this.onSubscribe);
  }

  private async subscribe(socket: Socket, body: unknown): Promise<AlertsSubscribeAck> {
    const since = (body as { since?: unknown } | undefined)?.since;
    if (since !== undefined && (typeof since !== 'number' || !Number.isInteger(since) || since < 0))
      return { ok: false, error: errorBody(ErrorCode.INVALID_REQUEST, 'since: a sequence number (integer ≥ 0)') };
    await socket.join(ROOM);
    if (since === undefined) return { ok: true, backfill: [], seq: this.alarms.lastSeqNumber, truncated: false };
    const { changes, truncated } = await this.alarms.store.changesSince(since, ALERTS_BACKFILL_MAX);
    return { ok: true, backfill: changes, seq: this.alarms.lastSeqNumber, truncated };
  }
}
