import { mkdtempSync, rmSync } from 'node:fs';
import { connect, type Socket as TcpSocket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { io, type Socket } from 'socket.io-client';
import WebSocket from 'ws';
import {
  type DeviceSummary,
  DevicesEvent,
  INGEST_PATH,
  Namespace,
  STATUS_OFFLINE,
  statusTopic,
  telemetryTopic,
} from '@fieldline/contracts';
import { startGateway, type TestGateway, waitFor } from './support';

/**
 * Presence must not wait for DEVICE_OFFLINE_AFTER_MS (set to a minute here) when the gateway knows better: the
 * broker publishes a device's last will when its connection drops or its keepalive runs out, and the WebSocket
 * heartbeat cuts a connection that stops answering pings.
 */
const SILENCE_MS = '60000';

/** A `/devices` operator that records presence events. */
class PresenceWatcher {
  readonly socket: Socket;
  readonly events: { event: 'online' | 'offline'; deviceId: string; at: number }[] = [];
  snapshot: DeviceSummary[] | null = null;

  constructor(url: string, token: string) {
    this.socket = io(url + Namespace.devices, { auth: { token }, transports: ['websocket'], reconnection: false });
    this.socket.on(DevicesEvent.snapshot, (s: DeviceSummary[]) => (this.snapshot = s));
    for (const event of ['online', 'offline'] as const) {
      this.socket.on(DevicesEvent[event], (d: DeviceSummary) =>
        this.events.push({ event, deviceId: d.deviceId, at: Date.now() }),
      );
    }
  }

  async ready(): Promise<this> {
    await waitFor(() => this.snapshot !== null, 'the /devices snapshot');
    return this;
  }

  async next(event: 'online' | 'offline', deviceId: string, ms = 5000): Promise<number> {
    await waitFor(
      () => this.events.some((e) => e.event === event && e.deviceId === deviceId),
      `${event} ${deviceId}`,
      ms,
    );
    return this.events.find((e) => e.event === event && e.deviceId === deviceId)!.at;
  }
}

/** MQTT 3.1.1 packets, written by hand: a device whose TCP connection stays open but that sends nothing more. */
function mqttString(s: string): Buffer {
  const b = Buffer.from(s, 'utf8');
  const len = Buffer.alloc(2);
  len.writeUInt16BE(b.length);
  return Buffer.concat([len, b]);
}

function mqttPacket(type: number, body: Buffer): Buffer {
  const len: number[] = [];
  let n = body.length;
  do {
    let byte = n % 128;
    n = Math.floor(n / 128);
    if (n > 0) byte |= 0x80;
    len.push(byte);
  } while (n > 0);
  return Buffer.concat([Buffer.from([type, ...len]), body]);
}

function rawMqttDevice(port: number, deviceId: string, token: string, keepaliveS: number): Promise<TcpSocket> {
  const header = Buffer.concat([
    mqttString('MQTT'),
    // level 4; flags: user name, password, will retain, will flag, clean session; keepalive
    Buffer.from([4, 0x80 | 0x40 | 0x20 | 0x04 | 0x02, keepaliveS >> 8, keepaliveS & 0xff]),
  ]);
  const payload = Buffer.concat([
    mqttString(deviceId),
    mqttString(statusTopic(deviceId)),
    mqttString(STATUS_OFFLINE),
    mqttString(deviceId),
    mqttString(token),
  ]);
  const publish = mqttPacket(
    0x30,
    Buffer.concat([mqttString(telemetryTopic(deviceId)), Buffer.from(JSON.stringify({ metrics: { t: 1 } }))]),
  );
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1');
    socket.once('error', reject);
    socket.once('data', (connack: Buffer) => {
      if (connack[0] !== 0x20 || connack[3] !== 0) return reject(new Error(`CONNACK ${connack.toString('hex')}`));
      socket.write(publish);
      resolve(socket);
    });
    socket.write(mqttPacket(0x10, Buffer.concat([header, payload])));
  });
}

describe('presence', () => {
  let gw: TestGateway;
  let watcher: PresenceWatcher;
  beforeAll(async () => {
    gw = await startGateway({ DEVICE_OFFLINE_AFTER_MS: SILENCE_MS, WS_PING_INTERVAL_MS: '200' });
    watcher = await new PresenceWatcher(gw.url, await gw.operatorToken()).ready();
  });
  afterAll(async () => {
    watcher.socket.close();
    await gw.stop();
  });

  it('MQTT: a device whose TCP connection is cut (no DISCONNECT) is offline at once, by its last will', async () => {
    const device = await gw.mqttDevice('will-cut', {
      will: { topic: statusTopic('will-cut'), payload: Buffer.from(STATUS_OFFLINE), qos: 1, retain: true },
    });
    await device.publish(telemetryTopic('will-cut'), { metrics: { t: 1 } });
    await watcher.next('online', 'will-cut');
    const cutAt = Date.now();
    device.client.stream.destroy();
    const offlineAt = await watcher.next('offline', 'will-cut', 3000);
    expect(offlineAt - cutAt).toBeLessThan(3000);
    expect((await gw.get('/api/devices/will-cut')).body.online).toBe(false);
    device.client.end(true);
  });

  it('MQTT: a device that goes silent with its connection open is offline once its keepalive runs out', async () => {
    const socket = await rawMqttDevice(
      Number(new URL(gw.mqttUrl!).port),
      'will-silent',
      await gw.deviceToken('will-silent'),
      1,
    );
    try {
      const onlineAt = await watcher.next('online', 'will-silent');
      // The broker waits 1.5 keepalives (1.5 s) for a packet, then publishes the will.
      const offlineAt = await watcher.next('offline', 'will-silent', 5000);
      expect(offlineAt - onlineAt).toBeGreaterThanOrEqual(1000);
      expect(offlineAt - onlineAt).toBeLessThan(5000);
    } finally {
      socket.destroy();
    }
  });

  it('WebSocket: a connection that stops answering pings is cut and its device shown offline', async () => {
    const connectWs = async (deviceId: string, autoPong: boolean): Promise<WebSocket> => {
      const ws = new WebSocket(gw.url.replace(/^http/, 'ws') + INGEST_PATH, {
        headers: { authorization: `Bearer ${await gw.deviceToken(deviceId)}` },
        autoPong,
      });
      await new Promise<void>((r, j) => ws.once('open', () => r()).once('error', j));
      const acked = new Promise<void>((r) => ws.once('message', () => r()));
      ws.send(JSON.stringify({ metrics: { t: 1 } }));
      await acked;
      return ws;
    };
    const silent = await connectWs('ws-silent', false);
    const healthy = await connectWs('ws-healthy', true);
    try {
      const closed = new Promise<number>((r) => silent.once('close', (code) => r(code)));
      const onlineAt = await watcher.next('online', 'ws-silent');
      const offlineAt = await watcher.next('offline', 'ws-silent', 3000);
      // Between one and two ping intervals (200 ms) of silence, far below DEVICE_OFFLINE_AFTER_MS.
      expect(offlineAt - onlineAt).toBeLessThan(2000);
      expect(await closed).toBe(1006); // terminated: no close handshake with a peer that does not answer
      // The device that answers its pings is still connected and online, several intervals later.
      expect(healthy.readyState).toBe(WebSocket.OPEN);
      expect(watcher.events.some((e) => e.event === 'offline' && e.deviceId === 'ws-healthy')).toBe(false);
      expect((await gw.get('/api/devices/ws-healthy')).body.online).toBe(true);
      // A device that closes its connection itself is offline at once too.
      const closedAt = Date.now();
      healthy.close(1000);
      expect((await watcher.next('offline', 'ws-healthy', 3000)) - closedAt).toBeLessThan(1000);
    } finally {
      silent.terminate();
      healthy.terminate();
    }
  });
});

describe('presence across a restart', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'fieldline-presence-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('last-seen and latest values survive a restart on the same DATA_DIR', async () => {
    const first = await startGateway({}, dir);
    let before: DeviceSummary;
    try {
      // The device's clock is an hour behind: last-seen is the gateway's time of receipt, not the reading's ts.
      expect((await first.post('restart-1', { ts: Date.now() - 3_600_000, metrics: { t: 7 } })).status).toBe(202);
      const { body } = await first.get('/api/devices');
      before = (body as DeviceSummary[]).find((d) => d.deviceId === 'restart-1')!;
      expect(before).toMatchObject({ online: true, latest: { t: 7 } });
    } finally {
      await first.close();
    }
    const second = await startGateway({}, dir);
    const watcher = new PresenceWatcher(second.url, await second.operatorToken());
    try {
      const { body } = await second.get('/api/devices');
      const after = (body as DeviceSummary[]).find((d) => d.deviceId === 'restart-1');
      expect(after).toEqual({ ...before, online: false });
      await watcher.ready();
      expect(watcher.snapshot!.find((d) => d.deviceId === 'restart-1')).toEqual({ ...before, online: false });
    } finally {
      watcher.socket.close();
      await second.close();
    }
  });
});
