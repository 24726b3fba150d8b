import type { Reading } from '@fieldline/contracts';
import type { Outcome, Refusal } from './replies';
import { SensorModel, type SensorModelOptions } from './sensors';

export type Protocol = 'mqtt' | 'ws' | 'http';
export const PROTOCOLS: readonly Protocol[] = ['mqtt', 'ws', 'http'];

/** One message on its way to the gateway. */
export interface OutMessage {
  payload: string | Buffer;
  /** Readings in the message (1 for a raw message). */
  count: number;
  /** `seq` of the last reading, null for a raw message. */
  seq: number | null;
  /** `performance.now()` of the latest write, for latency. */
  sentAt: number;
  /** Times written; above 1 after a resend. */
  attempts: number;
  /** Set for {@link SimDevice.sendRaw}: not resent, and settles the caller's promise. */
  raw?: { topic?: string; qos?: 0 | 1; settle: (answer: RawAnswer) => void };
}

/** What a raw message got back. Which fields are set depends on the transport. */
export interface RawAnswer {
  /** How the answer was counted (absent when there was none). */
  outcome?: Outcome;
  /** HTTP status. */
  status?: number;
  /** Parsed answer: the IngestReply (ws) or response body (http). */
  body?: unknown;
  /** Why no answer came (transport failure). */
  error?: string;
}

export interface RawOptions {
  /** MQTT only: publish here instead of the device's telemetry topic (e.g. another device's, to test authorization). */
  topic?: string;
  /** MQTT only: QoS of this message. */
  qos?: 0 | 1;
}

/** A device's connection to the gateway. Transports report back through a {@link TransportSink}. */
export interface Transport {
  readonly connected: boolean;
  /** True when another message may be written now (connected and within the in-flight window). */
  readonly writable: boolean;
  /** Starts connecting and keeps reconnecting; resolves true once connected, false if `timeoutMs` passes first. */
  connect(timeoutMs: number): Promise<boolean>;
  send(msg: OutMessage): void;
  /** Stops reconnecting and disconnects cleanly (MQTT: publishes `offline` first). */
  close(): Promise<void>;
}

/** The transport-facing side of a device. */
export interface TransportSink {
  readonly id: string;
  connected(): void;
  disconnected(reason: string): void;
  /** The gateway answered `msg`. `raw` carries the wire answer for {@link SimDevice.sendRaw}. */
  answered(msg: OutMessage, outcome: Outcome, raw?: { status?: number; body?: unknown }): void;
  /** A refusal not tied to a written message (MQTT errors topic). */
  refusedAsync(refusal: Refusal): void;
  /** No answer will come for `msgs`; `retry` puts them back at the front of the backlog. Counted once under `code`. */
  failed(msgs: OutMessage[], code: string, retry: boolean): void;
  /** Counts a transport problem not tied to a message (connect failure, abnormal close). */
  error(code: string): void;
  /** The transport has room again. */
  drained(): void;
}

export type TransportFactory = (device: SimDevice) => Transport;

export interface AckEvent {
  deviceId: string;
  protocol: Protocol;
  /** `seq` of the message's last reading (null for raw messages). */
  seq: number | null;
  /** Readings accepted. */
  accepted: number;
  /** From the latest write to the answer (MQTT: PUBACK, or the write itself at QoS 0). */
  latencyMs: number;
}

export interface RefusedEvent {
  deviceId: string;
  protocol: Protocol;
  code: string;
  message: string;
  seq?: number | null;
  /** Readings refused by this answer. */
  count: number;
}

export interface DeviceListener {
  ack?(e: AckEvent): void;
  refused?(e: RefusedEvent): void;
  connect?(deviceId: string): void;
  disconnect?(deviceId: string, reason: string): void;
}

export interface DeviceStats {
  id: string;
  protocol: Protocol;
  connected: boolean;
  /** Readings written for the first time (raw messages count as one). */
  sent: number;
  /** Readings the gateway accepted (MQTT: acknowledged by the broker, PUBACK at QoS 1, written at QoS 0). */
  acked: number;
  /** Readings the gateway refused (MQTT: messages on the errors topic). */
  refused: number;
  /** Readings given up on without an answer. */
  failed: number;
  /** Readings dropped because the offline buffer was full. */
  dropped: number;
  /** Readings written again after a connection loss, with their original `seq`. */
  resent: number;
  /** Readings written and not answered yet. */
  pending: number;
  /** Readings waiting to be written (offline buffer, or beyond the in-flight window). */
  buffered: number;
  /** By error code: the gateway's codes for refusals, plus transport codes (CONNECT_FAILED, NO_REPLY, WS_CLOSE_<n>, ...). */
  errors: Record<string, number>;
  /** Readings written per second over the last second. */
  rate: number;
  /** Successful connections, reconnections included. */
  connects: number;
  /** Last `seq` used (0 before the first reading). */
  seq: number;
}

export interface DeviceOptions {
  id: string;
  protocol: Protocol;
  /** Readings per message; above 1 sends `{ readings: [...] }`. Default 1. */
  batch?: number;
  /** Readings the offline buffer holds before the oldest are dropped. Default 10 000. */
  maxBuffer?: number;
  /** Seed and tuning of the sensor model. */
  sensors?: SensorModelOptions;
  listener?: DeviceListener;
}

/** A write that killed the connection this many times is given up on, so one poisonous message cannot loop forever. */
const MAX_ATTEMPTS = 5;

/**
 * One simulated device: its sensors, its `seq` counter, its backlog and its counters. Sends through a {@link Transport};
 * the simulator decides when readings are due.
 */
export class SimDevice implements TransportSink {
  readonly id: string;
  readonly protocol: Protocol;
  readonly sensors: SensorModel;
  private readonly batch: number;
  private readonly maxBuffer: number;
  private listener: DeviceListener;
  private transport: Transport | null = null;
  /** Set by {@link close}: answers still count, but nothing more is written. */
  private closing = false;

  private lastSeq = 0;
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
  };
  private readonly errorCounts: Record<string, number> = {};
  private readonly backlog = new Deque<OutMessage>();
  private backlogReadings = 0;
  private batchBuf: Reading[] = [];
  /** [time, sent + resent] samples covering a little more than the last second. */
  private readonly rateSamples: [number, number][] = [];

  constructor(options: DeviceOptions) {
    this.id = options.id;
    this.protocol = options.protocol;
    this.batch = Math.max(1, Math.floor(options.batch ?? 1));
    this.maxBuffer = options.maxBuffer ?? 10_000;
    this.sensors = new SensorModel(options.id, options.sensors);
    this.listener = options.listener ?? {};
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
    return this.lastSeq;
  }

  connect(timeoutMs: number): Promise<boolean> {
    if (!this.transport) throw new Error(`device ${this.id} has no transport`);
    return this.transport.connect(timeoutMs);
  }

  /** A fresh reading at `ts`, taking the next `seq`. */
  nextReading(ts: number): Reading {
    return { deviceId: this.id, ts, seq: ++this.lastSeq, metrics: { ...this.sensors.sample(ts) } };
  }

  /** Produces one reading due at `ts`; it goes out with the next {@link pump} once its batch is full. */
  produce(ts: number): void {
    this.produced++;
    const r = this.nextReading(ts);
    if (this.batch === 1) {
      this.enqueue({ payload: JSON.stringify(r), count: 1, seq: r.seq!, sentAt: 0, attempts: 0 });
      return;
    }
    this.batchBuf.push(r);
    if (this.batchBuf.length >= this.batch) this.flushBatch();
  }

  /** Turns a partly filled batch into a message (at stop, so no reading is held back). */
  flushBatch(): void {
    if (this.batchBuf.length === 0) return;
    const readings = this.batchBuf;
    this.batchBuf = [];
    this.enqueue({
      payload: JSON.stringify({ readings }),
      count: readings.length,
      seq: readings[readings.length - 1].seq!,
      sentAt: 0,
      attempts: 0,
    });
  }

  /** Writes backlog messages while the transport has room. */
  pump(): void {
    const t = this.transport;
    if (!t || this.closing) return;
    // Bounded by the backlog's size on entry: a message that fails and is requeued synchronously is not retried here.
    for (let n = this.backlog.length; n > 0 && t.writable; n--) {
      const msg = this.backlog.shift()!;
      this.backlogReadings -= msg.count;
      this.write(msg);
    }
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
      else this.enqueue(msg);
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
      buffered: this.backlogReadings + this.batchBuf.length,
      errors: { ...this.errorCounts },
      rate: this.rate(now),
      connects: c.connects,
      seq: this.lastSeq,
    };
  }

  /** Records the write counter for {@link DeviceStats.rate}; called by the scheduler every tick. */
  sampleRate(now: number): void {
    const s = this.rateSamples;
    const last = s[s.length - 1];
    if (last && now - last[0] < 100) return;
    s.push([now, this.counters.sent + this.counters.resent]);
    // Keep the newest sample that is at least a second old, and everything after it.
    while (s.length > 2 && s[1][0] <= now - 1000) s.shift();
  }

  private rate(now: number): number {
    const first = this.rateSamples[0];
    if (!first || now - first[0] < 1) return 0;
    return ((this.counters.sent + this.counters.resent - first[1]) * 1000) / (now - first[0]);
  }

  private enqueue(msg: OutMessage): void {
    this.backlog.push(msg);
    this.backlogReadings += msg.count;
    // Like a real device with bounded memory: the oldest unsent readings go first.
    while (this.backlogReadings > this.maxBuffer && this.backlog.length > 1) {
      const old = this.backlog.shift()!;
      this.backlogReadings -= old.count;
      this.counters.dropped += old.count;
      old.raw?.settle({ error: 'DROPPED' });
    }
  }

  private write(msg: OutMessage): void {
    msg.attempts++;
    msg.sentAt = performance.now();
    if (msg.attempts === 1) this.counters.sent += msg.count;
    else this.counters.resent += msg.count;
    this.counters.pending += msg.count;
    this.transport!.send(msg);
  }

  private countError(code: string, n = 1): void {
    this.errorCounts[code] = (this.errorCounts[code] ?? 0) + n;
  }

  // --- TransportSink ---

  connected(): void {
    this.counters.connects++;
    this.listener.connect?.(this.id);
    this.pump();
  }

  disconnected(reason: string): void {
    this.listener.disconnect?.(this.id, reason);
  }

  answered(msg: OutMessage, outcome: Outcome, raw?: { status?: number; body?: unknown }): void {
    this.counters.pending -= msg.count;
    this.counters.acked += outcome.accepted;
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
  }

  refusedAsync(refusal: Refusal): void {
    this.counters.refused++;
    this.countError(refusal.code);
    this.listener.refused?.({ deviceId: this.id, protocol: this.protocol, ...refusal, count: 1 });
  }

  failed(msgs: OutMessage[], code: string, retry: boolean): void {
    if (msgs.length === 0) return;
    this.countError(code);
    // Back to the front in the original order: unshift the last one first.
    for (let i = msgs.length - 1; i >= 0; i--) {
      const msg = msgs[i];
      this.counters.pending -= msg.count;
      if (retry && !msg.raw && msg.attempts < MAX_ATTEMPTS) {
        this.backlog.unshift(msg);
        this.backlogReadings += msg.count;
      } else {
        this.counters.failed += msg.count;
        msg.raw?.settle({ error: code });
      }
    }
  }

  error(code: string): void {
    this.countError(code);
  }

  drained(): void {
    if (this.backlog.length) this.pump();
  }
}

/** Array-backed double-ended queue: O(1) shift without Array#shift's copying at thousands of messages. */
export class Deque<T> {
  private items: (T | undefined)[] = [];
  private head = 0;

  get length(): number {
    return this.items.length - this.head;
  }

  push(x: T): void {
    this.items.push(x);
  }

  unshift(x: T): void {
    if (this.head > 0) this.items[--this.head] = x;
    else this.items.unshift(x);
  }

  shift(): T | undefined {
    if (this.head >= this.items.length) return undefined;
    const x = this.items[this.head];
    this.items[this.head++] = undefined;
    if (this.head > 1024 && this.head * 2 > this.items.length) {
      this.items = this.items.slice(this.head);
      this.head = 0;
    }
    return x;
  }

  /** Removes and returns everything, oldest first. */
  drain(): T[] {
    const out = this.items.slice(this.head) as T[];
    this.items = [];
    this.head = 0;
    return out;
  }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
