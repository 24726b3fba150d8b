import { THRESHOLDS } from '../thresholds';
import { runStep, type StepResult, type StepSpec } from '../load';
import type { BenchOptions } from '../options';
import { sleep } from '../procs';
import { mosquittoAvailable, startAedes, startGateway, startMosquitto, startRelay, type Target } from '../targets';
import type { BenchContext } from './context';
import { errorMessage } from '@fieldline/contracts';

/** One line of the ingest ladder: a target over one protocol. */
export interface IngestRun {
  id: string;
  target: string;
  protocol: 'mqtt' | 'ws';
  /** What it is compared with (run ids), first = its main baseline. */
  baselines: string[];
  steps: StepResult[];
  /** Highest offered rate of a sustained step, 0 when none. */
  maxSustained: number;
  /** True when it never failed: the real limit lies above the ladder (or the load generator's). */
  capped: boolean;
  /** The step at the rate where the latency goal is set (THRESHOLDS.latency.rate), or the nearest sustained one below. */
  atGoalRate: StepResult | null;
  /** Why the run stopped with an error rather than a measured step (the target died, a request failed). */
  error?: string;
}

export interface IngestResult {
  runs: IngestRun[];
  sustain: StepResult | null;
  /** Why the hold failed with an error (as opposed to not being sustained). */
  sustainError?: string;
  goalRate: number;
  /** Profile file written by the gateway under --profile. */
  profileDir: string | null;
  skipped: string[];
}

const LATENCY_GOAL_RATE = THRESHOLDS.latency.rate;
const SUSTAIN_GOAL_RATE = THRESHOLDS.ingest.rate;

/**
 * Ingest: every target gets the same ladder of rates from the same Simulator, interleaved step by step (gateway,
 * bare brokers, relay at 5k, then all at 10k, ...) so that a burst of load from elsewhere on the machine hits them
 * alike. A run stops at its first step that loses readings, cannot keep up or exceeds the p99 bound.
 */
export async function ingestScenario(o: BenchOptions, ctx: BenchContext): Promise<IngestResult> {
  const io = o.ingest;
  const skipped: string[] = [];
  const targets: Target[] = [];
  const runs: (IngestRun & { t: Target; stopped: boolean })[] = [];
  const profileDir = o.profile ? ctx.profileDir : null;
  try {
    ctx.log('ingest: starting gateway, aedes, relay' + (o.mosquitto && mosquittoAvailable() ? ', mosquitto' : ''));
    // The ladder measures throughput, not the per-device rate limit: devices here send up to 1,600 readings/s each.
    const env = { DEVICE_RATE: '0', ...o.gatewayEnv };
    const gw = await startGateway(profileDir ? { profileDir, env } : { env });
    targets.push(gw);
    const aedes = await startAedes();
    targets.push(aedes);
    let mosquitto: Target | null = null;
    if (!o.mosquitto) skipped.push('mosquitto baseline (--no-mosquitto)');
    else if (!mosquittoAvailable()) skipped.push('mosquitto baseline (mosquitto is not installed)');
    else targets.push((mosquitto = await startMosquitto()));
    const relay = await startRelay(o.liveTickMs);
    targets.push(relay);

    const add = (t: Target, protocol: 'mqtt' | 'ws', baselines: string[]): void => {
      if (!io.protocols.includes(protocol)) return;
      if (io.runs.length && !io.runs.includes(`${t.label}-${protocol}`)) return;
      runs.push({
        id: `${t.label}-${protocol}`,
        target: t.label,
        protocol,
        baselines,
        steps: [],
        maxSustained: 0,
        capped: false,
        atGoalRate: null,
        t,
        stopped: false,
      });
    };
    const brokers = ['aedes-mqtt', ...(mosquitto ? ['mosquitto-mqtt'] : [])];
    add(gw, 'mqtt', [...brokers, 'relay-mqtt']);
    add(gw, 'ws', ['relay-ws']);
    add(aedes, 'mqtt', []);
    if (mosquitto) add(mosquitto, 'mqtt', []);
    add(relay, 'mqtt', brokers);
    add(relay, 'ws', []);

    let stepNo = 0;
    const spec = (protocol: 'mqtt' | 'ws', rate: number, durationS: number): StepSpec => ({
      protocol,
      devices: io.devices,
      rate,
      durationS,
      qos: io.qos,
      prefix: `b${++stepNo}-`,
      tickMs: o.tickMs,
      maxP99Ms: io.maxP99Ms,
    });

    if (io.warmupS > 0) {
      ctx.log(`ingest: warm-up (${io.warmupS} s per run at ${io.rates[0]}/s, not recorded)`);
      for (const r of runs) await runStep(r.t, spec(r.protocol, io.rates[0], io.warmupS), ctx.load1);
    }
    for (const rate of io.rates) {
      for (const r of runs) {
        if (r.stopped) continue;
        await sleep(200);
        let step: StepResult;
        try {
          step = await runStep(r.t, spec(r.protocol, rate, io.stepS), ctx.load1);
        } catch (err) {
          // Keep what was measured: this run stops, the others go on.
          r.error = errorMessage(err);
          r.stopped = true;
          ctx.log(`ingest: ${r.id} at ${rate}/s FAILED: ${r.error}`);
          continue;
        }
        r.steps.push(step);
        ctx.log(
          `ingest: ${r.id.padEnd(15)} ${String(rate).padStart(6)}/s  delivered ${String(step.deliveredRate).padStart(6)}/s  ` +
            `p50 ${fmt(step.latency.p50)}  p99 ${fmt(step.latency.p99)} ms  cpu ${step.cpuPct}%  ` +
            `load ${step.load1}  ${step.sustained ? 'ok' : 'NOT SUSTAINED: ' + step.why.join('; ')}`,
        );
        if (step.sustained) r.maxSustained = rate;
        else r.stopped = true;
      }
      if (runs.every((r) => r.stopped)) break;
    }
    for (const r of runs) {
      r.capped = !r.stopped;
      r.atGoalRate =
        r.steps.find((s) => s.offered === LATENCY_GOAL_RATE) ??
        [...r.steps].reverse().find((s) => s.offered < LATENCY_GOAL_RATE && s.sustained) ??
        null;
    }

    let sustain: StepResult | null = null;
    let sustainError: string | undefined;
    const gwMqtt = runs.find((r) => r.id === 'gateway-mqtt');
    if (io.sustainS > 0 && gwMqtt && gwMqtt.maxSustained > 0) {
      // The goal is a rate held for a minute: hold that rate (a 5 s step's best can lean on buffers a minute cannot).
      const rate = Math.min(gwMqtt.maxSustained, SUSTAIN_GOAL_RATE);
      ctx.log(`ingest: holding gateway-mqtt at ${rate}/s for ${io.sustainS} s`);
      try {
        sustain = await runStep(gw, spec('mqtt', rate, io.sustainS), ctx.load1);
        ctx.log(`ingest: sustain ${sustain.sustained ? 'ok' : 'NOT SUSTAINED: ' + sustain.why.join('; ')}`);
      } catch (err) {
        sustainError = errorMessage(err);
        ctx.log(`ingest: sustain FAILED: ${sustainError}`);
      }
    }
    return {
      runs: runs.map(({ t: _t, stopped: _s, ...r }) => r),
      sustain,
      ...(sustainError !== undefined ? { sustainError } : {}),
      goalRate: LATENCY_GOAL_RATE,
      profileDir,
      skipped,
    };
  } finally {
    for (const t of targets.reverse()) await t.stop();
  }
}

function fmt(n: number): string {
  return Number.isFinite(n) ? n.toFixed(1).padStart(7) : '    n/a';
}
