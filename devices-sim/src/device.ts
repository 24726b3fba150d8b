import { ErrorCode, type Reading } from '@fieldline/contracts';
import type { DeviceListener, DeviceOptions, DeviceStats, Protocol } from './device.types';
import { DeviceFaults, SeqSet } from './faults';
import { Outbox } from './outbox';
import { ReadingProducer } from './producer';
import { RateMeter } from './rate-meter';
import { isAckWithSeqs, type Outcome, type Refusal } from './replies';
import type { SensorModel } from './sensors';
import type { OutMessage, RawAnswer, RawOptions, Transport, TransportSink } from './transports/transport';

export type TransportFactory = (device: SimDevice) => Transport;

/** A write that killed the connection this many times is given up on, so one poisonous message cannot loop forever. */
const MAX_ATTEMPTS = 5;

/** Whole-message refusals that mean "not now": the reading is kept and resent (with `retryLater`). */
const RETRY_LATER = new Set<string>([
  ErrorCode.RATE_LIMITED,
  ErrorCode.STORE_UNAVAILABLE,
  ErrorCode.STATE_UNAVAILABLE,
  ErrorCode.SHUTTING_DOWN,
]);

/**
 * One simulated device: what it has to say ({@link ReadingProducer}), what waits to be written ({@link Outbox}), and
 * what became of every reading (its counters, kept from the transport's answers as a {@link TransportSink}). Sends
 * through a {@link Transport}; the simulator decides when readings are due.
 */
export class SimDevice implements TransportSink {
  readonly id: string;
  readonly protocol: Protocol;
  readonly sensors: SensorModel;
  private readonly retryLater: boolean;
  private listener: DeviceListener;
  /** Fault injection state; null without faults. */
  readonly faults: DeviceFaults | null;
  /** Every `seq` the gateway acknowledged (and did not refuse afterwards). */
  private readonly ackedSet = new SeqSet();
  /** Set while an injected drop is in progress: its unanswered messages do not count towards MAX_ATTEMPTS. */
  private injectedDrop = false;
  /** MQTT: malformed messages written and not yet answered on the errors topic, oldest first. */
  private readonly awaitingRefusal: OutMessage[] = [];
  private transport: Transport | null = null;
  /** Set by {@link close}: answers still count, but nothing more is written. */
  private closing = false;

  /** Readings produced so far (the scheduler's bookkeeping). */
  produced = 0;
  private readonly counters = {
    sent: 0,
    acked: 0,
    refused: 0,
    failed: 0,
    dropped: 0,
    resent: 0,
    pending: 0,
    connects: 0,
    reconnects: 0,
    deferred: 0,
  };
  private readonly errorCounts: Record<string, number> = {};
  private readonly producer: ReadingProducer;
  private readonly outbox: Outbox;
  /** Of sent + resent. */
  private readonly writes = new RateMeter();

  constructor(options: DeviceOptions) {
    this.id = options.id;
    this.protocol = options.protocol;
    this.retryLater = options.retryLater ?? false;
    this.faults = options.faults ? new DeviceFaults(options.faults, options.id, options.faultSeed ?? 1) : null;
    this.listener = options.listener ?? {};
    const batch = Math.max(1, Math.floor(options.batch ?? 1));
    this.producer = new ReadingProducer(options.id, batch, this.faults, options.sensors, (m) => this.outbox.push(m));
    this.sensors = this.producer.sensors;
    // Like a real device with bounded memory: the oldest unsent readings go first.
    this.outbox = new Outbox(options.maxBuffer ?? 10_000, (old) => {
      this.counters.dropped += old.count;
      old.raw?.settle({ error: 'DROPPED' });
      if (old.fault) this.faults?.count(old.fault.kind, 'DROPPED');
    });
  }

  setListener(listener: DeviceListener): void {
    this.listener = listener;
  }

  attach(transport: Transport): void {
    this.transport = transport;
  }

  get connectedNow(): boolean {
    return this.transport?.connected === true;
  }

  /** The last `seq` used. */
  get seq(): number {
    return this.producer.seq;
  }

  connect(timeoutMs: number): Promise<boolean> {
    if (!this.transport) throw new Error(`device ${this.id} has no transport`);
    return this.transport.connect(timeoutMs);
  }

  /** A fresh reading at `ts`, taking the next `seq`. */
  nextReading(ts: number): Reading {
    return this.producer.nextReading(ts);
  }

  /** Produces one reading due at `ts`; it goes out with the next {@link pump} once its batch is full. */
  produce(ts: number): void {
    this.produced++;
    this.producer.produce(ts);
    if (this.faults?.dropNow()) this.dropConnection();
  }

  /** Turns a partly filled batch into a message (at stop, so no reading is held back). */
  flushBatch(): void {
    this.producer.flush();
  }

  /** Cuts the connection as a network failure would (the `drop` fault); the transport reconnects with backoff. */
  dropConnection(): void {
    const t = this.transport;
    if (!t?.drop || !t.connected || this.closing) return;
    this.faults?.count('drop');
    this.injectedDrop = true;
    t.drop();
  }

  /** Readings not acknowledged yet: written and unanswered, queued, or waiting in a partial batch. */
  get outstanding(): number {
    return this.counters.pending + this.unsent;
  }

  /** Readings not written yet: queued, or still with the producer. */
  private get unsent(): number {
    return this.outbox.readings + this.producer.unsent;
  }

  /** Every `seq` the gateway acknowledged, as inclusive ranges `[from, to]`, ascending. */
  ackedSeqs(): [number, number][] {
    return this.ackedSet.ranges();
  }

  /** Writes backlog messages while the transport has room. */
  pump(): void {
    const t = this.transport;
    if (!t || this.closing || this.outbox.paused()) return;
    // Bounded by the outbox's size on entry: a message that fails and is requeued synchronously is not retried here.
    for (let n = this.outbox.length; n > 0 && t.writable; n--) this.write(this.outbox.shift()!);
  }

  /**
   * Sends a payload as is, e.g. malformed JSON, for tests. Counted like a one-reading message. Resolves with the
   * gateway's answer (ws, http), at PUBACK (mqtt: refusals arrive on the errors topic, see the `refused` event), or
   * with `error` when the transport failed.
   */
  sendRaw(payload: string | Buffer, options: RawOptions = {}): Promise<RawAnswer> {
    return new Promise<RawAnswer>((resolve) => {
      const msg: OutMessage = {
        payload,
        count: 1,
        seq: null,
        sentAt: 0,
        attempts: 0,
        raw: { ...options, settle: resolve },
      };
      if (this.transport?.writable) this.write(msg);
      else this.outbox.push(msg);
    });
  }

  /**
   * Stops: writes the last partial batch if there is room, waits for answers to what was written until `deadline`
   * (`performance.now()`), disconnects. The backlog is not drained: what could not be sent in time stays `buffered`.
   */
  async close(deadline: number): Promise<void> {
    this.flushBatch();
    this.pump();
    this.closing = true;
    while (this.counters.pending > 0 && performance.now() < deadline) await sleep(10);
    await this.transport?.close();
  }

  stats(now = performance.now()): DeviceStats {
    this.sampleRate(now);
    const c = this.counters;
    return {
      id: this.id,
      protocol: this.protocol,
      connected: this.connectedNow,
      sent: c.sent,
      acked: c.acked,
      refused: c.refused,
      failed: c.failed,
      dropped: c.dropped,
      resent: c.resent,
      pending: c.pending,
      buffered: this.unsent,
      errors: { ...this.errorCounts },
      rate: this.writes.rate(now, c.sent + c.resent),
      connects: c.connects,
      reconnects: c.reconnects,
      deferred: c.deferred,
      seq: this.producer.seq,
      ...(this.faults ? { faults: structuredClone(this.faults.stats) } : {}),
    };
  }

  /** Records the write counter for {@link DeviceStats.rate}; called by the scheduler every tick. */
  sampleRate(now: number): void {
    this.writes.sample(now, this.counters.sent + this.counters.resent);
  }

  private write(msg: OutMessage): void {
    msg.attempts++;
    msg.sentAt = performance.now();
    // Injected messages are tallied under their fault, so sent/acked/refused stay about the device's readings.
    if (msg.fault) {
      // MQTT: the gateway's refusal may arrive on the errors topic even before the PUBACK.
      if (msg.fault.kind === 'malformed' && this.protocol === 'mqtt') this.awaitingRefusal.push(msg);
    } else if (msg.attempts === 1) this.counters.sent += msg.count;
    else this.counters.resent += msg.count;
    this.counters.pending += msg.count;
    this.transport!.send(msg);
  }

  private countError(code: string, n = 1): void {
    this.errorCounts[code] = (this.errorCounts[code] ?? 0) + n;
  }

  // --- TransportSink ---

  connected(): void {
    if (this.counters.connects++ > 0) this.counters.reconnects++;
    this.injectedDrop = false;
    this.listener.connect?.(this.id);
    this.pump();
  }

  disconnected(reason: string): void {
    this.listener.disconnect?.(this.id, reason);
  }

  answered(msg: OutMessage, outcome: Outcome, raw?: { status?: number; body?: unknown }): void {
    this.counters.pending -= msg.count;
    if (msg.fault) return this.faultAnswered(msg, outcome);
    if (
      this.retryLater &&
      !msg.raw &&
      outcome.accepted === 0 &&
      outcome.error &&
      RETRY_LATER.has(outcome.error.code) &&
      msg.attempts < MAX_ATTEMPTS * 4
    ) {
      // "Not now": keep it, first in line, and hold every write until the gateway's retryAfterMs has passed.
      this.countError(outcome.error.code, msg.count);
      this.counters.deferred += msg.count;
      this.outbox.requeue(msg);
      this.outbox.pause(performance.now() + (outcome.retryAfterMs ?? 1000));
      return;
    }
    this.counters.acked += outcome.accepted;
    if (outcome.accepted > 0 && msg.seqs) this.recordAcked(msg, outcome, raw?.body);
    this.counters.refused += outcome.refused;
    for (const code in outcome.codes) this.countError(code, outcome.codes[code]);
    if (outcome.accepted > 0 && this.listener.ack) {
      this.listener.ack({
        deviceId: this.id,
        protocol: this.protocol,
        seq: msg.seq,
        accepted: outcome.accepted,
        latencyMs: performance.now() - msg.sentAt,
      });
    }
    if (outcome.refused > 0 && outcome.error && this.listener.refused) {
      this.listener.refused({ deviceId: this.id, protocol: this.protocol, ...outcome.error, count: outcome.refused });
    }
    msg.raw?.settle({ outcome, ...raw });
    if (outcome.accepted === msg.count && msg.seqs && this.faults?.duplicate()) {
      // Sent once more, byte for byte, after its ack: the gateway must not store it twice.
      this.faults.count('dup');
      this.outbox.push({ ...msg, sentAt: 0, attempts: 0, fault: { kind: 'dup' } });
    }
  }

  /** Records which of `msg`'s readings were acknowledged: all, the ack's `seqs`, or all but those refused by seq. */
  private recordAcked(msg: OutMessage, outcome: Outcome, body: unknown): void {
    const seqs = msg.seqs!;
    let accepted: readonly number[] | null = null;
    if (outcome.accepted >= seqs.length) accepted = seqs;
    else if (isAckWithSeqs(body)) accepted = body.seqs;
    else if (outcome.refusedSeqs && outcome.refusedSeqs.length === seqs.length - outcome.accepted) {
      const refused = new Set(outcome.refusedSeqs);
      accepted = seqs.filter((s) => !refused.has(s));
    }
    // Otherwise which ones were accepted is unknown: claim none rather than one too many.
    if (accepted) for (const s of accepted) this.ackedSet.add(s);
  }

  private faultAnswered(msg: OutMessage, outcome: Outcome): void {
    const f = this.faults;
    if (!f || !msg.fault) return;
    const kind = msg.fault.kind;
    // MQTT: the PUBACK of a malformed message is only the broker's receipt; the answer comes on the errors topic.
    if (kind === 'malformed' && this.protocol === 'mqtt' && outcome.accepted > 0) return;
    if (outcome.accepted > 0) f.count(kind, 'ack', outcome.accepted);
    for (const code in outcome.codes) f.count(kind, code, outcome.codes[code]);
  }

  refusedAsync(refusal: Refusal): void {
    const malformed = refusal.seq === undefined || refusal.seq === null ? this.awaitingRefusal.shift() : undefined;
    if (malformed) {
      // The answer to an injected malformed message, not to a reading.
      this.faults?.count('malformed', refusal.code);
      return;
    }
    this.counters.refused++;
    this.countError(refusal.code);
    // PUBACKed, then refused: `acked` keeps counting the broker's answer (docs/device-protocol.md), the acked set drops it.
    if (typeof refusal.seq === 'number') this.ackedSet.delete(refusal.seq);
    this.listener.refused?.({ deviceId: this.id, protocol: this.protocol, ...refusal, count: 1 });
  }

  rewritten(msgs: OutMessage[]): void {
    for (const msg of msgs) {
      msg.attempts++;
      msg.sentAt = performance.now();
      if (!msg.fault) this.counters.resent += msg.count;
    }
  }

  failed(msgs: OutMessage[], code: string, retry: boolean, cause?: string): void {
    if (msgs.length === 0) return;
    this.countError(code);
    // Back to the front in the original order: unshift the last one first.
    for (let i = msgs.length - 1; i >= 0; i--) {
      const msg = msgs[i];
      this.counters.pending -= msg.count;
      if (msg.fault) {
        this.faults?.count(msg.fault.kind, cause ?? code);
        const waiting = this.awaitingRefusal.indexOf(msg);
        if (waiting >= 0) this.awaitingRefusal.splice(waiting, 1);
        continue;
      }
      // An injected drop is not the message's fault: it does not use up its attempts.
      if (retry && !msg.raw && (msg.attempts < MAX_ATTEMPTS || this.injectedDrop)) this.outbox.requeue(msg);
      else {
        this.counters.failed += msg.count;
        msg.raw?.settle({ error: code });
      }
    }
  }

  error(code: string): void {
    this.countError(code);
  }

  drained(): void {
    if (this.outbox.length) this.pump();
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
