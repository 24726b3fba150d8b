import { makeIds, Simulator } from '../../simulator';
import { LatencyRecorder, type LatencySummary } from '../latency';
import { settle } from '../load';
import type { BenchOptions } from '../options';
import type { ProbeReport } from '../probe';
import { cpuBetween, procSnapshot, sleep } from '../procs';
import { OperatorPool } from '../receivers';
import { startGateway, type Target } from '../targets';
import type { BenchContext } from './context';

/** The neighbours (and, in the second phase, the flooder) over one window. */
export interface IsolationPhase {
  name: 'alone' | 'with flooder';
  neighbours: {
    sent: number;
    delivered: number;
    lost: number;
    refused: number;
    latency: LatencySummary;
    ack: LatencySummary;
  };
  flooder: { offered: number; sent: number; delivered: number; refused: number; errors: Record<string, number> } | null;
  cpuPct: number;
  loop: ProbeReport | null;
  load1: number;
}

export interface IsolationResult {
  neighbours: number;
  ratePerNeighbour: number;
  flooderRate: number;
  windowS: number;
  phases: IsolationPhase[];
}

const round = (n: number, d = 0): number => (Number.isFinite(n) ? Math.round(n * 10 ** d) / 10 ** d : n);

/**
 * Isolation: neighbours send at a steady rate, first alone (the baseline), then beside one device that floods at
 * `factor` times a neighbour's rate. Each phase uses fresh device ids. One operator socket watches the neighbours,
 * another the flooder, so the flood costs the gateway its full path (validation, storage, fan-out).
 */
export async function isolationScenario(o: BenchOptions, ctx: BenchContext): Promise<IsolationResult> {
  const is = o.isolation;
  const flooderRate = is.rate * is.factor;
  const result: IsolationResult = {
    neighbours: is.neighbours,
    ratePerNeighbour: is.rate,
    flooderRate,
    windowS: is.windowS,
    phases: [],
  };
  ctx.log('isolation: starting gateway');
  // The gateway's own per-device limits stay as configured: they are what isolates neighbours.
  const gw = await startGateway({ env: o.gatewayEnv });
  try {
    let n = 0;
    for (const name of ['alone', 'with flooder'] as const) {
      await sleep(500);
      result.phases.push(await phase(gw, name, `iso${++n}`, o, flooderRate, ctx));
      const p = result.phases[result.phases.length - 1];
      ctx.log(
        `isolation: ${name.padEnd(12)} neighbours p50 ${p.neighbours.latency.p50} p99 ${p.neighbours.latency.p99} ms, ` +
          `lost ${p.neighbours.lost}` +
          (p.flooder
            ? `; flooder ${p.flooder.sent} sent, ${p.flooder.delivered} delivered, ${p.flooder.refused} refused`
            : '') +
          `  cpu ${p.cpuPct}%  load ${p.load1}`,
      );
    }
  } finally {
    await gw.stop();
  }
  return result;
}

async function phase(
  gw: Target,
  name: IsolationPhase['name'],
  prefix: string,
  o: BenchOptions,
  flooderRate: number,
  ctx: BenchContext,
): Promise<IsolationPhase> {
  const is = o.isolation;
  const url = gw.httpUrl!;
  const ids = makeIds(is.neighbours, `${prefix}-n-`);
  const floodIds = name === 'with flooder' ? [`${prefix}-flood`] : [];
  const tokens = await gw.credentials.deviceTokens(url, [...ids, ...floodIds]);
  const auth = await gw.credentials.operatorAuth(url);
  const watchers = new OperatorPool({ url, ...(auth ? { auth } : {}) });
  await watchers.add(1, () => ids);
  const floodWatcher = new OperatorPool({ url, ...(auth ? { auth } : {}) });
  if (floodIds.length) await floodWatcher.add(1, () => floodIds);
  const common = {
    protocol: 'mqtt' as const,
    qos: 1 as const,
    mqttUrl: gw.mqttUrl,
    url,
    tickMs: o.tickMs,
    duration: is.windowS,
  };
  const neighbours = new Simulator({ ...common, ids, rate: is.rate, ...(tokens ? { tokens } : {}) });
  const flooder = floodIds.length
    ? new Simulator({ ...common, ids: floodIds, rate: flooderRate, ...(tokens ? { tokens } : {}) })
    : null;
  const ack = new LatencyRecorder();
  neighbours.on('ack', (e) => ack.record(e.latencyMs));
  await Promise.all([neighbours.start(), flooder?.start()]);
  gw.probe?.reset();
  const c0 = procSnapshot(gw.pid);
  await Promise.all([neighbours.done, flooder?.done]);
  const c1 = procSnapshot(gw.pid);
  const loop = (await gw.probe?.read()) ?? null;
  await Promise.all([neighbours.stop(), flooder?.stop()]);
  const ns = neighbours.stats();
  const fs = flooder?.stats() ?? null;
  await settle(
    () => Promise.resolve(watchers.readings >= ns.acked && (!fs || floodWatcher.readings >= fs.acked)),
    () => Promise.resolve(watchers.readings + floodWatcher.readings),
  );
  const out: IsolationPhase = {
    name,
    neighbours: {
      sent: ns.sent,
      delivered: watchers.readings,
      lost: Math.max(0, ns.sent - ns.refused - watchers.readings),
      refused: ns.refused,
      latency: watchers.latency.summary(),
      ack: ack.summary(),
    },
    flooder: fs
      ? {
          offered: flooderRate,
          sent: fs.sent,
          delivered: floodWatcher.readings,
          refused: fs.refused,
          errors: fs.errors,
        }
      : null,
    cpuPct: round(cpuBetween(c0, c1).cpuPct, 1),
    loop,
    load1: ctx.load1(),
  };
  await watchers.close();
  await floodWatcher.close();
  return out;
}
