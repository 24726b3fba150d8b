import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SignJWT } from 'jose';
import mqtt, { type MqttClient } from 'mqtt';
import { io, type Socket } from 'socket.io-client';
import WebSocket from 'ws';
import {
  AuthPath,
  deviceTokenPath,
  errorsTopic,
  INGEST_PATH,
  type IngestReply,
  JWT_AUDIENCE,
  JWT_ISSUER,
  Namespace,
  type OperatorRole,
  type ReadingsPayload,
  type Reading,
  type SubscribeAck,
  TelemetryEvent,
} from '@fieldline/contracts';
import { hashPassword } from '../src/auth/password';
import { loadConfig } from '../src/config/config';
import { createGateway, type RunningGateway } from '../src/gateway';

/**
 * Credentials of every test gateway, in this one place. The secret and passwords are for tests only; the gateway
 * itself refuses to start without them.
 */
export const TEST_JWT_SECRET = 'fieldline-test-secret-0123456789abcdefghijklmnop';
export const TEST_ADMIN_PASSWORD = 'admin-test-password';
export const TEST_VIEWER = { username: 'viewer', password: 'viewer-test-password' } as const;

let viewerEntry: Promise<string> | null = null;
/** `USERS` entry of the test viewer (hashed once per test file, with cheap scrypt parameters). */
export function testUsers(): Promise<string> {
  viewerEntry ??= hashPassword(TEST_VIEWER.password, { ln: 10, r: 8, p: 1 }).then(
    (hash) => `${TEST_VIEWER.username}:viewer:${hash}`,
  );
  return viewerEntry;
}

/** Environment a gateway needs to start (for child processes: spread into `env`). */
export async function testAuthEnv(): Promise<Record<string, string>> {
  return { JWT_SECRET: TEST_JWT_SECRET, ADMIN_PASSWORD: TEST_ADMIN_PASSWORD, USERS: await testUsers() };
}

/** Signs any claims with the test secret: forged, expired or wrong-audience tokens for the auth specs. */
export function signTestToken(
  claims: Record<string, unknown> = {},
  opts: { secret?: string; expiresInS?: number; alg?: string } = {},
): Promise<string> {
  const now = Math.floor(Date.now() / 1000);
  return new SignJWT({ role: 'admin', ...claims })
    .setProtectedHeader({ alg: opts.alg ?? 'HS256', typ: 'JWT' })
    .setSubject((claims.sub as string | undefined) ?? 'admin')
    .setIssuer((claims.iss as string | undefined) ?? JWT_ISSUER)
    .setAudience((claims.aud as string | undefined) ?? JWT_AUDIENCE)
    .setIssuedAt((claims.iat as number | undefined) ?? now)
    .setExpirationTime((claims.exp as number | undefined) ?? now + (opts.expiresInS ?? 600))
    .sign(new TextEncoder().encode(opts.secret ?? TEST_JWT_SECRET));
}

/** Logs in over REST. */
export async function login(url: string, username: string, password: string): Promise<{ status: number; body: any }> {
  const res = await fetch(url + AuthPath.login, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ username, password }),
  });
  return { status: res.status, body: await res.json() };
}

export interface TestGateway extends RunningGateway {
  dataDir: string;
  /** Closes the gateway and removes its data dir. */
  stop(): Promise<void>;
  /** An admin JWT (logged in once, then cached). */
  adminToken(): Promise<string>;
  /** A JWT of the test user of that role (default viewer). */
  operatorToken(role?: OperatorRole): Promise<string>;
  /** The device's token: registers the device (as admin) on first use, cached after; `fresh` rotates it. */
  deviceToken(deviceId: string, opts?: { fresh?: boolean }): Promise<string>;
  /** A connected `/telemetry` operator (viewer unless a token is given). */
  operator(opts?: { token?: string }): Promise<Operator>;
  /** A connected MQTT device with its own credentials. */
  mqttDevice(deviceId: string, opts?: mqtt.IClientOptions): Promise<MqttDevice>;
  /** A connected WebSocket ingest device with its own token. */
  wsDevice(deviceId: string): Promise<WsDevice>;
  /** POSTs readings over HTTP with the device's token. */
  post(deviceId: string, body: string | object): Promise<{ status: number; body: any }>;
  /** GET with a viewer token (or the given one); JSON answer. */
  get(path: string, token?: string): Promise<{ status: number; body: any }>;
}

/** Boots a gateway on ephemeral ports with its own data dir and the test credentials. */
export async function startGateway(env: Record<string, string> = {}, dataDir?: string): Promise<TestGateway> {
  const dir = dataDir ?? mkdtempSync(join(tmpdir(), 'fieldline-test-'));
  const config = loadConfig({
    PORT: '0',
    MQTT_PORT: '0',
    HOST: '127.0.0.1',
    DATA_DIR: dir,
    LOG_LEVEL: 'error',
    ...(await testAuthEnv()),
    ...env,
  });
  const gw = await createGateway(config);
  const tokens = new Map<string, Promise<string>>();
  const operatorTokens = new Map<OperatorRole, Promise<string>>();
  const operatorToken = (role: OperatorRole = 'viewer'): Promise<string> => {
    let t = operatorTokens.get(role);
    if (!t) {
      const [user, password] =
        role === 'admin' ? ['admin', TEST_ADMIN_PASSWORD] : [TEST_VIEWER.username, TEST_VIEWER.password];
      t = login(gw.url, user, password).then(({ status, body }) => {
        if (status !== 200) throw new Error(`login as ${user} failed: ${status} ${JSON.stringify(body)}`);
        return body.accessToken as string;
      });
      operatorTokens.set(role, t);
    }
    return t;
  };
  const issue = async (deviceId: string, rotate: boolean): Promise<string> => {
    const admin = { authorization: `Bearer ${await operatorToken('admin')}`, 'content-type': 'application/json' };
    let res = rotate
      ? await fetch(gw.url + deviceTokenPath(deviceId), { method: 'POST', headers: admin })
      : await fetch(gw.url + AuthPath.devices, { method: 'POST', headers: admin, body: JSON.stringify({ deviceId }) });
    if (res.status === 409) res = await fetch(gw.url + deviceTokenPath(deviceId), { method: 'POST', headers: admin });
    const body = (await res.json()) as { token?: string };
    if (!res.ok || !body.token) throw new Error(`token for ${deviceId}: ${res.status} ${JSON.stringify(body)}`);
    return body.token;
  };
  const deviceToken = (deviceId: string, opts: { fresh?: boolean } = {}): Promise<string> => {
    let t = tokens.get(deviceId);
    if (!t || opts.fresh) {
      t = issue(deviceId, !!t);
      tokens.set(deviceId, t);
    }
    return t;
  };
  return {
    ...gw,
    dataDir: dir,
    stop: async () => {
      await gw.close();
      if (!dataDir) rmSync(dir, { recursive: true, force: true });
    },
    adminToken: () => operatorToken('admin'),
    operatorToken,
    deviceToken,
    operator: async (opts = {}) => new Operator(gw.url, { token: opts.token ?? (await operatorToken()) }).connected(),
    mqttDevice: async (deviceId, opts = {}) =>
      MqttDevice.connect(gw.mqttUrl!, deviceId, { username: deviceId, password: await deviceToken(deviceId), ...opts }),
    wsDevice: async (deviceId) => WsDevice.connect(gw.url, '', { token: await deviceToken(deviceId) }),
    post: async (deviceId, body) => postReadings(gw.url, deviceId, body, await deviceToken(deviceId)),
    get: async (path, token) => getJson(gw.url + path, token ?? (await operatorToken())),
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

  constructor(url: string, opts: { token?: string; autoConnect?: boolean } = {}) {
    this.socket = io(url + Namespace.telemetry, {
      transports: ['websocket'],
      reconnection: false,
      autoConnect: opts.autoConnect ?? true,
      auth: opts.token === undefined ? {} : { token: opts.token },
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

/** Connects a socket to a namespace and resolves with how it went: connected, or the `connect_error` data. */
export function connectResult(
  url: string,
  namespace: string,
  auth: Record<string, unknown>,
  extraHeaders?: Record<string, string>,
): Promise<{ connected: true; socket: Socket } | { connected: false; error: { message: string; data?: any } }> {
  const socket = io(url + namespace, {
    transports: ['websocket'],
    reconnection: false,
    auth,
    ...(extraHeaders ? { extraHeaders } : {}),
  });
  return new Promise((resolve) => {
    socket.once('connect', () => resolve({ connected: true, socket }));
    socket.once('connect_error', (err: Error & { data?: any }) => {
      socket.close();
      resolve({ connected: false, error: { message: err.message, data: err.data } });
    });
  });
}

/** An MQTT device that records what the gateway answers on its error topic. */
export class MqttDevice {
  readonly errors: { code: string; message: string; seq?: number }[] = [];
  private constructor(
    readonly id: string,
    readonly client: MqttClient,
  ) {
    client.on('message', (t, payload) => {
      if (t === errorsTopic(id)) this.errors.push(JSON.parse(payload.toString()));
    });
  }

  /** Connects with `opts` (pass `username` = id and `password` = token). */
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

/** The CONNACK return code an MQTT CONNECT gets (0 = accepted). */
export async function mqttConnectCode(url: string, opts: mqtt.IClientOptions): Promise<number> {
  try {
    const client = await mqtt.connectAsync(url, { reconnectPeriod: 0, connectTimeout: 5000, ...opts });
    await client.endAsync();
    return 0;
  } catch (err) {
    const code = (err as { code?: unknown }).code;
    if (typeof code === 'number') return code;
    throw err;
  }
}

/** A WebSocket ingest device that records the gateway's replies in order. */
export class WsDevice {
  readonly replies: IngestReply[] = [];
  private constructor(readonly ws: WebSocket) {
    ws.on('message', (data: Buffer) => this.replies.push(JSON.parse(data.toString()) as IngestReply));
  }

  /** Connects to `/ingest<query>`; `token` goes in `Authorization: Bearer`. */
  static async connect(
    url: string,
    query = '',
    opts: { token?: string; headers?: Record<string, string> } = {},
  ): Promise<WsDevice> {
    const headers = { ...(opts.token ? { authorization: `Bearer ${opts.token}` } : {}), ...opts.headers };
    const ws = new WebSocket(url.replace(/^http/, 'ws') + INGEST_PATH + query, { headers });
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

/** The HTTP status a WebSocket upgrade to `/ingest<query>` gets (101 when it opens). */
export function wsUpgradeStatus(url: string, query: string, headers: Record<string, string> = {}): Promise<number> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url.replace(/^http/, 'ws') + query, { headers });
    ws.on('unexpected-response', (_req, res) => {
      resolve(res.statusCode ?? 0);
      res.resume();
    });
    ws.on('open', () => {
      ws.close();
      resolve(101);
    });
    ws.on('error', (err) => {
      if (!/Unexpected server response/.test(err.message)) reject(err);
    });
  });
}

/** POSTs readings over HTTP, with the device token when given. */
export async function postReadings(
  url: string,
  deviceId: string,
  body: string | object | Buffer,
  token?: string,
): Promise<{ status: number; body: any; retryAfter?: string }> {
  const res = await fetch(`${url}/api/devices/${encodeURIComponent(deviceId)}/readings`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) },
    body: typeof body === 'string' || Buffer.isBuffer(body) ? body : JSON.stringify(body),
  });
  const text = await res.text();
  const out: { status: number; body: any; retryAfter?: string } = {
    status: res.status,
    body: text ? JSON.parse(text) : undefined,
  };
  const retryAfter = res.headers.get('retry-after');
  if (retryAfter !== null) out.retryAfter = retryAfter;
  return out;
}

export async function getJson(url: string, token?: string): Promise<{ status: number; body: any }> {
  const res = await fetch(url, token ? { headers: { authorization: `Bearer ${token}` } } : {});
  return { status: res.status, body: await res.json() };
}
