/*
 * Helpers of the service fault tests: a deployment on services of the test's choosing (a dedicated InfluxDB or
 * Mosquitto that the test stops and starts), what InfluxDB holds, and peaks of /metrics gauges while a fault lasts.
 */
import { InfluxDB } from 'influx';
import type { Cluster, GatewayNode } from '../cluster';
import { databaseUrl, uniqueName } from '../services';

/** A deployment (database, Redis prefix, shared environment) on the given service URLs. */
export function clusterOn(urls: { influx: string; mqtt?: string; redis?: string }, over: Record<string, string> = {}) {
  const database = uniqueName('fl_fault');
  const redisPrefix = uniqueName('flf');
  const u = new URL(urls.influx);
  const cluster: Cluster = {
    database,
    redisPrefix,
    influx: new InfluxDB({ host: u.hostname, port: Number(u.port), database }),
    env: {
      INFLUX_URL: `${urls.influx}/${database}`,
      ...(urls.mqtt ? { MQTT_URL: urls.mqtt } : { MQTT_PORT: '0' }),
      // Several nodes (Redis) share their state store.
      ...(urls.redis
        ? { REDIS_URL: urls.redis, REDIS_KEY_PREFIX: redisPrefix, DATABASE_URL: databaseUrl(database) }
        : {}),
      PRESENCE_TICK_MS: '100',
      DEVICE_RATE: '0',
      ...over,
    },
  };
  return cluster;
}

/** `deviceId:seq` of every point InfluxDB holds for devices whose id starts with `prefix` (one entry per point). */
export async function storedKeys(cluster: Cluster, prefix: string): Promise<string[]> {
  const re = prefix.replace(/[.-]/g, '\\$&');
  const q = `SELECT "@seq" FROM "${cluster.database}"."fieldline"."readings" WHERE "device_id" =~ /^${re}/ GROUP BY "device_id"`;
  const res = (await cluster.influx.queryRaw(q, { precision: 'ms' })) as {
    results: { series?: { tags: { device_id: string }; values: [number, number | null][] }[]; error?: string }[];
  };
  if (res.results[0].error) throw new Error(res.results[0].error);
  const out: string[] = [];
  for (const s of res.results[0].series ?? []) for (const v of s.values) out.push(`${s.tags.device_id}:${v[1] ?? -1}`);
  return out;
}

/** Gauges whose peak a fault test reports: the write backlog, and the disk spool once the gateway has one. */
export const BACKLOG = /^fieldline_(write_buffer_pending|spool_bytes|spool_segments|spool_backlog)(\{[^}]*\})?$/;

/**
 * Samples /metrics of `node` every `everyMs` and keeps the peak of every gauge matching {@link BACKLOG} until
 * `stop()`; a failed scrape (node busy or gone) is skipped.
 */
export function samplePeaks(node: GatewayNode, everyMs = 250): { stop(): Promise<Record<string, number>> } {
  const peaks: Record<string, number> = {};
  let running = true;
  const loop = (async () => {
    while (running) {
      try {
        const m = await node.metrics();
        for (const [k, v] of m) if (BACKLOG.test(k) && !(v <= (peaks[k] ?? -Infinity))) peaks[k] = v;
      } catch {
        // skipped
      }
      await new Promise((r) => setTimeout(r, everyMs));
    }
  })();
  return {
    stop: async () => {
      running = false;
      await loop;
      return peaks;
    },
  };
}

/** The gauges of /metrics matching {@link BACKLOG} right now. */
export async function backlog(node: GatewayNode): Promise<Record<string, number>> {
  const m = await node.metrics();
  return Object.fromEntries([...m].filter(([k]) => BACKLOG.test(k)));
}
