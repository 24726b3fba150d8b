import type { Socket } from 'socket.io';
import { type ErrorBody, ErrorCode, errorBody, RATE_LIMITED_EVENT } from '@fieldline/contracts';
import type { OperatorBudgetConfig } from '../config/live.config';
import { TokenBucketLimiter } from './rate-limiter';

type Limits = Pick<
  OperatorBudgetConfig,
  'sockets' | 'socketRate' | 'socketBurst' | 'operatorRate' | 'operatorBurst' | 'strikes'
>;

/** The operator a socket was admitted for (its login name), set by {@link SocketBudget.admit}. */
export function budgetOperator(socket: Socket): string | undefined {
  return (socket.data as { budgetOperator?: string }).budgetOperator;
}

/** What a socket was refused for; the `limit` of a `RATE_LIMITED` error's details. */
export type SocketLimit = 'sockets' | 'socket-rate' | 'operator-rate';

/**
 * Sockets and Socket.IO requests per operator, on every namespace: at connect a socket past the operator's socket
 * limit is refused (`connect_error`, `RATE_LIMITED`); after that every incoming event takes a token from the socket's
 * bucket and one from the operator's (shared by all its sockets). A request without tokens is not handled: its ack, if
 * any, answers `RATE_LIMITED` with `retryAfterMs`. A socket that goes on sending after `strikes` refusals in a row is
 * told why (`rate_limited`) and disconnected, so a flooder cannot keep the node busy answering refusals.
 *
 * Counted per node, in memory: a packet middleware costs two Map lookups per request, no I/O.
 */
export class SocketBudget {
  private readonly held = new Map<string, number>();
  private readonly perSocket: TokenBucketLimiter;
  private readonly perOperator: TokenBucketLimiter;
  /** Refusals and disconnects, for /metrics and tests. */
  readonly refused: Record<SocketLimit, number> = { sockets: 0, 'socket-rate': 0, 'operator-rate': 0 };
  disconnected = 0;

  constructor(
    private readonly limits: Limits,
    now?: () => number,
  ) {
    this.perSocket = new TokenBucketLimiter(limits.socketRate, limits.socketBurst, now);
    this.perOperator = new TokenBucketLimiter(limits.operatorRate, limits.operatorBurst, now);
  }

  /** Sockets the operator holds on this node. */
  socketsOf(operator: string): number {
    return this.held.get(operator) ?? 0;
  }

  /** Connect step, after authentication: counts the socket against its operator and meters its requests. */
  admit(socket: Socket, operator: string, next: (err?: Error) => void): void {
    const held = this.socketsOf(operator);
    if (held >= this.limits.sockets) {
      this.refused.sockets++;
      const body = errorBody(
        ErrorCode.RATE_LIMITED,
        `an operator may hold at most ${this.limits.sockets} sockets on this node; close one first`,
        { limit: 'sockets', max: this.limits.sockets, retryAfterMs: 1000 },
      );
      next(Object.assign(new Error(body.message), { data: body }));
      return;
    }
    // Counted now, not at `connection`: logins verified in the same turn must see each other. Released at
    // `disconnect`, or at once when the socket never connects (the client left during the handshake).
    this.held.set(operator, held + 1);
    (socket.data as { budgetOperator?: string }).budgetOperator = operator;
    let released = false;
    const release = (): void => {
      if (released) return;
      released = true;
      const n = this.socketsOf(operator) - 1;
      if (n > 0) this.held.set(operator, n);
      else this.held.delete(operator);
    };
    socket.once('disconnect', release);
    // Socket.IO connects an admitted socket on the next tick, or drops it without a `disconnect` event.
    setImmediate(() => {
      if (!socket.connected) release();
    });
    let strikes = 0;
    socket.use((packet, pass) => {
      const refusal = this.take(socket.id, operator);
      if (refusal === null) {
        strikes = 0;
        pass();
        return;
      }
      this.refused[refusal.details!.limit as SocketLimit]++;
      if (++strikes > this.limits.strikes) {
        this.disconnected++;
        socket.emit(RATE_LIMITED_EVENT, {
          ...refusal,
          message: `disconnected: ${strikes} requests in a row after being answered RATE_LIMITED`,
        });
        socket.disconnect(true);
        return;
      }
      // The request is dropped; only its ack (the last argument, when a function) hears why.
      const ack = packet[packet.length - 1] as unknown;
      if (typeof ack === 'function')
        (ack as (res: { ok: false; error: ErrorBody }) => void)({ ok: false, error: refusal });
    });
    next();
  }

  /** Takes one token from the socket's and the operator's bucket, or neither and says which is empty. */
  private take(socketId: string, operator: string): ErrorBody | null {
    const socketWait = this.perSocket.wait(socketId);
    const operatorWait = this.perOperator.wait(operator);
    if (socketWait === 0 && operatorWait === 0) {
      this.perSocket.take(socketId);
      this.perOperator.take(operator);
      return null;
    }
    const bySocket = socketWait >= operatorWait;
    const [limit, rate, burst] = bySocket
      ? (['socket-rate', this.limits.socketRate, this.limits.socketBurst] as const)
      : (['operator-rate', this.limits.operatorRate, this.limits.operatorBurst] as const);
    return errorBody(
      ErrorCode.RATE_LIMITED,
      `too many requests: at most ${rate} a second ${bySocket ? 'per socket' : 'per operator'}; retry later`,
      { limit, rate, burst, retryAfterMs: Math.max(socketWait, operatorWait) },
    );
  }
}
