import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { io, type Socket } from 'socket.io-client';
import {
  type HistoryQuery,
  type HistoryResponse,
  Namespace,
  type Reading,
  readingsPath,
  type SubscribeAck,
  TelemetryEvent,
} from '@fieldline/contracts';
import { SensorModel } from '../../sensors';
import type { BenchOptions } from '../options';
import { HISTORY_POINTS } from '../thresholds';
import { repoRoot } from '../procs';
import { startGateway } from '../targets';
import type { BenchContext } from './context';

/** The part of the gateway's DuckDbStore the preload and the baseline use (loaded from dist at run time). */
interface Store {
  init(): Promise<void>;
  write(readings: readonly Reading[]): Promise<void>;
  history(q: HistoryQuery): Promise<HistoryResponse>;
  since(deviceId: string, since: number, limit: number): Promise<Reading[]>;
  close(): Promise<void>;
}

/** Latencies of one query repeated: the first run (cold) apart from the rest (warm). */
export interface QueryTiming {
  name: string;
  /** Points (history) or readings (backfill) in one answer. */
  size: number;
  coldMs: number;
  p50Ms: number;
  maxMs: number;
  /** The same query on the store directly, in the harness: what the gateway adds is the difference. */
  direct: { coldMs: number; p50Ms: number; maxMs: number };
}

export interface HistoryResult {
  bigDevice: string;
  readingsBig: number;
  readingsOthers: number;
  rows: number;
  preloadS: number;
  /** Seconds from starting the gateway on the preloaded store to /health answering 200. */
  gatewayStartS: number;
  queries: QueryTiming[];
  error?: string;
}

const DAY_MS = 86_400_000;
const BIG = 'hist-big';
const round = (n: number, d = 1): number => Math.round(n * 10 ** d) / 10 ** d;

/** A bucket width the history endpoint accepts (`2592s`, `172800ms`, ...) for exactly `points` buckets over `spanMs`. */
export function bucketParam(spanMs: number, points: number): { text: string; ms: number } {
  const ms = Math.ceil(spanMs / points);
  if (ms % 1000 === 0 && ms / 1000 < 1e6) return { text: `${ms / 1000}s`, ms };
  if (ms < 1e6) return { text: `${ms}ms`, ms };
  const s = Math.ceil(ms / 1000);
  return { text: `${s}s`, ms: s * 1000 };
}

async function timed<T>(fn: () => Promise<T>): Promise<[number, T]> {
  const t0 = performance.now();
  const v = await fn();
  return [performance.now() - t0, v];
}

async function repeat<T>(
  reps: number,
  fn: () => Promise<T>,
): Promise<{ coldMs: number; p50Ms: number; maxMs: number; last: T }> {
  const [cold, first] = await timed(fn);
  const warm: number[] = [];
  let last = first;
  for (let i = 0; i < reps; i++) {
    const [ms, v] = await timed(fn);
    warm.push(ms);
    last = v;
  }
  warm.sort((a, b) => a - b);
  return {
    coldMs: round(cold),
    p50Ms: round(warm[Math.floor(warm.length / 2)] ?? cold),
    maxMs: round(warm[warm.length - 1] ?? cold),
    last,
  };
}

/**
 * History: a DuckDB store holding `days` of 1 Hz readings for one device (30 days = 2.6M readings, 7.8M rows) and a
 * reading a minute for other devices is written directly with the gateway's DuckDbStore in large batches, the same
 * queries are timed on it in the harness (the baseline), then the gateway is started on it and the queries are timed
 * through REST (aggregate of 1,000 points) and Socket.IO (`since` backfill).
 */
export async function historyScenario(o: BenchOptions, ctx: BenchContext): Promise<HistoryResult> {
  const h = o.history;
  const dataDir = mkdtempSync(join(tmpdir(), 'fieldline-bench-history-'));
  try {
    const storeModule = join(repoRoot(), 'dist', 'apps', 'gateway', 'src', 'storage', 'duckdb.store.js');
    const { DuckDbStore } = (await import(storeModule)) as { DuckDbStore: new (o: { path: string }) => Store };
    const store = new DuckDbStore({ path: join(dataDir, 'fieldline.duckdb') });
    await store.init();

    // Aligned so that the aggregate over the whole span is exactly HISTORY_POINTS buckets, each holding readings.
    const spanMs = Math.round((h.days * DAY_MS) / 1000) * 1000;
    const bucket = bucketParam(spanMs, HISTORY_POINTS);
    const to = Math.floor((Date.now() - 1000) / bucket.ms) * bucket.ms;
    const end = to - 1000;
    const start = end - spanMs;
    ctx.log(`history: preloading ${h.days} days at 1 Hz for ${BIG} and ${h.otherDevices} other devices at 1/min`);
    const t0 = performance.now();
    const BATCH = 100_000;
    let batch: Reading[] = [];
    const flush = async (): Promise<void> => {
      if (batch.length) await store.write(batch);
      batch = [];
    };
    // In time order, devices interleaved, as live ingest would have written them: each row group holds every device.
    let readingsBig = 0;
    let readingsOthers = 0;
    const sensors = new SensorModel(BIG);
    const others = Array.from({ length: h.otherDevices }, (_, i) => {
      const id = `hist-o-${String(i + 1).padStart(3, '0')}`;
      return { id, sensors: new SensorModel(id), seq: 0 };
    });
    for (let ts = start + 1000; ts <= end; ts += 1000) {
      batch.push({ deviceId: BIG, ts, seq: ++readingsBig, metrics: { ...sensors.sample(ts) } });
      if ((ts - start) % 60_000 === 0) {
        for (const o of others) {
          batch.push({ deviceId: o.id, ts, seq: ++o.seq, metrics: { ...o.sensors.sample(ts) } });
          readingsOthers++;
        }
      }
      if (batch.length >= BATCH) await flush();
    }
    await flush();
    const preloadS = round((performance.now() - t0) / 1000);
    const rows = (readingsBig + readingsOthers) * 3;
    ctx.log(`history: ${readingsBig + readingsOthers} readings (${rows} rows) in ${preloadS} s`);

    // The queries, as the REST endpoint and the subscribe handler build them.
    const from = to - HISTORY_POINTS * bucket.ms;
    const agg = (metric?: string): HistoryQuery => ({
      deviceId: BIG,
      from,
      to,
      bucketMs: bucket.ms,
      agg: 'mean',
      maxPoints: HISTORY_POINTS,
      ...(metric ? { metric } : {}),
    });
    const backfillSizes = [10_000, 60];
    const direct = {
      one: await repeat(h.reps, () => store.history(agg('temperature'))),
      all: await repeat(h.reps, () => store.history(agg())),
      backfill: [] as Awaited<ReturnType<typeof repeat<Reading[]>>>[],
    };
    for (const n of backfillSizes) {
      direct.backfill.push(await repeat(h.reps, () => store.since(BIG, end - n * 1000, 10_001)));
    }
    await store.close();

    ctx.log('history: starting the gateway on the preloaded store');
    const g0 = performance.now();
    const gw = await startGateway({ dataDir, startTimeoutMs: 300_000, env: o.gatewayEnv });
    const gatewayStartS = round((performance.now() - g0) / 1000);
    const queries: QueryTiming[] = [];
    let socket: Socket | null = null;
    try {
      const url = gw.httpUrl!;
      const headers = await gw.credentials.headers(url);
      const rest = (metric?: string) => async (): Promise<HistoryResponse> => {
        const q = new URLSearchParams({
          from: String(from),
          to: String(to),
          bucket: bucket.text,
          agg: 'mean',
          maxPoints: String(HISTORY_POINTS),
        });
        if (metric) q.set('metric', metric);
        const res = await fetch(`${url}${readingsPath(BIG)}?${q.toString()}`, { headers });
        if (!res.ok) throw new Error(`history query: HTTP ${res.status} ${await res.text()}`);
        return (await res.json()) as HistoryResponse;
      };
      const points = (r: HistoryResponse): number => r.series.reduce((n, s) => n + s.points.length, 0);
      const one = await repeat(h.reps, rest('temperature'));
      queries.push({
        name: 'REST aggregate, 1 metric',
        size: points(one.last),
        coldMs: one.coldMs,
        p50Ms: one.p50Ms,
        maxMs: one.maxMs,
        direct: strip(direct.one),
      });
      const all = await repeat(h.reps, rest());
      queries.push({
        name: 'REST aggregate, 3 metrics',
        size: points(all.last),
        coldMs: all.coldMs,
        p50Ms: all.p50Ms,
        maxMs: all.maxMs,
        direct: strip(direct.all),
      });

      const auth = await gw.credentials.operatorAuth(url);
      socket = io(url + Namespace.telemetry, {
        transports: ['websocket'],
        reconnection: false,
        forceNew: true,
        ...(auth ? { auth } : {}),
      });
      await new Promise<void>((resolve, reject) => {
        socket!.once('connect', () => resolve());
        socket!.once('connect_error', reject);
      });
      for (let i = 0; i < backfillSizes.length; i++) {
        const n = backfillSizes[i];
        const since = end - n * 1000;
        const r = await repeat(h.reps, async () => {
          const ack = (await socket!
            .timeout(60_000)
            .emitWithAck(TelemetryEvent.subscribe, { deviceId: BIG, since })) as SubscribeAck;
          if (!ack.ok) throw new Error(`subscribe refused: ${ack.error.code} ${ack.error.message}`);
          return ack.backfill.length;
        });
        queries.push({
          name: `Socket.IO since backfill`,
          size: r.last,
          coldMs: r.coldMs,
          p50Ms: r.p50Ms,
          maxMs: r.maxMs,
          direct: strip(direct.backfill[i]),
        });
      }
    } finally {
      socket?.disconnect();
      await gw.stop();
    }
    for (const q of queries)
      ctx.log(
        `history: ${q.name.padEnd(28)} ${String(q.size).padStart(6)} → cold ${q.coldMs} ms, p50 ${q.p50Ms} ms (store alone ${q.direct.p50Ms} ms)`,
      );
    return { bigDevice: BIG, readingsBig, readingsOthers, rows, preloadS, gatewayStartS, queries };
  } finally {
    rmSync(dataDir, { recursive: true, force: true });
  }
}

function strip(r: { coldMs: number; p50Ms: number; maxMs: number }): { coldMs: number; p50Ms: number; maxMs: number } {
  return { coldMs: r.coldMs, p50Ms: r.p50Ms, maxMs: r.maxMs };
}
