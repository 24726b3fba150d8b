import { type Protocol } from '../device.types';
import { makeIds, Simulator } from '../simulator';
import { LatencyRecorder, type LatencySummary } from './latency';
import type { ProbeReport } from './probe';
import { cpuBetween, procSnapshot, RssSampler, sleep } from './procs';
import { MqttReceiver, OperatorPool, type Receiver } from './receivers';
import type { Target, TargetCounters } from './targets';
import { errorMessage } from '@fieldline/contracts';

/** One load step: `devices` simulated devices sending `rate` readings/s in total for `durationS`. */
export interface StepSpec {
  protocol: Extract<Protocol, 'mqtt' | 'ws'>;
  devices: number;
  /** Aggregate readings per second. */
  rate: number;
  durationS: number;
  qos: 0 | 1;
  /** Device id prefix; unique per step, so that `seq` never restarts under an id the target has seen. */
  prefix: string;
  /** Simulator tick: the `ts` of a reading is its scheduled time, so latency includes up to one tick. */
  tickMs: number;
  /** A step whose p99 exceeds this is not sustained (the target is queueing, not keeping up). */
  maxP99Ms: number;
}

/** What one step measured. Rates are per second of the sending window. */
export interface StepResult {
  target: string;
  protocol: string;
  devices: number;
  /** Offered aggregate rate, readings/s. */
  offered: number;
  durationS: number;
  sent: number;
  acked: number;
  refused: number;
  failed: number;
  dropped: number;
  /** Produced but never written by the devices (backpressure: the target did not keep up). */
  unsent: number;
  /** Readings written per second. */
  achieved: number;
  /** Target counters over the step (null where the target does not count). */
  accepted: number | null;
  stored: number | null;
  deliveredByTarget: number | null;
  /** Readings that reached the receiver (operator sockets, or the plain subscriber). */
  delivered: number;
  /** Written by a device but missing at the receiver (or, for the gateway, missing in the store). */
  lost: number;
  acceptedRate: number | null;
  storedRate: number | null;
  deliveredRate: number;
  /** Device → operator (or subscriber): the reading's `ts` against the receiver's clock. */
  latency: LatencySummary;
  /** Device write → its answer (PUBACK for MQTT QoS 1, the ack frame for WebSocket). */
  ack: LatencySummary;
  /** Target process over the sending window: 100 = one core. */
  cpuPct: number;
  /** Peak RSS of the target during the step, MB. */
  rssMB: number;
  /** Readings accepted (or delivered, for bare brokers) per CPU-second of the target, sending plus draining. */
  readingsPerCoreS: number;
  /** The harness (load generator and receivers) over the sending window: near 100 means it may be the limit. */
  harnessCpuPct: number;
  load1: number;
  sustained: boolean;
  /** Why it was not sustained. */
  why: string[];
  /** The devices' error counts by code (refusals and transport errors). */
  errors: Record<string, number>;
  /** The target's event-loop delay and GC pauses over the sending window (Node targets). */
  loop: ProbeReport | null;
  /** Seconds the whole step took: connecting, sending, draining, disconnecting. */
  wallS: number;
}

const round = (n: number, d = 0): number => (Number.isFinite(n) ? Math.round(n * 10 ** d) / 10 ** d : n);
const diff = (a: number | undefined, b: number | undefined): number | null =>
  a === undefined || b === undefined ? null : a - b;

/** A receiver for `target`: one operator socket subscribed to every device, or a plain MQTT subscriber. */
export async function receiverFor(target: Target, ids: readonly string[], prefix: string): Promise<Receiver> {
  if (target.httpUrl === null) return MqttReceiver.connect(target.mqttUrl, prefix);
  const auth = await target.credentials.operatorAuth(target.httpUrl);
  const pool = new OperatorPool({ url: target.httpUrl, ...(auth ? { auth } : {}) });
  await pool.add(1, () => ids);
  return pool;
}

/** Waits until `done()` holds, or nothing moved for `idleMs`, or `maxMs` passed. */
export async function settle(
  done: () => Promise<boolean>,
  progress: () => Promise<number>,
  idleMs = 2000,
  maxMs = 30_000,
): Promise<void> {
  const deadline = performance.now() + maxMs;
  let last = await progress();
  let lastMove = performance.now();
  while (performance.now() < deadline) {
    if (await done()) return;
    await sleep(100);
    const p = await progress();
    if (p !== last) {
      last = p;
      lastMove = performance.now();
    } else if (performance.now() - lastMove > idleMs) return;
  }
}

/** Runs one step against a target and measures it; an error names the target and, if it died, how. */
export async function runStep(target: Target, spec: StepSpec, load1: () => number): Promise<StepResult> {
  try {
    return await measureStep(target, spec, load1);
  } catch (err) {
    const exited = target.exited();
    throw new Error(
      `${target.label} at ${spec.rate}/s over ${spec.protocol}: ${errorMessage(err)}` + (exited ? `\n${exited}` : ''),
    );
  }
}

async function measureStep(target: Target, spec: StepSpec, load1: () => number): Promise<StepResult> {
  const w0 = performance.now();
  const ids = makeIds(spec.devices, spec.prefix);
  const url = target.httpUrl ?? 'http://127.0.0.1:1';
  const tokens = await target.credentials.deviceTokens(url, ids);
  const receiver = await receiverFor(target, ids, spec.prefix);
  const before: TargetCounters = await target.counters();
  const ack = new LatencyRecorder();
  const sim = new Simulator({
    ids,
    protocol: spec.protocol,
    rate: spec.rate / spec.devices,
    duration: spec.durationS,
    qos: spec.qos,
    url,
    mqttUrl: target.mqttUrl,
    tickMs: spec.tickMs,
    connectTimeoutMs: 30_000,
    stopTimeoutMs: 10_000,
    ...(tokens ? { tokens } : {}),
  });
  sim.on('ack', (e) => ack.record(e.latencyMs));
  const rss = new RssSampler(target.pid);
  await sim.start();
  target.probe?.reset();
  const cpu0 = procSnapshot(target.pid);
  const h0 = process.cpuUsage();
  const t0 = performance.now();
  rss.start();
  await sim.done;
  const cpu1 = procSnapshot(target.pid);
  const loop = (await target.probe?.read()) ?? null;
  const harnessS = (() => {
    const u = process.cpuUsage(h0);
    return (u.user + u.system) / 1e6;
  })();
  const windowS = (performance.now() - t0) / 1000;
  await sim.stop();
  const stats = sim.stats();
  const isGateway = target.kind === 'gateway';
  // Drain: the receiver has every reading written, and (gateway) the write buffer is empty.
  await settle(
    async () => {
      if (receiver.readings < stats.sent) return false;
      if (!isGateway) return true;
      const c = await target.counters();
      return c.pending === 0 && (c.stored ?? 0) - (before.stored ?? 0) >= (c.accepted ?? 0) - (before.accepted ?? 0);
    },
    async () => receiver.readings + (isGateway ? ((await target.counters()).stored ?? 0) : 0),
  );
  const cpu2 = procSnapshot(target.pid);
  rss.stop();
  const after = await target.counters();
  await receiver.close();

  const accepted = diff(after.accepted, before.accepted);
  const stored = diff(after.stored, before.stored);
  const deliveredByTarget = diff(after.delivered, before.delivered);
  const delivered = receiver.readings;
  const lost = Math.max(0, stats.sent - delivered, stored === null ? 0 : stats.sent - stored);
  const produced = Math.round(spec.rate * spec.durationS);
  const unsent = Math.max(0, produced - stats.sent);
  const latency = receiver.latency.summary();
  const whole = cpuBetween(cpu0, cpu2);
  const handled = accepted ?? delivered;
  const harnessCpuPct = (harnessS / windowS) * 100;
  const why: string[] = [];
  const neverConnected = stats.perDevice.filter((d) => d.connects === 0).length;
  if (neverConnected) why.push(`${neverConnected} devices never connected`);
  if (stats.refused) why.push(`${stats.refused} refused (${Object.keys(stats.errors).join(', ')})`);
  if (stats.failed + stats.dropped) why.push(`${stats.failed + stats.dropped} failed or dropped by devices`);
  if (lost) why.push(`${lost} lost`);
  if (unsent > 0.02 * produced) why.push(`devices held back ${unsent} readings (target too slow to answer)`);
  if (latency.p99 > spec.maxP99Ms) why.push(`p99 ${Math.round(latency.p99)} ms > ${spec.maxP99Ms} ms`);
  if (why.length && harnessCpuPct > 90)
    why.push(`harness at ${round(harnessCpuPct)}% CPU: may be load-generator bound`);
  return {
    target: target.label,
    protocol: spec.protocol,
    devices: spec.devices,
    offered: spec.rate,
    durationS: spec.durationS,
    sent: stats.sent,
    acked: stats.acked,
    refused: stats.refused,
    failed: stats.failed,
    dropped: stats.dropped,
    unsent,
    achieved: round(stats.sent / spec.durationS),
    accepted,
    stored,
    deliveredByTarget,
    delivered,
    lost,
    acceptedRate: accepted === null ? null : round(accepted / spec.durationS),
    storedRate: stored === null ? null : round(stored / spec.durationS),
    deliveredRate: round(delivered / spec.durationS),
    latency,
    ack: ack.summary(),
    cpuPct: round(cpuBetween(cpu0, cpu1).cpuPct, 1),
    rssMB: round(rss.peak / 2 ** 20, 1),
    readingsPerCoreS: round(handled / whole.cpuS),
    harnessCpuPct: round(harnessCpuPct, 1),
    load1: load1(),
    sustained: why.length === 0,
    why,
    errors: stats.errors,
    loop,
    wallS: round((performance.now() - w0) / 1000, 1),
  };
}
