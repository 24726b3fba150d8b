import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import mqtt from 'mqtt';
import WebSocket from 'ws';
import { INGEST_PATH, type IngestReply } from '@fieldline/contracts';
import { spawnBuiltGateway } from './built-gateway';
import { postReadings, startGateway, waitFor } from './support';

/** Raw points of one device's metric `v`, as stored. */
async function storedTs(get: (path: string) => Promise<{ body: any }>, deviceId: string): Promise<number[]> {
  const { body } = await get(`/api/devices/${deviceId}/readings?bucket=raw&from=0&metric=v&maxPoints=5000`);
  return (body.series[0]?.points ?? []).map((p: { ts: number }) => p.ts);
}

describe('durable write path', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'fieldline-spool-e2e-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('stores every reading acked before a SIGKILL exactly once after a restart on the same DATA_DIR', async () => {
    const gw = await spawnBuiltGateway(dir, {
      DEVICE_RATE: '0',
      // Nothing reaches the store before the kill: every acked reading is only in the spool.
      WRITE_FLUSH_MS: '60000',
      WRITE_BATCH: '100000',
    });
    const { child, exited, url, httpPort, mqttPort, register } = gw;
    const T0 = Date.now() - 60_000;
    const N = 300;
    let leftover: string[] = [];
    try {
      // WebSocket: N frames sent back to back; every one acked.
      const ws = new WebSocket(`ws://127.0.0.1:${httpPort}${INGEST_PATH}`, {
        headers: { authorization: `Bearer ${await register('kill-ws')}` },
      });
      await new Promise<void>((r, j) => ws.once('open', () => r()).once('error', j));
      const acks: IngestReply[] = [];
      ws.on('message', (d: Buffer) => acks.push(JSON.parse(d.toString()) as IngestReply));
      for (let i = 1; i <= N; i++) ws.send(JSON.stringify({ ts: T0 + i, seq: i, metrics: { v: i } }));
      // MQTT QoS 1: each publish resolves on its PUBACK.
      const device = await mqtt.connectAsync(`mqtt://127.0.0.1:${mqttPort}`, {
        clientId: 'kill-mqtt',
        username: 'kill-mqtt',
        password: await register('kill-mqtt'),
        reconnectPeriod: 0,
      });
      const published: Promise<unknown>[] = [];
      for (let i = 1; i <= N; i++) {
        published.push(
          device.publishAsync(
            'devices/kill-mqtt/telemetry',
            JSON.stringify({ ts: T0 + i, seq: i, metrics: { v: i } }),
            {
              qos: 1,
            },
          ),
        );
      }
      // HTTP: 202 means spooled.
      const readings = Array.from({ length: N }, (_, i) => ({ ts: T0 + i + 1, seq: i + 1, metrics: { v: i } }));
      expect((await postReadings(url, 'kill-http', { readings }, await register('kill-http'))).status).toBe(202);
      await Promise.all(published);
      await waitFor(() => acks.length === N, 'every WebSocket ack', 10_000);
      expect(acks.every((a) => a.type === 'ack')).toBe(true);
      leftover = readdirSync(join(dir, 'spool')).filter((f) => f.endsWith('.ndjson'));
      expect(leftover.length).toBeGreaterThan(0);

      child.kill('SIGKILL');
      await exited;
      ws.terminate();
      device.end(true);
    } finally {
      gw.kill();
    }

    const restarted = await startGateway({}, dir);
    try {
      for (const id of ['kill-ws', 'kill-mqtt', 'kill-http']) {
        await waitFor(async () => (await storedTs(restarted.get, id)).length >= N, `${id} replayed`, 10_000);
      }
      // A device that resends after the restart (the gateway's recent seqs are gone) creates no duplicate either.
      const again = await restarted.wsDevice('kill-ws');
      for (let i = N - 9; i <= N; i++) {
        expect(await again.send({ ts: T0 + i, seq: i, metrics: { v: i } })).toMatchObject({ type: 'ack', seq: i });
      }
      again.close();
      await restarted.app.get(await import('../src/storage/write-buffer').then((m) => m.WriteBuffer)).flush();
      for (const id of ['kill-ws', 'kill-mqtt', 'kill-http']) {
        const ts = await storedTs(restarted.get, id);
        expect(ts).toHaveLength(N);
        expect(new Set(ts).size).toBe(N);
      }
      // The segments of the killed run are gone once replayed (this run's own segment stays until it is recycled).
      const now = readdirSync(join(dir, 'spool'));
      expect(leftover.filter((f) => now.includes(f))).toEqual([]);
      const metrics = await (await fetch(`${restarted.url}/metrics`)).text();
      expect(metrics).toMatch(new RegExp(`fieldline_store_replayed_total ${3 * N}\\b`));
    } finally {
      await restarted.close();
    }
  }, 60_000);

  it('acks a resent reading, but neither stores it nor shows it live again', async () => {
    const gw = await startGateway({}, dir);
    try {
      const op = await gw.operator();
      await op.subscribe('dup-1');
      const d = await gw.wsDevice('dup-1');
      const T0 = Date.now() - 1000;
      for (const seq of [1, 2, 3, 2, 3, 4]) {
        expect(await d.send({ ts: T0 + seq, seq, metrics: { v: seq } })).toMatchObject({ type: 'ack', seq });
      }
      d.close();
      await waitFor(() => op.of('dup-1').length >= 4, 'live readings');
      op.close();
      await new Promise((r) => setTimeout(r, 100));
      expect(op.of('dup-1').map((r) => r.seq)).toEqual([1, 2, 3, 4]);
      await gw.app.get(await import('../src/storage/write-buffer').then((m) => m.WriteBuffer)).flush();
      expect(await storedTs(gw.get, 'dup-1')).toHaveLength(4);
      const metrics = await (await fetch(`${gw.url}/metrics`)).text();
      expect(metrics).toMatch(/fieldline_duplicates_total 2\b/);
      expect(metrics).toMatch(/fieldline_spool_bytes \d+/);
      const health = await gw.get('/health');
      expect(health.body).toMatchObject({ status: 'ok', spool: { spooling: false } });
    } finally {
      await gw.close();
    }
  });

  it('shows a seq repeated within one batch once, live as in the store', async () => {
    const gw = await startGateway({}, dir);
    try {
      const op = await gw.operator();
      await op.subscribe('dup-2');
      const T0 = Date.now() - 1000;
      const r = (seq: number): object => ({ ts: T0 + seq, seq, metrics: { v: seq } });
      expect((await gw.post('dup-2', { readings: [r(1), r(2), r(1), r(3), r(2)] })).status).toBe(202);
      await waitFor(() => op.of('dup-2').length >= 3, 'live readings');
      await new Promise((resolve) => setTimeout(resolve, 100));
      op.close();
      expect(op.of('dup-2').map((x) => x.seq)).toEqual([1, 2, 3]);
      await gw.app.get(await import('../src/storage/write-buffer').then((m) => m.WriteBuffer)).flush();
      expect(await storedTs(gw.get, 'dup-2')).toHaveLength(3);
      const metrics = await (await fetch(`${gw.url}/metrics`)).text();
      expect(metrics).toMatch(/fieldline_duplicates_total 2\b/);
    } finally {
      await gw.close();
    }
  });
});
