import { makeIds, Simulator } from '../../simulator';
import type { LatencySummary } from '../latency';
import type { BenchOptions } from '../options';
import type { ProbeReport } from '../probe';
import { cpuBetween, procSnapshot, sleep } from '../procs';
import { OperatorPool } from '../receivers';
import { startGateway, startRelay, type Target } from '../targets';
import type { BenchContext } from './context';
import { errorMessage } from '@fieldline/contracts';

/** One socket count on one target. */
export interface FanoutLevel {
  sockets: number;
  /** `readings` events received per second, over all sockets. */
  framesPerS: number;
  /** Readings received per second, over all sockets. */
  readingsPerS: number;
  /** What full delivery would be: every socket gets every reading of the device it watches. */
  expectedReadingsPerS: number;
  /** readingsPerS / expectedReadingsPerS. */
  deliveredShare: number;
  latency: LatencySummary;
  cpuPct: number;
  rssMB: number;
  /** (RSS with the sockets − RSS before any socket) / sockets. */
  kbPerSocket: number;
  /** The same from the JS heap after a full GC (null without the probe): what the sockets keep alive. */
  heapKbPerSocket: number | null;
  /** Seconds to connect and subscribe the sockets added at this level. */
  connectS: number;
  refusedSubscriptions: number;
  loop: ProbeReport | null;
  load1: number;
}

export interface FanoutRun {
  target: string;
  devices: number;
  ratePerDevice: number;
  /** RSS with the devices sending and no operator socket. */
  baseRssMB: number;
  /** JS heap after a full GC, same moment. */
  baseHeapMB: number | null;
  levels: FanoutLevel[];
  error?: string;
}

export interface FanoutResult {
  runs: FanoutRun[];
}

const round = (n: number, d = 0): number => (Number.isFinite(n) ? Math.round(n * 10 ** d) / 10 ** d : n);

/** Median RSS over a few samples: one sample can catch a GC half-way. */
async function rssOf(pid: number): Promise<number> {
  const v: number[] = [];
  for (let i = 0; i < 5; i++) {
    v.push(procSnapshot(pid)?.rssBytes ?? NaN);
    await sleep(100);
  }
  v.sort((a, b) => a - b);
  return v[2];
}

/**
 * Fan-out: D devices send at a steady low rate while operator sockets are added level by level (socket i watches
 * device i mod D); at each level, frames and readings delivered per second, latency, CPU and memory per socket.
 * The gateway first, then the bare relay, with the same devices, rates and sockets.
 */
export async function fanoutScenario(o: BenchOptions, ctx: BenchContext): Promise<FanoutResult> {
  const f = o.fanout;
  const runs: FanoutRun[] = [];
  for (const kind of ['gateway', 'relay'] as const) {
    ctx.log(`fan-out: starting ${kind}`);
    const target: Target =
      kind === 'gateway' ? await startGateway({ env: o.gatewayEnv }) : await startRelay(o.liveTickMs);
    const ids = makeIds(f.devices, `fo-${kind}-`);
    const run: FanoutRun = {
      target: target.label,
      devices: f.devices,
      ratePerDevice: f.ratePerDevice,
      baseRssMB: 0,
      baseHeapMB: null,
      levels: [],
    };
    runs.push(run);
    let sim: Simulator | null = null;
    let pool: OperatorPool | null = null;
    try {
      const httpUrl = target.httpUrl!;
      const tokens = await target.credentials.deviceTokens(httpUrl, ids);
      sim = new Simulator({
        ids,
        protocol: 'mqtt',
        rate: f.ratePerDevice,
        qos: 1,
        mqttUrl: target.mqttUrl,
        url: httpUrl,
        tickMs: o.tickMs,
        ...(tokens ? { tokens } : {}),
      });
      await sim.start();
      await sleep(f.settleS * 1000);
      const baseHeap = (await target.probe?.memory())?.heapUsed ?? null;
      const base = await rssOf(target.pid);
      run.baseRssMB = round(base / 2 ** 20, 1);
      run.baseHeapMB = baseHeap === null ? null : round(baseHeap / 2 ** 20, 1);
      const auth = await target.credentials.operatorAuth(httpUrl);
      pool = new OperatorPool({ url: httpUrl, ...(auth ? { auth } : {}) });
      for (const level of f.sockets) {
        const t0 = performance.now();
        await pool.add(level - pool.sockets.length, (i) => [ids[i % ids.length]]);
        const connectS = (performance.now() - t0) / 1000;
        await sleep(f.settleS * 1000);
        const heap = (await target.probe?.memory())?.heapUsed ?? null;
        const rss = await rssOf(target.pid);
        pool.resetCounts();
        target.probe?.reset();
        const c0 = procSnapshot(target.pid);
        const w0 = performance.now();
        await sleep(f.windowS * 1000);
        const windowS = (performance.now() - w0) / 1000;
        const c1 = procSnapshot(target.pid);
        const frames = pool.frames;
        const readings = pool.readings;
        const latency = pool.latency.summary();
        const loop = (await target.probe?.read()) ?? null;
        const expected = level * f.ratePerDevice;
        const r: FanoutLevel = {
          sockets: level,
          framesPerS: round(frames / windowS),
          readingsPerS: round(readings / windowS),
          expectedReadingsPerS: expected,
          deliveredShare: round(readings / windowS / expected, 3),
          latency,
          cpuPct: round(cpuBetween(c0, c1).cpuPct, 1),
          rssMB: round(rss / 2 ** 20, 1),
          kbPerSocket: round((rss - base) / level / 1024, 1),
          heapKbPerSocket: heap === null || baseHeap === null ? null : round((heap - baseHeap) / level / 1024, 1),
          connectS: round(connectS, 1),
          refusedSubscriptions: pool.refusedSubscriptions,
          loop,
          load1: ctx.load1(),
        };
        run.levels.push(r);
        ctx.log(
          `fan-out: ${kind.padEnd(8)} ${String(level).padStart(5)} sockets  ${r.framesPerS} frames/s  ` +
            `share ${r.deliveredShare}  p50 ${latency.p50} p99 ${latency.p99} ms  ${r.kbPerSocket} KB/socket ` +
            `(heap ${r.heapKbPerSocket ?? '–'})  ` +
            `cpu ${r.cpuPct}%  load ${r.load1}`,
        );
      }
    } catch (err) {
      run.error = errorMessage(err);
      ctx.log(`fan-out: ${kind} failed: ${run.error}`);
    } finally {
      await pool?.close();
      await sim?.stop();
      await target.stop();
    }
  }
  return { runs };
}
