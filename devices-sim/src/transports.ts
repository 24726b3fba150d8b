import { Agent as HttpAgent, request as httpRequest } from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';
import { connect as mqttConnect, type MqttClient } from 'mqtt';
import WebSocket from 'ws';
import {
  Backoff,
  type ReconnectOptions,
  errorsTopic,
  INGEST_PATH,
  MQTT_BAD_CREDENTIALS,
  readingsPath,
  STATUS_OFFLINE,
  STATUS_ONLINE,
  statusTopic,
  telemetryTopic,
} from '@fieldline/contracts';
import { Deque, type OutMessage, type Transport, type TransportSink } from './device';
import { BAD_REPLY, outcomeOfHttp, outcomeOfWsReply, parseMqttError, parseWsReply } from './replies';

/** Transport error codes (beside the gateway's own codes) that show up in `errors`. */
export const TransportError = {
  /** A connection attempt failed (refused, timed out, DNS). */
  CONNECT_FAILED: 'CONNECT_FAILED',
  /** An established connection reported an error. */
  CONNECTION_ERROR: 'CONNECTION_ERROR',
  /** The connection closed with messages unanswered (they are resent after reconnecting). */
  NO_REPLY: 'NO_REPLY',
  /** A write failed (MQTT publish error, HTTP request failure). */
  SEND_FAILED: 'SEND_FAILED',
  /** The MQTT broker refused the connection for credentials. */
  UNAUTHORIZED: 'UNAUTHORIZED',
  /** A WebSocket answer arrived with no frame waiting for one. */
  UNEXPECTED_REPLY: 'UNEXPECTED_REPLY',
} as const;

/** Longest timer Node accepts: parks mqtt.js's own fixed-period reconnect, which we replace with {@link Backoff}. */
const NEVER_MS = 2 ** 31 - 1;

function waitFor(check: (resolve: (ok: boolean) => void) => () => void, timeoutMs: number): Promise<boolean> {
  return new Promise((resolve) => {
    let done = false;
    const finish = (ok: boolean): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      unsubscribe();
      resolve(ok);
    };
    const timer = setTimeout(() => finish(false), timeoutMs);
    const unsubscribe = check(finish);
  });
}

// ---------------------------------------------------------------------------------------------------------------- MQTT

export interface MqttTransportOptions {
  /** Broker URL, e.g. `mqtt://127.0.0.1:1883`. */
  url: string;
  /** QoS of readings. Default 1. */
  qos?: 0 | 1;
  /** Future device auth: username = device id, password = device token. */
  username?: string;
  password?: string;
  /** Seconds. Default 30. */
  keepalive?: number;
  /** @deprecated a fixed reconnect period; use `reconnect` (jittered exponential backoff). */
  reconnectPeriodMs?: number;
  /** Reconnect backoff. */
  reconnect?: ReconnectOptions;
  /** Unacknowledged QoS 1 publishes before the device holds back. Default 1000. */
  maxInFlight?: number;
}

/**
 * One mqtt.js client per device, MQTT 3.1.1, clean session, last will `offline` retained on the status topic.
 *
 * Unacknowledged QoS 1 publishes stay in mqtt.js's outgoing store across reconnects and are written again, same
 * packet (same `seq`), before anything new: the explicit resend that store-and-forward needs, without a persistent
 * session on the broker. mqtt.js reconnects at a fixed period; we park that timer and reconnect with {@link Backoff}.
 */
export class MqttTransport implements Transport {
  private client: MqttClient | null = null;
  private readonly inFlight = new Set<OutMessage>();
  private readonly qos: 0 | 1;
  private readonly maxInFlight: number;
  private readonly backoff: Backoff;
  private reconnectTimer: NodeJS.Timeout | null = null;
  private closing = false;
  private wasConnected = false;
  private everConnected = false;

  constructor(
    private readonly sink: TransportSink,
    private readonly options: MqttTransportOptions,
  ) {
    this.qos = options.qos ?? 1;
    this.maxInFlight = options.maxInFlight ?? 1000;
    const fixed = options.reconnectPeriodMs;
    this.backoff = new Backoff(options.reconnect ?? (fixed !== undefined ? { baseMs: fixed, capMs: fixed } : {}));
  }

  get connected(): boolean {
    return this.client?.connected === true;
  }

  get writable(): boolean {
    return this.client?.connected === true && this.inFlight.size < this.maxInFlight;
  }

  connect(timeoutMs: number): Promise<boolean> {
    const id = this.sink.id;
    const o = this.options;
    this.closing = false;
    const client = mqttConnect(o.url, {
      clientId: id,
      clean: true,
      keepalive: o.keepalive ?? 30,
      reconnectPeriod: NEVER_MS,
      // A device refused for its credentials keeps trying, as firmware would (its token may be registered later).
      reconnectOnConnackError: true,
      connectTimeout: 10_000,
      protocolVersion: 4,
      // Subscribed on every connect below: with a clean session the broker forgets subscriptions anyway.
      resubscribe: false,
      will: { topic: statusTopic(id), payload: Buffer.from(STATUS_OFFLINE), qos: 1, retain: true },
      ...(o.username !== undefined ? { username: o.username } : {}),
      ...(o.password !== undefined ? { password: o.password } : {}),
    });
    this.client = client;
    const errors = errorsTopic(id);
    client.on('connect', () => {
      this.wasConnected = true;
      this.backoff.up();
      // mqtt.js has just written the unacknowledged publishes again (it emits `connect` once its store is flushed).
      if (this.everConnected && this.inFlight.size && this.qos === 1) this.sink.rewritten?.([...this.inFlight]);
      this.everConnected = true;
      client.publish(statusTopic(id), STATUS_ONLINE, { qos: 1, retain: true });
      client.subscribe(errors, { qos: 0 });
      this.sink.connected();
    });
    client.on('message', (topic, payload) => {
      if (topic !== errors) return;
      const refusal = parseMqttError(payload);
      if (refusal) this.sink.refusedAsync(refusal);
      else this.sink.error(BAD_REPLY);
    });
    client.on('close', () => {
      if (this.wasConnected) {
        this.wasConnected = false;
        this.backoff.down();
        this.sink.disconnected('connection closed');
      }
      this.scheduleReconnect(client);
    });
    client.on('error', (err: Error & { code?: string | number }) => {
      // CONNACK: bad user name or password, or not authorized (3.1.1 and 5).
      if (typeof err.code === 'number' && MQTT_BAD_CREDENTIALS.includes(err.code))
        this.sink.error(TransportError.UNAUTHORIZED);
      else this.sink.error(client.connected ? TransportError.CONNECTION_ERROR : TransportError.CONNECT_FAILED);
    });
    if (client.connected) return Promise.resolve(true);
    return waitFor((finish) => {
      const onConnect = (): void => finish(true);
      client.once('connect', onConnect);
      return () => client.off('connect', onConnect);
    }, timeoutMs);
  }

  send(msg: OutMessage): void {
    const client = this.client!;
    const topic = msg.raw?.topic ?? telemetryTopic(this.sink.id);
    const qos = msg.raw?.qos ?? this.qos;
    this.inFlight.add(msg);
    // QoS 1: the callback runs at PUBACK (mqtt.js keeps the message across reconnects and resends it);
    // QoS 0: once written. Either is what "acked" means on MQTT: validation answers come on the errors topic.
    client.publish(topic, msg.payload, { qos }, (err) => {
      this.inFlight.delete(msg);
      if (err) this.sink.failed([msg], TransportError.SEND_FAILED, false);
      else this.sink.answered(msg, { accepted: msg.count, refused: 0, codes: {} });
      this.sink.drained();
    });
  }

  drop(): void {
    this.client?.stream?.destroy();
  }

  private scheduleReconnect(client: MqttClient): void {
    if (this.reconnectTimer || this.closing || this.client !== client) return;
    this.reconnectTimer = setTimeout(() => {
      this.reconnectTimer = null;
      if (this.closing || this.client !== client || client.connected) return;
      // The same stores: the unacknowledged publishes in the outgoing store are written again after CONNACK.
      client.reconnect({ incomingStore: client.incomingStore, outgoingStore: client.outgoingStore });
    }, this.backoff.next());
  }

  async close(): Promise<void> {
    this.closing = true;
    if (this.reconnectTimer) clearTimeout(this.reconnectTimer);
    this.reconnectTimer = null;
    const client = this.client;
    if (!client) return;
    this.client = null;
    this.wasConnected = false;
    if (client.connected) {
      // A clean DISCONNECT discards the last will, so say `offline` ourselves.
      await Promise.race([
        new Promise<void>((resolve) =>
          client.publish(statusTopic(this.sink.id), STATUS_OFFLINE, { qos: 1, retain: true }, () => resolve()),
        ),
        sleepMs(2000),
      ]);
      // end(false) waits for in-flight QoS 1 publishes; give up on them after a while.
      const ended = await Promise.race([
        new Promise<boolean>((resolve) => client.end(false, {}, () => resolve(true))),
        sleepMs(2000).then(() => false),
      ]);
      if (ended) return;
    }
    await new Promise<void>((resolve) => client.end(true, {}, () => resolve()));
  }
}

// ----------------------------------------------------------------------------------------------------------- WebSocket

export interface WsTransportOptions {
  /** Gateway HTTP base URL, e.g. `http://127.0.0.1:3000` (ws:// and wss:// work too). */
  url: string;
  /** Device token: sent as `Authorization: Bearer` and `?token=`. */
  token?: string;
  /** Frames written and not answered before the device holds back. Default 1000. */
  maxInFlight?: number;
  /** Bytes queued in the socket before the device holds back. Default 1 MiB. */
  maxBufferedBytes?: number;
  /** Reconnect backoff. */
  reconnect?: ReconnectOptions;
}

/** Builds the ingest URL of a device: `ws(s)://host/ingest?deviceId=<id>[&token=...]`. */
export function ingestUrl(base: string, deviceId: string, token?: string): URL {
  const u = new URL(INGEST_PATH, base.replace(/^http/i, 'ws'));
  u.searchParams.set('deviceId', deviceId);
  if (token) u.searchParams.set('token', token);
  return u;
}

/**
 * One WebSocket per device. The gateway answers every frame in order, so answers are matched to frames first in,
 * first out. Frames unanswered when the socket drops are resent (same `seq`) after reconnecting.
 */
export class WsTransport implements Transport {
  private ws: WebSocket | null = null;
  private readonly inFlight = new Deque<OutMessage>();
  private readonly maxInFlight: number;
  private readonly maxBufferedBytes: number;
  private closing = false;
  /** Set by {@link drop}: the close it causes is not counted as a transport error. */
  private dropping = false;
  private readonly backoff: Backoff;
  private reconnectTimer: NodeJS.Timeout | null = null;
  private readonly openWaiters = new Set<() => void>();

  constructor(
    private readonly sink: TransportSink,
    private readonly options: WsTransportOptions,
  ) {
    this.maxInFlight = options.maxInFlight ?? 1000;
    this.maxBufferedBytes = options.maxBufferedBytes ?? 1 << 20;
    this.backoff = new Backoff(options.reconnect);
  }

  get connected(): boolean {
    return this.ws?.readyState === WebSocket.OPEN;
  }

  get writable(): boolean {
    const ws = this.ws;
    return (
      ws !== null &&
      ws.readyState === WebSocket.OPEN &&
      this.inFlight.length < this.maxInFlight &&
      ws.bufferedAmount < this.maxBufferedBytes
    );
  }

  connect(timeoutMs: number): Promise<boolean> {
    this.closing = false;
    if (!this.ws) this.open();
    if (this.connected) return Promise.resolve(true);
    return waitFor((finish) => {
      const onOpen = (): void => finish(true);
      this.openWaiters.add(onOpen);
      return () => this.openWaiters.delete(onOpen);
    }, timeoutMs);
  }

  send(msg: OutMessage): void {
    const ws = this.ws;
    if (!ws || ws.readyState !== WebSocket.OPEN) {
      this.sink.failed([msg], TransportError.NO_REPLY, true);
      return;
    }
    this.inFlight.push(msg);
    ws.send(msg.payload);
  }

  drop(): void {
    if (this.ws?.readyState !== WebSocket.OPEN) return;
    this.dropping = true;
    this.ws.terminate();
  }

  async close(): Promise<void> {
    this.closing = true;
    if (this.reconnectTimer) clearTimeout(this.reconnectTimer);
    this.reconnectTimer = null;
    const ws = this.ws;
    if (!ws) return;
    if (ws.readyState === WebSocket.CLOSED) return;
    const closed = new Promise<void>((resolve) => ws.once('close', () => resolve()));
    if (ws.readyState === WebSocket.OPEN) ws.close(1000, 'device stopping');
    else ws.terminate();
    if (!(await Promise.race([closed.then(() => true), sleepMs(2000).then(() => false)]))) ws.terminate();
  }

  private open(): void {
    const { token } = this.options;
    const ws = new WebSocket(ingestUrl(this.options.url, this.sink.id, token), {
      perMessageDeflate: false,
      handshakeTimeout: 10_000,
      ...(token ? { headers: { Authorization: `Bearer ${token}` } } : {}),
    });
    this.ws = ws;
    let opened = false;
    ws.on('open', () => {
      opened = true;
      this.backoff.up();
      for (const w of [...this.openWaiters]) w();
      this.sink.connected();
    });
    ws.on('message', (data: Buffer) => this.onReply(data));
    ws.on('error', (err) => {
      // Before the upgrade: refused, timed out, or an HTTP answer such as 401 ("Unexpected server response: 401").
      if (opened) return this.sink.error(TransportError.CONNECTION_ERROR);
      const status = /Unexpected server response: (\d{3})/.exec(err.message)?.[1];
      this.sink.error(
        status === '401' ? TransportError.UNAUTHORIZED : status ? `HTTP_${status}` : TransportError.CONNECT_FAILED,
      );
    });
    ws.on('close', (code) => {
      if (this.ws !== ws) return;
      const unanswered = this.inFlight.drain();
      if (opened) {
        this.backoff.down();
        if (!this.closing && !this.dropping && code !== 1000) this.sink.error(`WS_CLOSE_${code}`);
        this.dropping = false;
        this.sink.failed(unanswered, TransportError.NO_REPLY, true, `WS_CLOSE_${code}`);
        this.sink.disconnected(`closed with ${code}`);
      }
      if (!this.closing) this.scheduleReconnect();
    });
  }

  private onReply(data: Buffer): void {
    const msg = this.inFlight.shift();
    if (!msg) return this.sink.error(TransportError.UNEXPECTED_REPLY);
    const reply = parseWsReply(data);
    if (reply) this.sink.answered(msg, outcomeOfWsReply(reply, msg.count), { body: reply });
    else this.sink.failed([msg], BAD_REPLY, false);
    this.sink.drained();
  }

  private scheduleReconnect(): void {
    if (this.reconnectTimer) return;
    this.reconnectTimer = setTimeout(() => {
      this.reconnectTimer = null;
      if (!this.closing) this.open();
    }, this.backoff.next());
  }
}

// ---------------------------------------------------------------------------------------------------------------- HTTP

export interface HttpTransportOptions {
  /** Gateway HTTP base URL, e.g. `http://127.0.0.1:3000`. */
  url: string;
  /** Device token: `Authorization: Bearer`. */
  token?: string;
  /** Concurrent requests (and keep-alive connections) per device. Default 16. */
  maxInFlight?: number;
  /** Per request. Default 10 s. */
  timeoutMs?: number;
  /** Backoff of the probes that find the gateway again. */
  reconnect?: ReconnectOptions;
}

interface HttpAnswer {
  status: number;
  text: string;
}

/**
 * `POST /api/devices/<id>/readings` per message, over node:http with a keep-alive agent per device (several times
 * the request rate of the global fetch, which matters for benchmarks). "Connected" means the gateway answered the
 * latest request or probe; after a network failure the device probes with backoff and resends.
 */
export class HttpTransport implements Transport {
  private up = false;
  private inFlight = 0;
  private closing = false;
  private readonly backoff: Backoff;
  private probeTimer: NodeJS.Timeout | null = null;
  private probing = false;
  private readonly openWaiters = new Set<() => void>();
  private readonly base: URL;
  private readonly endpoint: URL;
  private readonly headers: Record<string, string>;
  private readonly maxInFlight: number;
  private readonly timeoutMs: number;
  private agent: HttpAgent;
  private readonly request: typeof httpRequest;
  private readonly newAgent: () => HttpAgent;

  constructor(
    private readonly sink: TransportSink,
    private readonly options: HttpTransportOptions,
  ) {
    this.base = new URL(options.url.replace(/^ws/i, 'http'));
    const basePath = this.base.pathname.replace(/\/+$/, '');
    this.endpoint = new URL(`${basePath}${readingsPath(sink.id)}`, this.base);
    this.headers = { 'content-type': 'application/json' };
    if (options.token) this.headers.authorization = `Bearer ${options.token}`;
    this.maxInFlight = options.maxInFlight ?? 16;
    this.timeoutMs = options.timeoutMs ?? 10_000;
    const https = this.base.protocol === 'https:';
    this.request = https ? httpsRequest : httpRequest;
    this.newAgent = () => new (https ? HttpsAgent : HttpAgent)({ keepAlive: true, maxSockets: this.maxInFlight });
    this.agent = this.newAgent();
    this.backoff = new Backoff(options.reconnect);
  }

  get connected(): boolean {
    return this.up;
  }

  get writable(): boolean {
    return this.up && this.inFlight < this.maxInFlight;
  }

  connect(timeoutMs: number): Promise<boolean> {
    this.closing = false;
    if (this.up) return Promise.resolve(true);
    void this.probe();
    return waitFor((finish) => {
      const onUp = (): void => finish(true);
      this.openWaiters.add(onUp);
      return () => this.openWaiters.delete(onUp);
    }, timeoutMs);
  }

  send(msg: OutMessage): void {
    this.inFlight++;
    this.call('POST', this.endpoint, msg.payload).then(
      ({ status, text }) => {
        this.inFlight--;
        let body: unknown = text;
        try {
          body = JSON.parse(text);
        } catch {
          // not JSON (a proxy's error page): outcomeOfHttp counts it by status
        }
        this.sink.answered(msg, outcomeOfHttp(status, body, msg.count), { status, body });
        this.sink.drained();
      },
      () => {
        this.inFlight--;
        this.sink.failed([msg], TransportError.SEND_FAILED, true);
        this.markDown();
      },
    );
  }

  /** Kills every connection, requests in flight included (they fail and are resent once the gateway answers again). */
  drop(): void {
    if (!this.up) return;
    const old = this.agent;
    this.agent = this.newAgent();
    old.destroy();
    this.markDown();
  }

  close(): Promise<void> {
    this.closing = true;
    if (this.probeTimer) clearTimeout(this.probeTimer);
    this.probeTimer = null;
    this.up = false;
    // Idle keep-alive sockets would hold the process (and the gateway's connection count) open.
    this.agent.destroy();
    return Promise.resolve();
  }

  private call(method: string, url: URL, body?: string | Buffer): Promise<HttpAnswer> {
    return new Promise((resolve, reject) => {
      const headers = body === undefined ? {} : { ...this.headers, 'content-length': String(Buffer.byteLength(body)) };
      const req = this.request(url, { method, headers, agent: this.agent, timeout: this.timeoutMs }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8') }));
        res.on('error', reject);
      });
      req.on('timeout', () => req.destroy(new Error('request timed out')));
      req.on('error', reject);
      req.end(body);
    });
  }

  private markDown(): void {
    if (!this.up) return;
    this.up = false;
    this.backoff.down();
    this.sink.disconnected('request failed');
    this.scheduleProbe();
  }

  /** Any HTTP answer (even 404) proves the gateway reachable; only network failures count as down. */
  private async probe(): Promise<void> {
    if (this.probing || this.closing) return;
    this.probing = true;
    try {
      await this.call('GET', new URL(`${this.base.pathname.replace(/\/+$/, '')}/health`, this.base));
      if (!this.closing && !this.up) {
        this.up = true;
        this.backoff.up();
        for (const w of [...this.openWaiters]) w();
        this.sink.connected();
      }
    } catch {
      if (!this.closing) this.sink.error(TransportError.CONNECT_FAILED);
      this.scheduleProbe();
    } finally {
      this.probing = false;
    }
  }

  private scheduleProbe(): void {
    if (this.probeTimer || this.closing) return;
    this.probeTimer = setTimeout(() => {
      this.probeTimer = null;
      void this.probe();
    }, this.backoff.next());
  }
}

function sleepMs(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms).unref());
}
