import type { Socket } from 'socket.io';
import {
  deviceRoom,
  ErrorCode,
  errorBody,
  isQueryableTime,
  isValidDeviceId,
  LIMITS,
  type Reading,
  type SubscribeAck,
  type UnsubscribeAck,
} from '@fieldline/contracts';
import type { TelemetryStore } from '../storage/store';
import type { WriteBuffer } from '../storage/write-buffer';
import type { LiveFanout } from './live.fanout';

const keyOf = (r: Reading): string => `${r.ts}:${r.seq ?? ''}`;

/**
 * Joins and leaves device rooms and computes `since` backfill so that backfill and the live stream together hold
 * every reading after `since` exactly once: the socket joins the room first; readings the live fan-out hands out
 * from then on (including those pending at the join) are excluded from the backfill, which is the store's readings
 * plus those still in the write buffer.
 */
export class SubscriptionService {
  constructor(
    private readonly live: LiveFanout,
    private readonly buffer: WriteBuffer,
    private readonly store: TelemetryStore,
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
    const joined = socket.join(room);
    if (joined instanceof Promise) await joined;
    if (typeof since !== 'number') return { ok: true, deviceId, backfill: [], truncated: false };

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
    const truncated = backfill.length > LIMITS.maxBackfill;
    // When cut, keep the newest: the client can fetch older history over REST.
    return { ok: true, deviceId, backfill: truncated ? backfill.slice(-LIMITS.maxBackfill) : backfill, truncated };
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

function refuse(code: ErrorCode, message: string): { ok: false; error: ReturnType<typeof errorBody> } {
  return { ok: false, error: errorBody(code, message) };
}
