import type { FaultSpec, FaultStats } from './faults';
import type { SensorModelOptions } from './sensors';

export type Protocol = 'mqtt' | 'ws' | 'http';
export const PROTOCOLS: readonly Protocol[] = ['mqtt', 'ws', 'http'];

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

/** Readings by what became of them, per device; the simulator sums them over devices and the CLI prints them. */
export interface Tallies {
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
  /** Successful connections after the first. */
  reconnects: number;
  /** Readings refused with "retry later" (RATE_LIMITED, STORE_UNAVAILABLE, SHUTTING_DOWN) and kept to resend. */
  deferred: number;
}

/** The names of the {@link Tallies}, in the order summaries print them. */
export const TALLY_NAMES = [
  'sent',
  'acked',
  'refused',
  'failed',
  'dropped',
  'resent',
  'pending',
  'buffered',
  'reconnects',
  'deferred',
] as const satisfies readonly (keyof Tallies)[];

// Does not compile while a field of Tallies is missing from TALLY_NAMES.
type UnnamedTally = Exclude<keyof Tallies, (typeof TALLY_NAMES)[number]>;
const _everyTallyNamed: [UnnamedTally] extends [never] ? true : UnnamedTally = true;

/** Every tally at 0. */
export function zeroTallies(): Tallies {
  const t = {} as Tallies;
  for (const k of TALLY_NAMES) t[k] = 0;
  return t;
}

/** Adds `from`'s tallies to `into`; returns `into`. */
export function addTallies<T extends Tallies>(into: T, from: Tallies): T {
  for (const k of TALLY_NAMES) into[k] += from[k];
  return into;
}

export interface DeviceStats extends Tallies {
  id: string;
  protocol: Protocol;
  connected: boolean;
  /** By error code: the gateway's codes for refusals, plus transport codes (CONNECT_FAILED, NO_REPLY, WS_CLOSE_<n>, ...). */
  errors: Record<string, number>;
  /** Readings written per second over the last second. */
  rate: number;
  /** Successful connections, reconnections included. */
  connects: number;
  /** Injected faults and what the gateway answered to them (absent without `faults`). */
  faults?: FaultStats;
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
  /**
   * Keep readings refused with "retry later" (RATE_LIMITED, STORE_UNAVAILABLE, SHUTTING_DOWN) and resend them after
   * `retryAfterMs` (default 1 s), instead of counting them refused. Default false (the benchmarks count them).
   */
  retryLater?: boolean;
  /** Faults to inject (see faults.ts). */
  faults?: FaultSpec;
  /** Seed of the fault decisions when `faults.seed` is not set. Default 1. */
  faultSeed?: number;
  /** Seed and tuning of the sensor model. */
  sensors?: SensorModelOptions;
  listener?: DeviceListener;
}
