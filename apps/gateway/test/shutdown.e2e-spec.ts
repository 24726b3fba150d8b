import { mkdtempSync, rmSync } from 'node:fs';
import { Agent, request } from 'node:http';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import mqtt from 'mqtt';
import { io } from 'socket.io-client';
import WebSocket from 'ws';
import { INGEST_PATH, Namespace } from '@fieldline/contracts';
import { spawnBuiltGateway } from './built-gateway';
import { postReadings, startGateway, waitFor } from './support';

/**
 * A bound on the whole shutdown, from SIGTERM to exit. It is correctness, not speed: with a device that never
 * answers the WebSocket close frame the drain takes the close timeout (2 s) and the connection grace (3 s) at most;
 * before the fix it took `ws`'s 30 s.
 */
const SHUTDOWN_BOUND_MS = 10_000;

/** Resolves with the error code of a new TCP connection to the port (ECONNREFUSED once nothing listens), or 'open'. */
function tcpConnect(port: number): Promise<string> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    socket.once('connect', () => {
      socket.destroy();
      resolve('open');
    });
    socket.once('error', (err: NodeJS.ErrnoException) => resolve(err.code ?? err.message));
  });
}

/** GET over one kept-alive connection (the agent's only socket), as a load balancer's probe does. */
function getVia(agent: Agent, url: string): Promise<{ status: number; body: any }> {
  return new Promise((resolve, reject) => {
    const req = request(url, { agent }, (res) => {
      let data = '';
      res.on('data', (d: Buffer) => (data += d.toString()));
      res.on('end', () => {
        let body: unknown = data;
        try {
          body = JSON.parse(data);
        } catch {
          // not JSON: kept as text
        }
        resolve({ status: res.statusCode ?? 0, body });
      });
    });
    req.once('error', reject);
    req.end();
  });
}

describe('shutdown', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'fieldline-shutdown-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('on SIGTERM the built gateway turns not ready, refuses new connections, closes devices, flushes, exits 0', async () => {
    const gw = await spawnBuiltGateway(dir, { WRITE_FLUSH_MS: '60000' });
    const { child, exited, url, httpPort, mqttPort, admin, register } = gw;
    let agent: Agent | null = null;
    try {
      const token = await register('term-1');

      // A probe on a kept-alive connection, opened before the signal.
      agent = new Agent({ keepAlive: true, maxSockets: 1 });
      expect((await getVia(agent, `${url}/health/ready`)).status).toBe(200);

      // Device connections: MQTT, and a WebSocket device that will never answer the close frame (its network is
      // gone): the drain must not wait for it longer than the close timeout.
      const mqttDevice = await mqtt.connectAsync(`mqtt://127.0.0.1:${mqttPort}`, {
        clientId: 'term-2',
        username: 'term-2',
        password: await register('term-2'),
        reconnectPeriod: 0,
      });
      await mqttDevice.publishAsync('devices/term-2/telemetry', JSON.stringify({ seq: 1, metrics: { t: 1 } }), {
        qos: 1,
      });
      const mqttClosed = new Promise<void>((r) => mqttDevice.once('close', () => r()));
      const ws = new WebSocket(`ws://127.0.0.1:${httpPort}${INGEST_PATH}`, {
        headers: { authorization: `Bearer ${await register('term-3')}` },
      });
      const wsClosed = new Promise<void>((r) => ws.once('close', () => r()));
      await new Promise<void>((r, j) => ws.once('open', () => r()).once('error', j));
      const acked = new Promise<void>((r) => ws.once('message', () => r()));
      ws.send(JSON.stringify({ seq: 1, metrics: { t: 1 } }));
      await acked;
      (ws as unknown as { _socket: { pause(): void } })._socket.pause();
      const operator = io(`${url}${Namespace.devices}`, { auth: { token: admin }, transports: ['websocket'] });
      await new Promise<void>((r) => operator.once('connect', () => r()));
      const operatorGone = new Promise<void>((r) => operator.once('disconnect', () => r()));

      const readings = Array.from({ length: 250 }, (_, i) => ({
        ts: Date.now() - 10_000 + i,
        seq: i + 1,
        metrics: { t: i },
      }));
      expect((await postReadings(url, 'term-1', { readings }, token)).status).toBe(202);

      const t0 = Date.now();
      child.kill('SIGTERM');
      await waitFor(() => gw.out().includes('SIGTERM: stopping'), 'the gateway to start its shutdown');
      // Draining (the stuck WebSocket device holds it open): not ready, and no new connections on either port.
      const probe = await getVia(agent, `${url}/health/ready`);
      expect(probe).toMatchObject({ status: 503, body: { status: 'draining' } });
      expect(await tcpConnect(httpPort)).toBe('ECONNREFUSED');
      expect(await tcpConnect(mqttPort)).toBe('ECONNREFUSED');

      expect(await exited).toBe(0);
      const took = Date.now() - t0;
      expect(took).toBeLessThan(SHUTDOWN_BOUND_MS);
      // Every device and operator connection was closed by the gateway.
      await mqttClosed;
      (ws as unknown as { _socket: { resume(): void } })._socket.resume();
      await wsClosed;
      await operatorGone;
      operator.close();
    } finally {
      agent?.destroy();
      gw.kill();
    }

    const restarted = await startGateway({}, dir);
    try {
      const { body } = await restarted.get('/api/devices/term-1/readings?bucket=raw&from=0&maxPoints=1000');
      expect(body.series[0].points).toHaveLength(250);
      for (const id of ['term-2', 'term-3']) {
        const { body: one } = await restarted.get(`/api/devices/${id}/readings?bucket=raw&from=0`);
        expect(one.series[0].points).toHaveLength(1);
      }
      // Presence survives a restart: the device is known, offline, with its last values.
      expect((await restarted.get('/api/devices/term-1')).body).toMatchObject({ online: false, latest: { t: 249 } });
      // So does the device registry: the token issued by the first run still works.
      expect(
        (await postReadings(restarted.url, 'term-1', { metrics: { t: 1 } }, await restarted.deviceToken('term-1')))
          .status,
      ).toBe(202);
    } finally {
      await restarted.close();
    }
  }, 60_000);

  it('close() refuses new readings, then flushes everything accepted', async () => {
    const gw = await startGateway({ WRITE_FLUSH_MS: '60000' }, dir);
    expect((await gw.post('close-1', { seq: 1, metrics: { t: 1 } })).status).toBe(202);
    await gw.close();
    const again = await startGateway({}, dir);
    try {
      const { body } = await again.get('/api/devices/close-1/readings?bucket=raw&from=0');
      expect(body.series[0].points).toHaveLength(1);
    } finally {
      await again.close();
    }
  });

  it('drain() turns readiness false at once and refuses new Socket.IO, WebSocket and MQTT connections', async () => {
    const gw = await startGateway({}, dir);
    try {
      const agent = new Agent({ keepAlive: true, maxSockets: 1 });
      try {
        expect((await getVia(agent, `${gw.url}/health`)).status).toBe(200);
        gw.drain();
        expect(await getVia(agent, `${gw.url}/health`)).toMatchObject({ status: 503, body: { status: 'draining' } });
        expect(await tcpConnect(gw.httpPort)).toBe('ECONNREFUSED');
        expect(await tcpConnect(gw.mqttPort!)).toBe('ECONNREFUSED');
        // On a connection that was open before: a Socket.IO handshake and a WebSocket ingest upgrade are refused.
        expect((await getVia(agent, `${gw.url}/socket.io/?EIO=4&transport=polling`)).status).toBe(403);
        const upgrade = await new Promise<number>((resolve, reject) => {
          const req = request(`${gw.url}${INGEST_PATH}`, {
            agent,
            headers: {
              connection: 'Upgrade',
              upgrade: 'websocket',
              'sec-websocket-version': '13',
              'sec-websocket-key': 'dGhlIHNhbXBsZSBub25jZQ==',
            },
          });
          req.once('response', (res) => resolve(res.statusCode ?? 0));
          req.once('upgrade', () => resolve(101));
          req.once('error', reject);
          req.end();
        });
        expect(upgrade).toBe(503);
      } finally {
        agent.destroy();
      }
    } finally {
      await gw.close();
    }
  });
});
