import { connect as mqttConnect, type MqttClient } from 'mqtt';
import { io, type Socket } from 'socket.io-client';
import {
  Namespace,
  type ReadingsPayload,
  type SubscribeAck,
  TelemetryEvent,
  TELEMETRY_FILTER,
} from '@fieldline/contracts';
import { LatencyRecorder, nowMs } from './latency';

/** Something that receives readings and counts them: operator sockets, or a plain MQTT subscriber. */
export interface Receiver {
  /** Readings received. */
  readonly readings: number;
  /** Messages or events received (a Socket.IO `readings` event counts once, whatever it carries). */
  readonly frames: number;
  readonly latency: LatencyRecorder;
  close(): Promise<void>;
}

/**
 * The plain subscriber of the bare-broker baseline: one mqtt.js client on `devices/+/telemetry` (QoS 0), counting
 * the readings of devices whose id starts with `prefix` and recording each one's latency from its `ts`.
 */
export class MqttReceiver implements Receiver {
  readings = 0;
  frames = 0;
  readonly latency = new LatencyRecorder();
  private constructor(private readonly client: MqttClient) {}

  static async connect(url: string, prefix: string): Promise<MqttReceiver> {
    const client = mqttConnect(url, { clean: true, reconnectPeriod: 0, protocolVersion: 4 });
    const r = new MqttReceiver(client);
    const topicPrefix = `devices/${prefix}`;
    client.on('message', (topic, payload) => {
      if (!topic.startsWith(topicPrefix)) return;
      const now = nowMs();
      r.frames++;
      r.readings++;
      const ts = (JSON.parse(payload.toString()) as { ts?: number }).ts;
      if (typeof ts === 'number') r.latency.recordSince(ts, now);
    });
    await new Promise<void>((resolve, reject) => {
      client.once('connect', () => resolve());
      client.once('error', reject);
    });
    await client.subscribeAsync(TELEMETRY_FILTER, { qos: 0 });
    return r;
  }

  close(): Promise<void> {
    return this.client.endAsync(true);
  }
}

export interface OperatorPoolOptions {
  /** Gateway or relay HTTP base. */
  url: string;
  /** Socket.IO `auth` payload (operator JWT), if the target needs one. */
  auth?: { token: string };
  /** Sockets connecting at once. Default 100. */
  concurrency?: number;
}

/**
 * Operator sockets on `/telemetry` (socket.io-client, WebSocket transport, one connection each), every one counting
 * the `readings` events it receives and recording the latency of every reading in them.
 */
export class OperatorPool implements Receiver {
  readings = 0;
  frames = 0;
  readonly latency = new LatencyRecorder();
  readonly sockets: Socket[] = [];
  /** Subscribe requests refused by the target. */
  refusedSubscriptions = 0;

  constructor(private readonly o: OperatorPoolOptions) {}

  /** Connects `n` more sockets; `devicesOf(i)` are the devices socket number i (counting from 0 overall) subscribes to. */
  async add(n: number, devicesOf: (i: number) => readonly string[]): Promise<void> {
    const start = this.sockets.length;
    const concurrency = this.o.concurrency ?? 100;
    let next = start;
    const end = start + n;
    const worker = async (): Promise<void> => {
      while (next < end) {
        const i = next++;
        const socket = await this.connectOne();
        this.sockets[i] = socket;
        for (const deviceId of devicesOf(i)) {
          const ack = (await socket
            .timeout(30_000)
            .emitWithAck(TelemetryEvent.subscribe, { deviceId })) as SubscribeAck;
          if (!ack.ok) this.refusedSubscriptions++;
        }
      }
    };
    await Promise.all(Array.from({ length: Math.min(concurrency, n) }, worker));
  }

  /** Starts counting from zero (the sockets stay connected). */
  resetCounts(): void {
    this.readings = 0;
    this.frames = 0;
    this.latency.reset();
  }

  close(): Promise<void> {
    for (const s of this.sockets) s.disconnect();
    this.sockets.length = 0;
    return Promise.resolve();
  }

  private connectOne(): Promise<Socket> {
    const socket = io(this.o.url + Namespace.telemetry, {
      transports: ['websocket'],
      reconnection: false,
      // One connection per operator, as browsers would have: without it every socket shares one Manager.
      forceNew: true,
      timeout: 30_000,
      ...(this.o.auth ? { auth: this.o.auth } : {}),
    });
    socket.on(TelemetryEvent.readings, (p: ReadingsPayload) => {
      const now = nowMs();
      this.frames++;
      const rs = p.readings;
      this.readings += rs.length;
      for (let k = 0; k < rs.length; k++) this.latency.recordSince(rs[k].ts, now);
    });
    return new Promise<Socket>((resolve, reject) => {
      socket.once('connect', () => resolve(socket));
      socket.once('connect_error', (err) => {
        socket.disconnect();
        reject(err);
      });
    });
  }
}
