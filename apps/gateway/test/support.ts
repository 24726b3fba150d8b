import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import mqtt, { type MqttClient } from 'mqtt';
import { io, type Socket } from 'socket.io-client';
import WebSocket from 'ws';
import {
  errorsTopic,
  INGEST_PATH,
  type IngestReply,
  Namespace,
  type ReadingsPayload,
  type Reading,
  type SubscribeAck,
  TelemetryEvent,
} from '@fieldline/contracts';
import { loadConfig } from '../src/config/config';
import { createGateway, type RunningGateway } from '../src/gateway';

export interface TestGateway extends RunningGateway {
  dataDir: string;
  /** Closes the gateway and removes its data dir. */
  stop(): Promise<void>;
}

/** Boots a gateway on ephemeral ports with its own data dir. */
export async function startGateway(env: Record<string, string> = {}, dataDir?: string): Promise<TestGateway> {
  const dir = dataDir ?? mkdtempSync(join(tmpdir(), 'fieldline-test-'));
  const config = loadConfig({
    PORT: '0',
    MQTT_PORT: '0',
    HOST: '127.0.0.1',
    DATA_DIR: dir,
    LOG_LEVEL: 'error',
    ...env,
  });
  const gw = await createGateway(config);
  return {
    ...gw,
    dataDir: dir,
    stop: async () => {
      await gw.close();
      if (!dataDir) rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Resolves when `predicate` holds, polling; rejects with `what` after `ms`. */
export async function waitFor(predicate: () => boolean | Promise<boolean>, what: string, ms = 5000): Promise<void> {
  const until = Date.now() + ms;
  for (;;) {
    if (await predicate()) return;
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await sleep(10);
  }
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** An operator's `/telemetry` socket that records every reading it receives. */
export class Operator {
  readonly socket: Socket;
  readonly received: Reading[] = [];

  constructor(url: string, opts: { autoConnect?: boolean } = {}) {
    this.socket = io(url + Namespace.telemetry, {
      transports: ['websocket'],
      reconnection: false,
      autoConnect: opts.autoConnect ?? true,
    });
    this.socket.on(TelemetryEvent.readings, (p: ReadingsPayload) => this.received.push(...p.readings));
  }

  async connected(): Promise<this> {
    if (this.socket.connected) return this;
    await new Promise<void>((resolve, reject) => {
      this.socket.once('connect', () => resolve());
      this.socket.once('connect_error', reject);
    });
    return this;
  }

  subscribe(deviceId: string, since?: number): Promise<SubscribeAck> {
    return this.socket
      .timeout(5000)
      .emitWithAck(TelemetryEvent.subscribe, since === undefined ? { deviceId } : { deviceId, since });
  }

  of(deviceId: string): Reading[] {
    return this.received.filter((r) => r.deviceId === deviceId);
  }

  close(): void {
    this.socket.disconnect();
  }
}

/** An MQTT device that records what the gateway answers on its error topic. */
export class MqttDevice {
  readonly errors: { code: string; message: string; seq?: number }[] = [];
  private constructor(
    readonly id: string,
    readonly client: MqttClient,
  ) {
    client.on('message', (_t, payload) => this.errors.push(JSON.parse(payload.toString())));
  }

  static async connect(url: string, id: string, opts: mqtt.IClientOptions = {}): Promise<MqttDevice> {
    const client = await mqtt.connectAsync(url, { clientId: id, reconnectPeriod: 0, ...opts });
    const d = new MqttDevice(id, client);
    await client.subscribeAsync(errorsTopic(id), { qos: 0 });
    return d;
  }

  publish(topic: string, payload: string | Buffer | object, qos: 0 | 1 = 1): Promise<unknown> {
    const body = typeof payload === 'string' || Buffer.isBuffer(payload) ? payload : JSON.stringify(payload);
    return this.client.publishAsync(topic, body, { qos });
  }

  async close(): Promise<void> {
    await this.client.endAsync();
  }
}

/** A WebSocket ingest device that records the gateway's replies in order. */
export class WsDevice {
  readonly replies: IngestReply[] = [];
  private constructor(readonly ws: WebSocket) {
    ws.on('message', (data: Buffer) => this.replies.push(JSON.parse(data.toString()) as IngestReply));
  }

  static async connect(url: string, query = ''): Promise<WsDevice> {
    const ws = new WebSocket(url.replace(/^http/, 'ws') + INGEST_PATH + query);
    await new Promise<void>((resolve, reject) => {
      ws.once('open', () => resolve());
      ws.once('error', reject);
    });
    return new WsDevice(ws);
  }

  /** Sends one frame and resolves with the reply to it. */
  async send(payload: string | Buffer | object): Promise<IngestReply> {
    const n = this.replies.length;
    this.ws.send(typeof payload === 'string' || Buffer.isBuffer(payload) ? payload : JSON.stringify(payload));
    await waitFor(() => this.replies.length > n, 'a ws reply');
    return this.replies[n];
  }

  close(): void {
    this.ws.close();
  }
}

/** POSTs readings over HTTP. */
export async function postReadings(
  url: string,
  deviceId: string,
  body: string | object,
): Promise<{ status: number; body: any }> {
  const res = await fetch(`${url}/api/devices/${encodeURIComponent(deviceId)}/readings`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : undefined };
}

export async function getJson(url: string): Promise<{ status: number; body: any }> {
  const res = await fetch(url);
  return { status: res.status, body: await res.json() };
}
