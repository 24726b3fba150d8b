import { Logger } from '@nestjs/common';
import { type OnGatewayConnection, type OnGatewayInit, WebSocketGateway } from '@nestjs/websockets';
import type { Namespace as IoNamespace, Socket } from 'socket.io';
import {
  type Ack,
  ErrorCode,
  errorBody,
  Namespace,
  TelemetryEvent,
  type TelemetryClientEvents,
  type TelemetryServerEvents,
} from '@fieldline/contracts';
import { SubscriptionService } from './subscription.service';
import { TelemetryChannel } from './telemetry.channel';

/**
 * `/telemetry`: live readings go from the fan-out straight to the device's room through {@link TelemetryChannel} (no
 * Nest code per reading); subscribe / unsubscribe requests are handed to {@link SubscriptionService}. Socket.IO leaves all
 * rooms of a socket when it disconnects.
 *
 * The two requests are plain `socket.on` listeners, not `@SubscribeMessage` handlers: Nest binds those per socket as
 * rxjs pipelines (`fromEvent → mergeMap → takeUntil(disconnect)`), about 11 KB per operator socket. Here each request
 * has one listener function for the whole namespace (Socket.IO calls it with the socket as `this`), so a socket costs
 * two listener slots. The ack is the handler's answer, as before.
 */
@WebSocketGateway({ namespace: Namespace.telemetry })
export class TelemetryGateway implements OnGatewayInit, OnGatewayConnection {
  private readonly onSubscribe: (this: Socket, ...args: unknown[]) => void;
  private readonly onUnsubscribe: (this: Socket, ...args: unknown[]) => void;

  constructor(
    private readonly channel: TelemetryChannel,
    subscriptions: SubscriptionService,
  ) {
    const logger = new Logger(TelemetryGateway.name);
    this.onSubscribe = requestListener(TelemetryEvent.subscribe, logger, (socket, body) =>
      subscriptions.subscribe(socket, body),
    );
    this.onUnsubscribe = requestListener(TelemetryEvent.unsubscribe, logger, (socket, body) =>
      subscriptions.unsubscribe(socket, body),
    );
  }

  afterInit(ns: IoNamespace<TelemetryClientEvents, TelemetryServerEvents>): void {
    this.channel.open(ns);
  }

  handleConnection(socket: Socket): void {
    socket.on(TelemetryEvent.subscribe, this.onSubscribe);
    socket.on(TelemetryEvent.unsubscribe, this.onUnsubscribe);
  }
}

/**
 * One listener for a request event on every socket: takes the body and the ack as Nest did (a last function argument
 * is the ack; several arguments before it arrive as an array) and answers the ack with the handler's result. A
 * handler that throws answers `{ok: false, error: INTERNAL}`; the error itself is only logged.
 */
function requestListener(
  event: string,
  logger: Logger,
  handle: (socket: Socket, body: unknown) => Promise<Ack>,
): (this: Socket, ...args: unknown[]) => void {
  return function (this: Socket, ...args: unknown[]): void {
    const last = args[args.length - 1];
    const ack = typeof last === 'function' ? (last as (res: Ack) => void) : undefined;
    const n = ack ? args.length - 1 : args.length;
    const body = n === 1 ? args[0] : n === 0 ? undefined : args.slice(0, n);
    handle(this, body).then(
      (res) => ack?.(res),
      (err: unknown) => {
        logger.error(`${event} failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
        ack?.({ ok: false, error: errorBody(ErrorCode.INTERNAL, 'internal error') });
      },
    );
  };
}
