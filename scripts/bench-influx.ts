/*
 * How many readings per second one node stores in InfluxDB. Starts throwaway services (scripts/test-services.ts),
 * then measures:
 *   1. the InfluxDB store alone: batches of N readings written one after another (what the write buffer does);
 *   2. one gateway node end to end: the simulator publishes QoS 1 to Mosquitto, the node (built dist, external
 *      broker, InfluxDB store) ingests through the shared subscription and acknowledges once stored.
 *
 *   npm run build && npx tsx scripts/bench-influx.ts [--readings 200000] [--devices 100] [--rate 60] [--seconds 20]
 *
 * Prints figures; asserts nothing. The simulator, Mosquitto and InfluxDB share the machine with the node.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import type { Reading } from '@fieldline/contracts';
import { Simulator } from '../devices-sim/src';
import { InfluxStore } from '../apps/gateway/src/storage/influx.store';
import { freePort, startTestServices } from './test-services';

const arg = (name: string, def: number): number => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : def;
};
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

async function storeAlone(influxUrl: string, total: number): Promise<void> {
  for (const batch of [1000, 5000, 10_000]) {
    const store = new InfluxStore({ url: `${influxUrl}/bench_store_${batch}`, retention: 'INF' });
    await store.init();
    const t0 = Date.now() - total;
    const started = performance.now();
    for (let i = 0; i < total; i += batch) {
      const readings: Reading[] = [];
      for (let k = i; k < Math.min(total, i + batch); k++) {
        readings.push({
          deviceId: `dev-${k % 100}`,
          ts: t0 + k,
          seq: k,
          metrics: { temperature: 20 + (k % 50) / 10, humidity: 40 + (k % 30), battery: 3.3 },
        });
      }
      await store.write(readings);
    }
    const s = (performance.now() - started) / 1000;
    console.log(
      `store alone: ${total} readings (3 metrics each) in batches of ${batch}: ${Math.round(total / s)} readings/s`,
    );
    await store.close();
  }
}

async function oneNode(urls: { influxUrl: string; mqttUrl: string }, devices: number, rate: number, seconds: number) {
  const dir = mkdtempSync(join(tmpdir(), 'fieldline-bench-node-'));
  const port = await freePort();
  const child = spawn(process.execPath, [resolve(__dirname, '../dist/apps/gateway/src/main.js')], {
    env: {
      ...process.env,
      PORT: String(port),
      HOST: '127.0.0.1',
      DATA_DIR: dir,
      LOG_LEVEL: 'warn',
      NODE_ID: 'bench',
      MQTT_URL: urls.mqttUrl,
      INFLUX_URL: `${urls.influxUrl}/bench_node`,
      WRITE_BATCH: '5000',
      DEVICE_RATE: '0',
      JWT_SECRET: 'bench-secret-0123456789abcdefghijklmnopqrstuvwxyz',
      ADMIN_PASSWORD: 'bench-password',
      SIM_DEVICES: '0',
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => (out += d.toString()));
  try {
    for (let i = 0; ; i++) {
      if (child.exitCode !== null || i > 600) throw new Error(`gateway did not start:\n${out}`);
      if ((await fetch(`http://127.0.0.1:${port}/health`).catch(() => null))?.status === 200) break;
      await sleep(50);
    }
    const metric = async (name: string): Promise<number> => {
      const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
      return Number(new RegExp(`^${name} (\\S+)$`, 'm').exec(text)?.[1] ?? NaN);
    };
    const sim = new Simulator({ protocol: 'mqtt', mqttUrl: urls.mqttUrl, devices, rate, qos: 1, duration: seconds });
    await sim.start();
    // Measure the middle of the run: past the start, before the end.
    await sleep(3000);
    const w0 = await metric('fieldline_store_written_total');
    const t0 = performance.now();
    await sleep((seconds - 6) * 1000);
    const w1 = await metric('fieldline_store_written_total');
    const dt = (performance.now() - t0) / 1000;
    await sim.done;
    await sim.stop();
    const s = sim.stats();
    for (let i = 0; i < 100 && (await metric('fieldline_store_written_total')) < s.acked; i++) await sleep(100);
    console.log(
      `one node end to end: offered ${devices * rate} readings/s (${devices} MQTT devices, QoS 1, WRITE_BATCH=5000): ` +
        `stored ${Math.round((w1 - w0) / dt)} readings/s; sent ${s.sent}, acked by the broker ${s.acked}, ` +
        `stored ${await metric('fieldline_store_written_total')}`,
    );
  } finally {
    child.kill('SIGTERM');
    await new Promise((r) => child.once('exit', r));
    rmSync(dir, { recursive: true, force: true });
  }
}

async function main(): Promise<void> {
  const services = await startTestServices({ only: ['influxdb', 'mosquitto'] });
  try {
    await storeAlone(services.influxUrl!, arg('readings', 200_000));
    await oneNode(
      { influxUrl: services.influxUrl!, mqttUrl: services.mqttUrl! },
      arg('devices', 100),
      arg('rate', 60),
      arg('seconds', 20),
    );
  } finally {
    await services.stop();
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
