import { numberFlag as num, parseFlags, UsageError } from '../args';
import { THRESHOLDS } from './thresholds';

export const SCENARIOS = ['ingest', 'fanout', 'history', 'isolation'] as const;
export type Scenario = (typeof SCENARIOS)[number];

export interface IngestOptions {
  /** Devices per step. */
  devices: number;
  /** Aggregate rates tried, readings/s, in order; a run stops at its first step that is not sustained. */
  rates: number[];
  stepS: number;
  qos: 0 | 1;
  protocols: ('mqtt' | 'ws')[];
  /** Only these runs (`gateway-mqtt`, `aedes-mqtt`, ...); all when empty. */
  runs: string[];
  /** Seconds of unrecorded load per run before the ladder (JIT warm-up). */
  warmupS: number;
  /** When > 0, the gateway over MQTT is run again at its highest sustained rate for this long. */
  sustainS: number;
  maxP99Ms: number;
}

export interface FanoutOptions {
  /** Operator socket counts, ascending; sockets are added level by level. */
  sockets: number[];
  devices: number;
  /** Readings/s per device. */
  ratePerDevice: number;
  windowS: number;
  settleS: number;
}

export interface HistoryOptions {
  /** Days of 1 Hz readings of the big device. */
  days: number;
  /** Other devices in the store, one reading a minute each over the same days. */
  otherDevices: number;
  reps: number;
}

export interface IsolationOptions {
  neighbours: number;
  /** Readings/s per neighbour. */
  rate: number;
  /** The flooder sends `factor` times a neighbour's rate. */
  factor: number;
  windowS: number;
}

export interface BenchOptions {
  scenarios: Scenario[];
  quick: boolean;
  profile: boolean;
  outDir: string;
  updateDocs: boolean;
  mosquitto: boolean;
  /** Simulator tick, ms. */
  tickMs: number;
  /** The gateway's LIVE_TICK_MS (default 10), also used by the relay so both coalesce alike. */
  liveTickMs: number;
  /** Extra environment for every gateway the bench starts (`--gateway-env`), for experiments. */
  gatewayEnv: Record<string, string>;
  ingest: IngestOptions;
  fanout: FanoutOptions;
  history: HistoryOptions;
  isolation: IsolationOptions;
  /** Re-render this results file (JSON of an earlier run) instead of running. */
  reportFrom: string | null;
  /** The command line, for the report. */
  argv: string[];
}

export const USAGE = `Fieldline benchmark: the gateway against its baselines, same load generator, same run.

Usage: npm run bench -- [options]

  --scenario LIST     comma-separated: ${SCENARIOS.join(',')} (default: all)
  --quick             small and short (under a minute): what CI's smoke test runs
  --profile           run the ingest scenario's gateway with --cpu-prof; print its top functions
  --out DIR           results directory (default bench-results)
  --update-docs       write the figures into docs/performance.md (and its chart)
  --report FILE       run nothing: print (and with --update-docs, write) the report of an earlier results JSON
  --no-mosquitto      skip the Mosquitto baseline even when mosquitto is installed
  --rates LIST        ingest: aggregate readings/s per step (default 5000,10000,15000,20000,25000,30000,40000,50000,60000,80000)
  --step-seconds S    ingest: seconds per step (default 5)
  --devices N         ingest: devices per step (default 50)
  --qos 0|1           ingest: MQTT QoS (default 1)
  --runs LIST         ingest: only these runs, e.g. gateway-mqtt,aedes-mqtt (default: all; baselines are skipped
                      when not listed, and their ratios with them)
  --sustain S         ingest: afterwards, hold the gateway over MQTT at the goal rate (${THRESHOLDS.ingest.rate.toLocaleString('en-US')}/s, or its best rate
                      if lower) for S seconds (default 0: skip)
  --max-p99 MS        ingest: a step above this p99 is not sustained (default 1000)
  --sockets LIST      fan-out: operator socket counts (default 100,1000,${THRESHOLDS.fanout.sockets})
  --history-days D    history: days of 1 Hz readings of the big device (default ${THRESHOLDS.history.days})
  --tick-ms MS        simulator tick (default 1): a reading's ts is its scheduled time
  --gateway-env LIST  extra gateway environment, e.g. LIVE_TICK_MS=5,WRITE_BATCH=20000 (the relay follows LIVE_TICK_MS)
  -h, --help          this text`;

function list(text: string, flag: string, min: number): number[] {
  const out = text.split(',').map((s) => Number(s.trim()));
  if (out.length === 0 || out.some((n) => !Number.isFinite(n) || n < min))
    throw new UsageError(`${flag} takes numbers >= ${min} separated by commas, got "${text}"`);
  return out;
}

/** Parses the command line; null for --help. */
export function parseBenchArgs(argv: string[]): BenchOptions | null {
  const values = parseFlags(argv, {
    scenario: { type: 'string' },
    quick: { type: 'boolean' },
    profile: { type: 'boolean' },
    out: { type: 'string' },
    'update-docs': { type: 'boolean' },
    report: { type: 'string' },
    'no-mosquitto': { type: 'boolean' },
    rates: { type: 'string' },
    'step-seconds': { type: 'string' },
    devices: { type: 'string' },
    qos: { type: 'string' },
    runs: { type: 'string' },
    sustain: { type: 'string' },
    'max-p99': { type: 'string' },
    sockets: { type: 'string' },
    'history-days': { type: 'string' },
    'tick-ms': { type: 'string' },
    'gateway-env': { type: 'string' },
    help: { type: 'boolean', short: 'h' },
  });
  if (values.help) return null;
  const quick = values.quick ?? false;
  let scenarios: Scenario[] = [...SCENARIOS];
  if (values.scenario !== undefined) {
    scenarios = values.scenario.split(',').map((s) => s.trim()) as Scenario[];
    const bad = scenarios.find((s) => !SCENARIOS.includes(s));
    if (bad !== undefined || scenarios.length === 0)
      throw new UsageError(`--scenario takes ${SCENARIOS.join(', ')}; got "${values.scenario}"`);
  }
  const qos = num(values.qos, '--qos', { def: 1, min: 0, int: true });
  if (qos !== 0 && qos !== 1) throw new UsageError('--qos must be 0 or 1');
  const rates = values.rates
    ? list(values.rates, '--rates', 1)
    : quick
      ? [1000, 3000]
      : [5000, 10_000, 15_000, 20_000, 25_000, 30_000, 40_000, 50_000, 60_000, 80_000];
  const gatewayEnv: Record<string, string> = {};
  for (const kv of (values['gateway-env'] ?? '').split(',')) {
    if (kv.trim() === '') continue;
    const m = /^([A-Z][A-Z0-9_]*)=(.*)$/.exec(kv.trim());
    if (!m) throw new UsageError(`--gateway-env takes NAME=value pairs separated by commas, got "${kv}"`);
    gatewayEnv[m[1]] = m[2];
  }
  const liveTick = Number(gatewayEnv.LIVE_TICK_MS ?? process.env.LIVE_TICK_MS ?? 10);
  // The full ladder ends where the goals are set, so that a default run judges them.
  const sockets = values.sockets
    ? list(values.sockets, '--sockets', 1)
    : quick
      ? [100]
      : [100, 1000, THRESHOLDS.fanout.sockets];
  return {
    scenarios,
    quick,
    profile: values.profile ?? false,
    outDir: values.out ?? 'bench-results',
    updateDocs: values['update-docs'] ?? false,
    mosquitto: !(values['no-mosquitto'] ?? false),
    tickMs: num(values['tick-ms'], '--tick-ms', { def: 1, min: 1 }),
    liveTickMs: Number.isFinite(liveTick) && liveTick > 0 ? liveTick : 10,
    gatewayEnv,
    ingest: {
      devices: num(values.devices, '--devices', { def: quick ? 20 : 50, min: 1, int: true }),
      rates: [...rates].sort((a, b) => a - b),
      stepS: num(values['step-seconds'], '--step-seconds', { def: quick ? 1 : 5, min: 0.5 }),
      qos,
      protocols: ['mqtt', 'ws'],
      runs: (values.runs ?? '')
        .split(',')
        .map((x) => x.trim())
        .filter(Boolean),
      warmupS: quick ? 0 : 1,
      sustainS: num(values.sustain, '--sustain', { def: 0, min: 0 }),
      maxP99Ms: num(values['max-p99'], '--max-p99', { def: 1000, min: 1 }),
    },
    fanout: {
      sockets: [...sockets].sort((a, b) => a - b),
      devices: quick ? 10 : 50,
      ratePerDevice: 2,
      windowS: quick ? 1.5 : 5,
      settleS: quick ? 0.5 : 2,
    },
    history: {
      days: num(values['history-days'], '--history-days', { def: quick ? 2 : THRESHOLDS.history.days, min: 0.01 }),
      otherDevices: quick ? 4 : 19,
      reps: quick ? 3 : 10,
    },
    isolation: {
      neighbours: quick ? 10 : 50,
      rate: quick ? 20 : 50,
      factor: 10,
      windowS: quick ? 1.5 : 8,
    },
    reportFrom: values.report ?? null,
    argv,
  };
}
