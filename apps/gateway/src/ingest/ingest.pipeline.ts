import {
  ErrorCode,
  FieldlineError,
  LIMITS,
  type ParsedMessage,
  decodeSizedMessage,
  parseMessage,
  type Reading,
} from '@fieldline/contracts';
import type { AlarmService } from '../alarms/alarm.service';
import type { TokenBucketLimiter } from '../common/rate-limiter';
import type { PresenceService } from '../devices/presence.service';
import type { LiveFanout } from '../live/live.fanout';
import type { WriteBuffer } from '../storage/write-buffer';
import type { IngestStats, Transport } from './ingest.stats';
import { RecentSeqs } from './recent-seqs';

/** A message a transport decoded itself (line protocol), with the bytes its JSON form would take. */
export interface DecodedPayload {
  value: unknown;
  bytes: number;
}

/**
 * The one ingest path every transport ends in: parse → validate → normalise → write buffer, live fan-out, presence,
 * alarm evaluation.
 * Plain synchronous code, no framework on the way: a transport calls {@link IngestPipeline.ingest} with the raw
 * payload and answers the device from the returned {@link ParsedMessage} (or the thrown {@link FieldlineError}),
 * and acknowledges accepted readings only in {@link IngestPipeline.afterDurable}'s callback: once they are in the
 * spool (group commit, one callback list per group).
 *
 * A reading whose (device, seq, ts) was accepted recently is a resend (the device missed the ack): it is acked like
 * the original but neither stored nor fanned out again, and counted in `stats.duplicates`.
 */
export class IngestPipeline {
  private closing = false;
  private readonly recent = new RecentSeqs();

  constructor(
    private readonly buffer: WriteBuffer,
    private readonly live: LiveFanout,
    private readonly presence: PresenceService,
    readonly stats: IngestStats,
    /** Per-device token bucket (readings); null: no limit. */
    private readonly limiter: TokenBucketLimiter | null = null,
    /** Alarm evaluation of accepted readings; null: none (tests of the pipeline alone). */
    private readonly alarms: Pick<AlarmService, 'observe'> | null = null,
  ) {}

  /**
   * Ingests one message. `channelDeviceId` is the device the channel speaks for (topic, URL, connection), if any.
   * Returns the accepted readings and per-reading errors; throws when the whole message is refused. Both are counted.
   */
  ingest(payload: Buffer | string | DecodedPayload, transport: Transport, channelDeviceId?: string): ParsedMessage {
    this.stats.messages[transport]++;
    const receivedAt = Date.now();
    const limiter = channelDeviceId === undefined ? null : this.limiter;
    let parsed: ParsedMessage;
    try {
      if (this.closing) throw new FieldlineError(ErrorCode.SHUTTING_DOWN, 'the gateway is shutting down; retry later');
      // A device that is over its limit costs no parsing.
      const wait = limiter ? limiter.wait(channelDeviceId!) : 0;
      if (wait > 0) throw this.rateLimited(channelDeviceId!, wait);
      const ctx = { deviceId: channelDeviceId, receivedAt };
      try {
        if (typeof payload === 'string') parsed = parseMessage(payload, Buffer.byteLength(payload), ctx);
        else if (Buffer.isBuffer(payload)) parsed = parseMessage(payload.toString('utf8'), payload.length, ctx);
        else parsed = decodeSizedMessage(payload.value, payload.bytes, ctx);
      } catch (err) {
        // A refused message costs a token like a reading, so that flooding with garbage is limited too.
        limiter?.take(channelDeviceId!, 1);
        throw err;
      }
    } catch (err) {
      this.stats.reject(transport, err instanceof FieldlineError ? err.code : ErrorCode.INTERNAL);
      throw err;
    }
    if (limiter) {
      const cost = parsed.readings.length + parsed.errors.length;
      const wait = limiter.take(channelDeviceId!, cost);
      if (wait > 0) {
        this.stats.reject(transport, ErrorCode.RATE_LIMITED, cost);
        throw this.rateLimited(channelDeviceId!, wait);
      }
    }
    for (const e of parsed.errors) this.stats.reject(transport, e.code);
    let readings = parsed.readings;
    if (readings.length === 0) return parsed;
    readings = this.withoutResends(readings);
    if (readings.length === 0) return parsed;
    if (!this.buffer.add(readings)) {
      this.stats.reject(transport, ErrorCode.STORE_UNAVAILABLE, readings.length);
      throw new FieldlineError(ErrorCode.STORE_UNAVAILABLE, 'the store is behind; retry later', {
        retryAfterMs: 1000,
      });
    }
    this.stats.accepted[transport] += readings.length;
    const recent = this.recent;
    const alarms = this.alarms;
    for (let i = 0; i < readings.length; i++) {
      const r: Reading = readings[i];
      if (r.seq !== undefined) recent.add(r.deviceId, r.seq, r.ts);
      this.live.push(r);
      this.presence.seen(r, receivedAt);
      alarms?.observe(r, receivedAt);
    }
    return parsed;
  }

  /**
   * Calls `cb` once everything accepted so far is durable (in the spool), or with the error that kept it from being
   * written. Transports acknowledge in it; a resend is acked here too, after its original.
   */
  afterDurable(cb: (err?: Error) => void): void {
    this.buffer.afterDurable(cb);
  }

  /**
   * A refusal decided by a transport before the pipeline saw the message (a CONNECT or upgrade with a bad token, a
   * topic the device may not publish to): counted with the pipeline's own. `message`: the refused thing was a
   * message (counted as received too), not a connection.
   */
  refuse(transport: Transport, code: ErrorCode, message = false): void {
    if (message) this.stats.messages[transport]++;
    this.stats.reject(transport, code);
  }

  /**
   * Readings accepted so far, counted from the start. Readings are stored in the order they were accepted, so one
   * accepted when this was `n` is in the store once {@link onStored} reports `stored >= n`.
   */
  get acceptedMark(): number {
    return this.buffer.acceptedCount;
  }

  /** Readings in the store so far, counted from the start (see {@link acceptedMark}). */
  get storedMark(): number {
    return this.buffer.stats().written;
  }

  /**
   * Calls `fn` with {@link storedMark} after every store write, until the returned function is called: for
   * transports that acknowledge only what is stored, not only spooled (the external broker's PUBACK).
   */
  onStored(fn: (stored: number) => void): () => void {
    return this.buffer.onWritten(fn);
  }

  /** Stores what is buffered now rather than at the next flush tick (a transport leaving the broker). */
  flush(): Promise<void> {
    return this.buffer.flush();
  }

  /** The same as {@link afterDurable}, as a promise (HTTP). */
  durable(): Promise<void> {
    return new Promise((resolve, reject) => this.buffer.afterDurable((err) => (err ? reject(err) : resolve())));
  }

  /**
   * The readings that are not resends; the same array when none is (the common case: no allocation). A batch that
   * repeats a (device, seq, ts) carries it once: the store would keep one, so the live stream must show one too.
   * (The batch is checked against itself apart from {@link RecentSeqs}: those are remembered only once accepted.)
   */
  private withoutResends(readings: Reading[]): Reading[] {
    const recent = this.recent;
    // By seq, holding the reading: no key string per reading (a batch is almost always one device's).
    const inBatch = readings.length > 1 ? new Map<number, Reading>() : null;
    let out: Reading[] | null = null;
    for (let i = 0; i < readings.length; i++) {
      const r = readings[i];
      let dup = false;
      if (r.seq !== undefined) {
        dup = recent.has(r.deviceId, r.seq, r.ts);
        if (inBatch !== null && !dup) {
          const earlier = inBatch.get(r.seq);
          dup = earlier !== undefined && earlier.ts === r.ts && earlier.deviceId === r.deviceId;
          if (!dup) inBatch.set(r.seq, r);
        }
      }
      if (dup && out === null) out = readings.slice(0, i);
      else if (!dup && out !== null) out.push(r);
      if (dup) this.stats.duplicates++;
    }
    return out ?? readings;
  }

  private rateLimited(deviceId: string, waitMs: number): FieldlineError {
    const l = this.limiter!;
    return new FieldlineError(
      ErrorCode.RATE_LIMITED,
      `device ${deviceId} is over its limit of ${l.rate} readings/s (burst ${l.burst}); retry in ${waitMs} ms`,
      { retryAfterMs: waitMs, rate: l.rate, burst: l.burst },
    );
  }

  /** Refuses further messages with SHUTTING_DOWN. */
  close(): void {
    this.closing = true;
  }

  get maxMessageBytes(): number {
    return LIMITS.maxMessageBytes;
  }
}
