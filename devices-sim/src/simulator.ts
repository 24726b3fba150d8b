import { EventEmitter } from 'node:events';
import { DEVICE_ID_PATTERN } from '@fieldline/contracts';
import { SimDevice, type TransportFactory } from './device';
import {
  type AckEvent,
  addTallies,
  type DeviceStats,
  PROTOCOLS,
  type Protocol,
  type RefusedEvent,
  type Tallies,
  zeroTallies,
} from './device.types';
import { type CommandBehaviour, CommandResponder, type CommandTally } from './commands';
import { addFaultStats, emptyFaultStats, type FaultSpec, type FaultStats, hasFaults } from './faults';
import type { SensorModelOptions } from './sensors';
import {
  HttpTransport,
  MqttTransport,
  type RawAnswer,
  type RawOptions,
  type Transport,
  WsTransport,
} from './transports';
import type { ReconnectOptions } from '@fieldline/contracts';

export interface SimulatorOptions {
  /** Gateway HTTP base URL (ws and http transports). Default `http://127.0.0.1:3000`. */
  url?: string;
  /** MQTT broker URL (mqtt transport). Default `mqtt://127.0.0.1:1883`. */
  mqttUrl?: string;
  /** Default `mqtt`. */
  protocol?: Protocol;
  /** Number of devices (ignored when `ids` is given). Default 5. */
  devices?: number;
  /** Readings per second per device (may be fractional). Default 1. */
  rate?: number;
  /** MQTT QoS of readings. Default 1. */
  qos?: 0 | 1;
  /** Device ids are `<idPrefix><n>`, n zero-padded to at least 3 digits. Default `sim-`. */
  idPrefix?: string;
  /** Explicit device ids (instead of `devices` and `idPrefix`). */
  ids?: string[];
  /** Seed of the sensor models. Default 1. */
  seed?: number;
  /** Readings per message; above 1 sends `{ readings: [...] }`. Default 1. */
  batch?: number;
  /** Seconds to send for; then sending stops and `done` resolves (call `stop()` to disconnect). Default: until `stop()`. */
  duration?: number;
  /** Device tokens by device id: MQTT username = id and password = token; ws and http `Authorization: Bearer`. */
  tokens?: Record<string, string>;
  /** Scheduler tick. Default 10 ms. */
  tickMs?: number;
  /** How long `start()` waits for devices to connect. Default 10 s. Devices that miss it keep trying. */
  connectTimeoutMs?: number;
  /** How long `stop()` waits for outstanding answers. Default 5 s. */
  stopTimeoutMs?: number;
  /** Delay between two devices' connection attempts at start. Default min(5 ms, 1 s / devices). */
  staggerMs?: number;
  /** Readings a device buffers while it cannot send (or until they are acknowledged); beyond, the oldest are dropped. Default 10 000. */
  maxBuffer?: number;
  /** Reconnect backoff of every transport (full jitter; base 500 ms, cap 30 s, reset after 5 s up). */
  reconnect?: ReconnectOptions;
  /** Keep and resend readings refused with RATE_LIMITED, STORE_UNAVAILABLE or SHUTTING_DOWN. Default false. */
  retryLater?: boolean;
  /** Faults to inject: connection drops, clock skew, out-of-order, duplicates, bursts, malformed messages. */
  faults?: FaultSpec;
  /** Answer commands (MQTT and WebSocket) with this delay, failure and silence; absent: commands are not taken. */
  commands?: CommandBehaviour;
  /** Per-device in-flight window (default per transport: mqtt 1000, ws 1000, http 16). */
  maxInFlight?: number;
  /** Sensor model tuning (spike probability, battery life). */
  sensors?: Omit<SensorModelOptions, 'seed'>;
  /** Replaces the protocol transports, e.g. with a fake in tests. */
  transportFactory?: TransportFactory;
}

/** Tallies are summed over every device. */
export interface SimStats extends Tallies {
  /** Since sending started (0 before `start()` finished). */
  elapsedMs: number;
  running: boolean;
  devices: number;
  connected: number;
  /** Requested aggregate rate, readings/s. */
  targetRate: number;
  /** Readings written per second over the last second. */
  rate: number;
  /** Readings written per second since sending started. */
  avgRate: number;
  /** Totals by code over all devices. */
  errors: Record<string, number>;
  /** Injected faults and the gateway's answers, over all devices (absent without `faults`). */
  faults?: FaultStats;
  /** What the devices' commands came to, over all devices (absent without `commands`). */
  commands?: CommandTally;
  perDevice: DeviceStats[];
}

export interface SimulatorEvents {
  ack: [AckEvent];
  refused: [RefusedEvent];
  connect: [deviceId: string];
  disconnect: [deviceId: string, reason: string];
  /** `duration` elapsed: no more readings are produced. */
  done: [];
}

export const DEFAULT_URL = 'http://127.0.0.1:3000';
export const DEFAULT_MQTT_URL = 'mqtt://127.0.0.1:1883';

/**
 * Simulated devices sending readings to a Fieldline gateway at a steady aggregate rate.
 *
 * One timer tick drives all devices: each tick every device produces the readings it owes since the start
 * (`rate × elapsed − produced`), so late ticks are caught up and the aggregate rate holds at thousands per second.
 */
export class Simulator extends EventEmitter<SimulatorEvents> {
  readonly devices: SimDevice[];
  readonly protocol: Protocol;
  readonly rate: number;
  /** Resolves when `duration` has elapsed or `stop()` was called. */
  readonly done: Promise<void>;

  private readonly opts: SimulatorOptions;
  /** Command handlers by device (kept across reconnects: a resent id gets its first answer). */
  private readonly responders = new Map<string, CommandResponder>();
  private readonly byId = new Map<string, SimDevice>();
  /** Per-device offset in [0, 1) of a reading period, so devices do not all send on the same tick. */
  private readonly phase: number[];
  private timer: NodeJS.Timeout | null = null;
  private t0 = 0;
  private wall0 = 0;
  private endedAt: number | null = null;
  private state: 'new' | 'starting' | 'running' | 'finished' | 'stopped' = 'new';
  private resolveDone!: () => void;

  constructor(options: SimulatorOptions = {}) {
    super();
    this.opts = options;
    this.protocol = options.protocol ?? 'mqtt';
    if (!PROTOCOLS.includes(this.protocol)) throw new Error(`protocol must be one of ${PROTOCOLS.join(', ')}`);
    this.rate = options.rate ?? 1;
    if (!(this.rate >= 0) || !Number.isFinite(this.rate)) throw new Error('rate must be a finite number >= 0');
    if (options.batch !== undefined && !(Number.isInteger(options.batch) && options.batch >= 1)) {
      throw new Error('batch must be an integer >= 1');
    }
    if (options.duration !== undefined && !(options.duration > 0)) throw new Error('duration must be > 0 seconds');
    const ids = options.ids ?? makeIds(options.devices ?? 5, options.idPrefix ?? 'sim-');
    const invalid = ids.find((id) => !DEVICE_ID_PATTERN.test(id));
    if (invalid !== undefined) throw new Error(`invalid device id "${invalid}"`);
    if (new Set(ids).size !== ids.length) throw new Error('device ids must be unique');

    const faults = hasFaults(options.faults) ? options.faults : undefined;
    const listener = {
      ack: (e: AckEvent) => this.emit('ack', e),
      refused: (e: RefusedEvent) => this.emit('refused', e),
      connect: (id: string) => this.emit('connect', id),
      disconnect: (id: string, reason: string) => this.emit('disconnect', id, reason),
    };
    this.devices = ids.map(
      (id) =>
        new SimDevice({
          id,
          protocol: this.protocol,
          batch: options.batch,
          maxBuffer: options.maxBuffer,
          ...(options.retryLater !== undefined ? { retryLater: options.retryLater } : {}),
          ...(faults ? { faults, faultSeed: options.seed ?? 1 } : {}),
          sensors: { ...options.sensors, seed: options.seed ?? 1 },
          listener,
        }),
    );
    for (const d of this.devices) this.byId.set(d.id, d);
    this.phase = this.devices.map((_, i) => i / this.devices.length);
    this.done = new Promise((resolve) => (this.resolveDone = resolve));
  }

  device(id: string): SimDevice | undefined {
    return this.byId.get(id);
  }

  /** Connects every device (staggered), then starts sending. Resolves once all are connected or the timeout passed. */
  async start(): Promise<void> {
    if (this.state !== 'new') throw new Error('simulator already started');
    this.state = 'starting';
    const factory = this.opts.transportFactory ?? ((d: SimDevice) => this.createTransport(d));
    for (const d of this.devices) d.attach(factory(d));
    const timeout = this.opts.connectTimeoutMs ?? 10_000;
    const stagger = this.opts.staggerMs ?? Math.min(5, 1000 / this.devices.length);
    const connecting: Promise<boolean>[] = [];
    for (let i = 0; i < this.devices.length; i++) {
      if ((this.state as string) === 'stopped') break;
      if (i > 0 && stagger > 0) await sleep(stagger);
      connecting.push(this.devices[i].connect(timeout));
    }
    await Promise.all(connecting);
    if ((this.state as string) === 'stopped') return;
    this.state = 'running';
    this.t0 = performance.now();
    this.wall0 = Date.now();
    this.timer = setInterval(() => this.tick(), this.opts.tickMs ?? 10);
  }

  /** Stops sending, waits for outstanding answers (up to `stopTimeoutMs`), then disconnects every device. */
  async stop(): Promise<void> {
    if (this.state === 'stopped') return;
    if (this.state === 'running') this.tick();
    this.finish();
    this.state = 'stopped';
    const deadline = performance.now() + (this.opts.stopTimeoutMs ?? 5000);
    await Promise.all(this.devices.map((d) => d.close(deadline)));
  }

  /**
   * After `done`, keeps writing until every device's readings are all acknowledged (nothing buffered, nothing
   * pending), e.g. after injected drops; resolves true when drained, false at the timeout. Call `stop()` after.
   */
  async drain(timeoutMs: number): Promise<boolean> {
    const deadline = performance.now() + timeoutMs;
    for (;;) {
      let left = 0;
      for (const d of this.devices) {
        d.flushBatch();
        d.pump();
        left += d.outstanding;
      }
      if (left === 0) return true;
      if (performance.now() >= deadline) return false;
      await sleep(10);
    }
  }

  /** Sends a payload as is from one device (malformed messages in tests). See {@link SimDevice.sendRaw}. */
  sendRaw(deviceId: string, payload: string | Buffer, options?: RawOptions): Promise<RawAnswer> {
    const d = this.byId.get(deviceId);
    if (!d) throw new Error(`no device "${deviceId}"`);
    return d.sendRaw(payload, options);
  }

  /** Every `(deviceId, seq)` the gateway acknowledged, by device, as inclusive ranges `[from, to]`. */
  ackedSeqs(): Record<string, [number, number][]> {
    const out: Record<string, [number, number][]> = {};
    for (const d of this.devices) out[d.id] = d.ackedSeqs();
    return out;
  }

  /** Cuts one device's connection (or every device's) as a network failure would; they reconnect with backoff. */
  dropConnections(deviceId?: string): void {
    for (const d of deviceId === undefined ? this.devices : [this.byId.get(deviceId)]) d?.dropConnection();
  }

  stats(): SimStats {
    const now = performance.now();
    const perDevice = this.devices.map((d) => d.stats(now));
    const s: SimStats = {
      elapsedMs: this.elapsed(now),
      running: this.state === 'running',
      devices: this.devices.length,
      connected: 0,
      targetRate: this.rate * this.devices.length,
      rate: 0,
      avgRate: 0,
      ...zeroTallies(),
      errors: {},
      perDevice,
    };
    if (this.devices[0]?.faults) s.faults = emptyFaultStats();
    if (this.responders.size > 0) {
      const t: CommandTally = { received: 0, repeated: 0, succeeded: 0, failed: 0, silent: 0 };
      for (const r of this.responders.values())
        for (const k of Object.keys(t) as (keyof CommandTally)[]) t[k] += r.tally[k];
      s.commands = t;
    }
    for (const d of perDevice) {
      if (d.connected) s.connected++;
      s.rate += d.rate;
      addTallies(s, d);
      if (s.faults && d.faults) addFaultStats(s.faults, d.faults);
      for (const code in d.errors) s.errors[code] = (s.errors[code] ?? 0) + d.errors[code];
    }
    if (s.elapsedMs > 0) s.avgRate = (s.sent * 1000) / s.elapsedMs;
    return s;
  }

  private elapsed(now: number): number {
    if (this.t0 === 0) return 0;
    return (this.endedAt ?? now) - this.t0;
  }

  private tick(): void {
    if (this.state !== 'running') return;
    const now = performance.now();
    let elapsed = now - this.t0;
    const durationMs = this.opts.duration !== undefined ? this.opts.duration * 1000 : Infinity;
    const finished = elapsed >= durationMs;
    if (finished) elapsed = durationMs;
    const rate = this.rate;
    const periodMs = rate > 0 ? 1000 / rate : 0;
    for (let i = 0; i < this.devices.length; i++) {
      const d = this.devices[i];
      const phase = this.phase[i];
      // Reading j (1-based) of this device is due at (j − phase) periods after the start.
      const due = rate > 0 ? Math.floor((rate * elapsed) / 1000 + phase) : 0;
      for (let j = d.produced + 1; j <= due; j++) d.produce(Math.round(this.wall0 + (j - phase) * periodMs));
      if (finished) d.flushBatch();
      if (d.faults?.dropDue(now)) d.dropConnection();
      d.pump();
      d.sampleRate(now);
    }
    if (finished) {
      this.endedAt = this.t0 + durationMs;
      this.finish();
      this.state = 'finished';
      this.emit('done');
    }
  }

  private finish(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    if (this.state === 'running' && this.endedAt === null) this.endedAt = performance.now();
    this.resolveDone();
  }

  private createTransport(d: SimDevice): Transport {
    const o = this.opts;
    let commands: CommandResponder | undefined;
    if (o.commands && this.protocol !== 'http') {
      commands = this.responders.get(d.id) ?? new CommandResponder(d.id, { seed: o.seed ?? 1, ...o.commands });
      this.responders.set(d.id, commands);
    }
    const token = o.tokens?.[d.id];
    const tuning = {
      ...(o.maxInFlight ? { maxInFlight: o.maxInFlight } : {}),
      ...(o.reconnect ? { reconnect: o.reconnect } : {}),
      ...(commands ? { commands } : {}),
    };
    const gateway = { url: o.url ?? DEFAULT_URL, ...(token !== undefined ? { token } : {}), ...tuning };
    switch (this.protocol) {
      case 'mqtt':
        return new MqttTransport(d, {
          url: o.mqttUrl ?? DEFAULT_MQTT_URL,
          qos: o.qos ?? 1,
          ...(token !== undefined ? { username: d.id, password: token } : {}),
          ...tuning,
        });
      case 'ws':
        return new WsTransport(d, gateway);
      case 'http':
        return new HttpTransport(d, gateway);
    }
  }
}

/** `sim-001`, `sim-002`, ...: zero-padded so ids sort in creation order. */
export function makeIds(n: number, prefix: string): string[] {
  if (!Number.isInteger(n) || n < 1) throw new Error('devices must be an integer >= 1');
  const width = Math.max(3, String(n).length);
  return Array.from({ length: n }, (_, i) => `${prefix}${String(i + 1).padStart(width, '0')}`);
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
