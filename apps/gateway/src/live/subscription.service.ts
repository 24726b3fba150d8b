import type { Socket } from 'socket.io';
import {
  deviceRoom,
  ErrorCode,
  errorBody,
  FieldlineError,
  isQueryableTime,
  isValidDeviceId,
  LIMITS,
  type Reading,
  type SubscribeAck,
  type UnsubscribeAck,
} from '@fieldline/contracts';
import type { ConcurrencyGate } from '../common/concurrency-gate';
import { budgetOperator } from '../common/socket-budget';
import type { TelemetryStore } from '../storage/store';
import type { WriteBuffer } from '../storage/write-buffer';
import type { LiveFanout } from './live.fanout';

const keyOf = (r: Reading): string => `${r.ts}:${r.seq ?? ''}`;

/** How long a backfill waits (holding its turn) for the socket to take its earlier answers. */
const UNREAD_WAIT_MS = 2000;

/**
 * Joins and leaves device rooms and computes `since` backfill so that backfill and the live stream together hold
 * every reading after `since` exactly once: the socket joins the room first; readings the live fan-out hands out
 * from then on (including those pending at the join) are excluded from the backfill, which is the store's readings
 * plus those still in the write buffer.
 *
 * A backfill waits for its turn in the backfill {@link ConcurrencyGate} before it joins the room (a reading handed out live while it
 * waited is then in the store or the buffer, so in the backfill), and its answer is cut to `maxBytes`.
 */
export class SubscriptionService {
  constructor(
    private readonly live: LiveFanout,
    private readonly buffer: WriteBuffer,
    private readonly store: TelemetryStore,
    private readonly gate: ConcurrencyGate,
    /** Largest backfill answer, estimated as its JSON size. */
    private readonly maxBytes: number,
  ) {}

  async subscribe(socket: Socket, body: unknown): Promise<SubscribeAck> {
    const req = body as { deviceId?: unknown; since?: unknown } | null;
    const deviceId = req?.deviceId;
    if (!isValidDeviceId(deviceId))
      return refuse(ErrorCode.INVALID_DEVICE_ID, 'deviceId must be 1–64 characters of A-Z a-z 0-9 _ . -');
    const since = req?.since;
    if (since !== undefined && since !== null && (typeof since !== 'number' || !isQueryableTime(since))) {
      return refuse(ErrorCode.INVALID_REQUEST, 'since must be epoch milliseconds between 1970 and 2262');
    }
    const room = deviceRoom(deviceId);
    // socket.rooms also holds the socket's own id.
    if (!socket.rooms.has(room) && socket.rooms.size - 1 >= LIMITS.maxSubscriptionsPerSocket) {
      return refuse(
        ErrorCode.RATE_LIMITED,
        `a socket may subscribe to at most ${LIMITS.maxSubscriptionsPerSocket} devices`,
      );
    }
    if (typeof since !== 'number') {
      await this.join(socket, room);
      return { ok: true, deviceId, backfill: [], truncated: false };
    }
    // Sockets are admitted by the budget middleware; one that was not (a test harness) shares one key.
    const operator = budgetOperator(socket) ?? '';
    try {
      const ack = await this.gate.run(
        operator,
        () => socket.connected,
        () => this.backfill(socket, room, deviceId, since),
      );
      return ack ?? refuse(ErrorCode.INVALID_REQUEST, 'the socket disconnected');
    } catch (err) {
      if (err instanceof FieldlineError) return { ok: false, error: err.toBody() };
      throw err;
    }
  }

  private async join(socket: Socket, room: string): Promise<void> {
    const joined = socket.join(room);
    if (joined instanceof Promise) await joined;
  }

  private async backfill(socket: Socket, room: string, deviceId: string, since: number): Promise<SubscribeAck> {
    // A client that stops reading would have every answer it asks for held in the gateway's memory: the next backfill
    // waits for the last one to be written out, and is refused when it is not.
    if (!(await written(socket, UNREAD_WAIT_MS))) {
      return refuse(ErrorCode.RATE_LIMITED, 'the socket has not read its earlier answers; read them, then retry', {
        limit: 'unread',
        retryAfterMs: UNREAD_WAIT_MS,
      });
    }
    await this.join(socket, room);
    const excluded = new Set<string>();
    for (const r of this.live.pendingFor(deviceId)) excluded.add(keyOf(r));
    const unwatch = this.live.watch(deviceId, (rs) => rs.forEach((r) => excluded.add(keyOf(r))));
    const buffered = this.buffer.recent(deviceId, since);
    let stored: Reading[];
    try {
      stored = await this.store.since(deviceId, since, LIMITS.maxBackfill + 1);
    } catch {
      unwatch();
      return refuse(ErrorCode.STORE_UNAVAILABLE, 'history is unavailable right now; retry');
    }
    unwatch();
    for (const r of this.live.pendingFor(deviceId)) excluded.add(keyOf(r));

    const seen = new Set<string>();
    const backfill: Reading[] = [];
    for (const r of [...stored, ...buffered]) {
      const k = keyOf(r);
      if (excluded.has(k) || seen.has(k)) continue;
      seen.add(k);
      backfill.push(r);
    }
    backfill.sort((a, b) => a.ts - b.ts || (a.seq ?? 0) - (b.seq ?? 0));
    // When cut, keep the newest: the client can fetch older history over REST.
    let first = Math.max(0, backfill.length - LIMITS.maxBackfill);
    let bytes = 0;
    for (let i = backfill.length - 1; i >= first; i--) {
      bytes += jsonBytes(backfill[i]);
      if (bytes > this.maxBytes) {
        first = i + 1;
        break;
      }
    }
    return { ok: true, deviceId, backfill: first > 0 ? backfill.slice(first) : backfill, truncated: first > 0 };
  }

  async unsubscribe(socket: Socket, body: unknown): Promise<UnsubscribeAck> {
    const deviceId = (body as { deviceId?: unknown } | null)?.deviceId;
    if (!isValidDeviceId(deviceId))
      return refuse(ErrorCode.INVALID_DEVICE_ID, 'deviceId must be 1–64 characters of A-Z a-z 0-9 _ . -');
    const left = socket.leave(deviceRoom(deviceId));
    if (left instanceof Promise) await left;
    return { ok: true, deviceId };
  }
}

function refuse(
  code: ErrorCode,
  message: string,
  details?: Record<string, unknown>,
): { ok: false; error: ReturnType<typeof errorBody> } {
  return { ok: false, error: errorBody(code, message, details) };
}

/**
 * True once the socket's transport has written out what it was handed (at once when it has), false after `ms` or when
 * the socket goes. `writable` stays false while the kernel will not take more: the client is not reading.
 */
function written(socket: Socket, ms: number): Promise<boolean> {
  const transport = socket.conn.transport;
  if (transport.writable) return Promise.resolve(true);
  return new Promise((resolve) => {
    const done = (ok: boolean): void => {
      clearTimeout(timer);
      transport.off('drain', drained);
      socket.off('disconnect', gone);
      resolve(ok);
    };
    const drained = (): void => done(true);
    const gone = (): void => done(false);
    const timer = setTimeout(gone, ms);
    transport.on('drain', drained);
    socket.once('disconnect', gone);
  });
}

/** About the length of the reading's JSON (ASCII names, numbers up to ~20 characters): cheap, no serialising. */
function jsonBytes(r: Reading): number {
  let n = 64 + r.deviceId.length;
  for (const name in r.metrics) n += name.length + 24;
  if (r.tags) for (const k in r.tags) n += k.length + r.tags[k].length + 6;
  return n;
}
