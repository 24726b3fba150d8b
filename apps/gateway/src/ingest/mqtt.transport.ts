import { createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { Aedes, type Client, type PublishPacket, type Subscription } from 'aedes';
import {
  ConnackCode,
  deviceMessageTopic,
  type DeviceMessage,
  type ErrorBody,
  ErrorCode,
  FieldlineError,
  errorsTopic,
  isValidDeviceId,
  LIMITS,
  parseCommandResultTopic,
  parseTopic,
  STATUS_OFFLINE,
  statusTopic,
  type ParsedMessage,
  type SendOutcome,
} from '@fieldline/contracts';
import type { DeviceAuth } from '../auth/device-auth.service';
import type { MqttDeviceBudget } from '../config/mqtt.config';
import { capMqttPacketSize } from '../common/third-party.patches';
import type { PresenceService } from '../devices/presence.service';
import type { DeviceEvents } from './device-events';
import type { DeviceTransport } from './device-transport';
import type { IngestPipeline } from './ingest.pipeline';
import { MqttSessionBudget } from './mqtt.sessions';
import type { Logger as AppLogger } from '../common/logger';

/**
 * Packets above the message limit still reach the pipeline (and get MESSAGE_TOO_LARGE on the device's error topic);
 * packets well above it (the limit plus room for a topic and headers) are cut off at the parser, so one client
 * cannot make the broker buffer more than tens of KB.
 */
export const MQTT_HARD_MAX_PACKET_BYTES = LIMITS.maxMessageBytes + 4 * 1024;

/** A refused publish is rewritten to this topic: no device may subscribe to it, so it goes nowhere. */
const DROPPED_TOPIC = '$fieldline/dropped';

const { IDENTIFIER_REJECTED, NOT_AUTHORIZED, SERVER_UNAVAILABLE } = ConnackCode;
const CONNACK_TEXT: Record<number, string> = {
  [IDENTIFIER_REJECTED]: 'identifier rejected',
  [NOT_AUTHORIZED]: 'not authorized',
  [SERVER_UNAVAILABLE]: 'server unavailable',
};
/** What a refused CONNECT is counted as. */
const REFUSAL_CODE: Record<number, ErrorCode> = {
  [IDENTIFIER_REJECTED]: ErrorCode.FORBIDDEN,
  [NOT_AUTHORIZED]: ErrorCode.UNAUTHORIZED,
  [SERVER_UNAVAILABLE]: ErrorCode.RATE_LIMITED,
};

/** What one device may hold on the embedded broker. */
export interface MqttBrokerBudget {
  /** Open connections per device; one more CONNECT is refused with SERVER_UNAVAILABLE (3). */
  connections: number;
  session: MqttDeviceBudget;
}

/** Longest client id accepted (MQTT allows 65535 bytes; no real client needs more than a few dozen characters). */
export const MAX_CLIENT_ID_LENGTH = 256;

/**
 * The id aedes keys a device's session by: the device id has no `/`, so this is one-to-one and no client id chosen by
 * one device can name another device's session.
 */
export const scopedClientId = (deviceId: string, clientId: string): string => `${deviceId}/${clientId}`;

/** The device of a scoped client id (see {@link scopedClientId}). */
const deviceOfSession = (id: string): string => id.slice(0, id.indexOf('/'));

/** A string from the wire, bounded and escaped for one log line. */
const quote = (s: string): string => JSON.stringify(s.length > 64 ? `${s.slice(0, 64)}…` : s);

/** Allows `max` log lines per `windowMs`; the first line of the next window says how many were left out. */
class LogBudget {
  private left: number;
  private until = 0;
  private skipped = 0;
  constructor(
    private readonly log: Logger,
    private readonly max = 10,
    private readonly windowMs = 10_000,
  ) {
    this.left = max;
  }
  take(now = Date.now()): boolean {
    if (now >= this.until) {
      if (this.skipped > 0) this.log.warn(`mqtt: ${this.skipped} more refused CONNECTs not logged`);
      this.until = now + this.windowMs;
      this.left = this.max;
      this.skipped = 0;
    }
    if (this.left > 0) return this.left-- > 0;
    this.skipped++;
    return false;
  }
}

/** What this part logs with: a subset of the gateway's one logger (`logger()`), so tests pass a stub. */
type Logger = Pick<AppLogger, 'log' | 'warn'>;

/**
 * The embedded MQTT broker (aedes, MQTT 3.1.1). Readings published to `devices/<id>/telemetry` are ingested inside
 * `authorizePublish`, i.e. before the broker sends PUBACK: a QoS 1 ack means the reading is in the spool.
 */
export class MqttBrokerTransport implements DeviceTransport {
  readonly kind = 'mqtt';
  readonly name = 'mqtt-broker';
  private broker: Aedes | null = null;
  private server: Server | null = null;
  private readonly sockets = new Set<Socket>();
  /** The device each connected client authenticated as: checked once, at CONNECT. */
  private readonly deviceOf = new WeakMap<Client, string>();
  private readonly clientsOf = new Map<string, Set<Client>>();
  /** Will topics seen in CONNECT (preConnect), checked in authenticate. */
  private readonly willOf = new WeakMap<Client, string | null>();
  private unlisten: (() => void) | null = null;
  private readonly refusalLog: LogBudget;
  /** Session expiry, queue bound and subscription limits. */
  readonly sessions: MqttSessionBudget;

  constructor(
    private readonly pipeline: IngestPipeline,
    private readonly presence: PresenceService,
    private readonly log: Logger,
    private readonly devices: DeviceAuth,
    private readonly listenOn: { port: number; host: string },
    private readonly budget: MqttBrokerBudget,
    /** Where command PUBACKs and results go, and who hears of command subscriptions; null: not answered. */
    private readonly events: DeviceEvents | null = null,
  ) {
    this.refusalLog = new LogBudget(log);
    this.sessions = new MqttSessionBudget(budget.session, deviceOfSession);
  }

  /** The port the broker listens on (known once started; `listenOn.port` 0 picks a free one). */
  get port(): number {
    return (this.server?.address() as AddressInfo | null)?.port ?? this.listenOn.port;
  }

  async start(): Promise<void> {
    await this.listen(this.listenOn.port, this.listenOn.host);
  }

  private async listen(port: number, host: string): Promise<number> {
    const broker = await Aedes.createBroker({
      // No queue in aedes' emitter: its queue drains recursively and overflowed the stack under a sustained load
      // (mcollina/mqemitter#204). What bounds the publishes in flight instead is backpressure: a client's socket is
      // not read again until its previous batch of publishes is spooled (authorizePublish below).
      concurrency: 0,
      maxInflightInbound: this.budget.session.inflight,
      preConnect: (client, packet, done) => {
        this.willOf.set(client, packet.will?.topic ?? null);
        done(null, true);
      },
      authenticate: (client, username, password, done) => {
        const refuse = (code: number): void => {
          const err = new Error(CONNACK_TEXT[code] ?? 'refused');
          done(Object.assign<Error, { returnCode: number }>(err, { returnCode: code }), false);
        };
        this.authenticate(client, username, password).then(
          (code) => (code === 0 ? done(null, true) : refuse(code)),
          (err: unknown) => {
            this.log.warn(`mqtt authenticate failed: ${err instanceof Error ? err.message : String(err)}`);
            refuse(NOT_AUTHORIZED);
          },
        );
      },
      authorizePublish: (client, packet, done) => {
        // PUBACK (and aedes reading the client's next packets) waits until accepted readings are in the spool: the
        // ack is safe, and a device that outruns the gateway is not read from (TCP backpressure) instead of queuing.
        if (client && this.onDevicePublish(client, packet)) this.pipeline.afterDurable((err) => done(err ?? null));
        else done(null);
      },
      authorizeSubscribe: (client, sub, done) =>
        done(null, this.mayFollow(client, sub) && this.sessions.maySubscribe(client, sub.topic) ? sub : null),
    });
    this.sessions.attach(broker);
    broker.on('publish', (packet) => {
      // Status (including a device's last will) is handled here: wills do not pass authorizePublish. A will's topic
      // was checked at CONNECT, a status publish in authorizePublish, so the topic names the publishing device.
      const t = parseTopic(packet.topic);
      if (t?.kind === 'status' && t.validId && packet.payload.toString() === STATUS_OFFLINE)
        this.presence.markOffline(t.deviceId);
    });
    broker.on('clientDisconnect', (client) => this.forget(client));
    // The device's own PUBACK of a command publish is what makes the command delivered (QoS 1 subscription).
    broker.on('ack', (packet, client) => {
      const deviceId = client && this.deviceOf.get(client);
      // No packet: a PUBACK for a message id the session no longer holds.
      if (
        deviceId === undefined ||
        !packet ||
        !('topic' in packet) ||
        !packet.topic.startsWith(`devices/${deviceId}/commands/`)
      )
        return;
      const id = commandIdOf(packet.payload);
      if (id !== null) this.events?.ack(deviceId, id);
    });
    // Commands are sent once the device listens for them: a publish before its SUBSCRIBE would reach nobody.
    broker.on('subscribe', (subs, client) => {
      const deviceId = client && this.deviceOf.get(client);
      if (deviceId === undefined) return;
      const prefix = `devices/${deviceId}/`;
      if (subs.some((s) => s.qos > 0 && (s.topic === `${prefix}#` || s.topic.startsWith(`${prefix}commands/`))))
        this.events?.connected(deviceId);
    });
    broker.on('clientError', (client, err) => {
      this.forget(client);
      // Refused CONNECTs are counted at /metrics; a device retrying with a bad token must not flood the log.
      if ((err as Error & { errorCode?: number }).errorCode !== undefined) return;
      this.log.warn(`mqtt client ${client.id}: ${err.message}`, { transport: 'mqtt', clientId: client.id });
    });
    // A revoked or rotated token ends the device's sessions at once.
    this.unlisten = this.devices.onRevoked((deviceId) => {
      for (const c of this.clientsOf.get(deviceId) ?? []) c.close();
    });
    const server = createServer((socket) => {
      this.sockets.add(socket);
      // Small packets answered by small packets (PUBACK, a command, its result): with Nagle's algorithm each waited
      // for the peer's delayed ACK, 40 ms per command round trip (44 ms → 4 ms p50 measured).
      socket.setNoDelay(true);
      socket.once('close', () => this.sockets.delete(socket));
      capMqttPacketSize(broker.handle(socket), MQTT_HARD_MAX_PACKET_BYTES);
    });
    this.broker = broker;
    this.server = server;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, host, () => {
        server.off('error', reject);
        resolve();
      });
    });
    return (server.address() as AddressInfo).port;
  }

  get ready(): boolean {
    return this.server?.listening === true && this.broker?.closed === false;
  }

  get connectedClients(): number {
    return this.broker?.connectedClients ?? 0;
  }

  /** Shutdown, first step: refuses new connections from now on; connected clients stay until {@link close}. */
  stopAccepting(): void {
    if (this.server?.listening) this.server.close();
  }

  /**
   * Nothing to wait for: a publish is acknowledged in authorizePublish once its readings are spooled, so what a device
   * sent is either acknowledged already or will be answered by the pipeline (SHUTTING_DOWN once it closes).
   */
  async drain(): Promise<void> {}

  /** Publishes to `devices/<id>/<channel>/<name>` at QoS 1, for the device's own subscription to take. */
  send(deviceId: string, message: DeviceMessage): Promise<SendOutcome> {
    const broker = this.broker;
    if (!broker || !this.clientsOf.has(deviceId)) return Promise.resolve('offline');
    const packet = {
      cmd: 'publish' as const,
      topic: deviceMessageTopic(deviceId, message),
      payload: Buffer.from(JSON.stringify(message.payload)),
      qos: 1 as const,
      retain: false,
      dup: false,
    };
    return new Promise((resolve, reject) => broker.publish(packet, (err) => (err ? reject(err) : resolve('sent'))));
  }

  async close(): Promise<void> {
    const { server, broker } = this;
    if (!server || !broker) return;
    this.server = null;
    this.unlisten?.();
    this.sessions.close();
    const closed = new Promise<void>((resolve) => server.close(() => resolve()));
    await new Promise<void>((resolve) => broker.close(() => resolve()));
    for (const s of this.sockets) s.destroy();
    await closed;
  }

  /**
   * CONNECT: user name = device id, password = the device's token, any client id (standard clients make one up);
   * a last will may only go to the device's own status topic. aedes keys sessions, takeover and persistent
   * subscriptions by `client.id`, so the id is scoped to the device here (`<device id>/<client id>`, before aedes
   * looks the session up): two devices that pick the same client id never meet. Returns the CONNACK return code.
   */
  private async authenticate(
    client: Client,
    username: string | undefined,
    password: Buffer | undefined,
  ): Promise<number> {
    if (!isValidDeviceId(username))
      return this.refuseConnect(
        NOT_AUTHORIZED,
        client,
        username === undefined ? 'no user name (the device id)' : `user name ${quote(username)} is not a device id`,
      );
    if (!password) return this.refuseConnect(NOT_AUTHORIZED, client, `device ${username}: no password (its token)`);
    const deviceId = await this.devices.verify(password.toString('utf8'));
    if (deviceId !== username)
      return this.refuseConnect(NOT_AUTHORIZED, client, `device ${username}: the password is not its token`);
    const will = this.willOf.get(client);
    if (will != null && will !== statusTopic(deviceId))
      return this.refuseConnect(
        NOT_AUTHORIZED,
        client,
        `device ${deviceId}: a last will on ${quote(will)}; only ${statusTopic(deviceId)}`,
      );
    if (client.id.length > MAX_CLIENT_ID_LENGTH)
      return this.refuseConnect(
        IDENTIFIER_REJECTED,
        client,
        `device ${deviceId}: client id of ${client.id.length} characters (at most ${MAX_CLIENT_ID_LENGTH})`,
      );
    const id = scopedClientId(deviceId, client.id);
    let set = this.clientsOf.get(deviceId);
    // A client taking over its own session does not count: aedes closes the one it replaces.
    let held = 0;
    for (const c of set ?? []) if (c.id !== id) held++;
    if (held >= this.budget.connections)
      return this.refuseConnect(
        SERVER_UNAVAILABLE,
        client,
        `device ${deviceId} already holds ${held} MQTT connections (DEVICE_MQTT_CONNECTIONS=${this.budget.connections})`,
      );
    client.id = id;
    this.deviceOf.set(client, deviceId);
    if (!set) this.clientsOf.set(deviceId, (set = new Set()));
    set.add(client);
    return 0;
  }

  private refuseConnect(code: number, client: Client, why: string): number {
    const errorCode = REFUSAL_CODE[code] ?? ErrorCode.UNAUTHORIZED;
    this.pipeline.refuse('mqtt', errorCode);
    // A device retrying with a bad token must not flood the log: a few lines per window, then a count.
    if (this.refusalLog.take())
      this.log.warn(`mqtt CONNECT refused (${code} ${CONNACK_TEXT[code]}), client id ${quote(client.id)}: ${why}`, {
        transport: 'mqtt',
        code: errorCode,
        connack: code,
        clientId: client.id,
      });
    return code;
  }

  private forget(client: Client): void {
    const deviceId = this.deviceOf.get(client);
    if (deviceId === undefined) return;
    const set = this.clientsOf.get(deviceId);
    set?.delete(client);
    if (set?.size === 0) this.clientsOf.delete(deviceId);
  }

  /** A device may subscribe only below `devices/<its id>/` (its errors and status topics). */
  private mayFollow(client: Client, sub: Subscription): boolean {
    const deviceId = this.deviceOf.get(client);
    return deviceId !== undefined && sub.topic.startsWith(`devices/${deviceId}/`);
  }

  /**
   * Every device publish passes here, before PUBACK. `devices/<own id>/telemetry` is ingested, `devices/<own id>/status`
   * passes, `devices/<own id>/results/<command id>` goes to the command service; anything else is refused on the device's errors topic (FORBIDDEN for another device's topics,
   * INVALID_TOPIC otherwise) and dropped. MQTT 3.1.1 has no negative PUBACK: the refused packet is still acked.
   */
  private onDevicePublish(client: Client, packet: PublishPacket): boolean {
    const deviceId = this.deviceOf.get(client);
    const t = parseTopic(packet.topic);
    // Not parsed on the hot path: only a topic that is none of telemetry, status and errors can be a result's.
    const r = t === null ? parseCommandResultTopic(packet.topic) : null;
    if (r !== null && deviceId !== undefined && this.events) {
      if (r.deviceId === deviceId) {
        // Taken here, not forwarded: the device's own subscription to its topics must not echo it back.
        packet.topic = DROPPED_TOPIC;
        packet.retain = false;
        const refusal = this.events.reply(deviceId, r.commandId, packet.payload.toString('utf8'));
        if (refusal) {
          this.pipeline.refuse('mqtt', refusal.code, true);
          this.sendError(deviceId, refusal);
        }
        return false;
      }
    }
    if (deviceId !== undefined && t?.deviceId === deviceId) {
      if (t.kind === 'status') return false;
      if (t.kind === 'telemetry') {
        let parsed: ParsedMessage;
        try {
          parsed = this.pipeline.ingest(packet.payload, 'mqtt', deviceId);
        } catch (err) {
          this.sendError(deviceId, err instanceof FieldlineError ? err.toBody() : internal(err, this.log));
          return false;
        }
        for (const e of parsed.errors) this.sendError(deviceId, e);
        return parsed.readings.length > 0;
      }
    }
    const topic = packet.topic;
    packet.topic = DROPPED_TOPIC;
    packet.retain = false;
    if (deviceId === undefined) return false;
    const named = t ?? r;
    const code = named && named.deviceId !== deviceId ? ErrorCode.FORBIDDEN : ErrorCode.INVALID_TOPIC;
    this.pipeline.refuse('mqtt', code, true);
    this.sendError(deviceId, {
      code,
      message:
        code === ErrorCode.FORBIDDEN
          ? `device ${deviceId} may not publish to ${topic.slice(0, 200)}: only below devices/${deviceId}/`
          : `devices publish readings to devices/${deviceId}/telemetry, status to devices/${deviceId}/status and command results to devices/${deviceId}/results/<command id>; not to ${topic.slice(0, 200)}`,
    });
    return false;
  }

  private sendError(deviceId: string, body: ErrorBody): void {
    this.broker?.publish(
      {
        cmd: 'publish',
        topic: errorsTopic(deviceId),
        payload: Buffer.from(JSON.stringify(body)),
        qos: 0,
        retain: false,
        dup: false,
      },
      () => {},
    );
  }
}

/** The `id` of a command payload ({@link CommandDelivery}), or null. */
function commandIdOf(payload: Buffer | string): string | null {
  try {
    const id = (JSON.parse(payload.toString()) as { id?: unknown }).id;
    return typeof id === 'string' ? id : null;
  } catch {
    return null;
  }
}

function internal(err: unknown, log: Logger): ErrorBody {
  log.warn(`mqtt ingest failed: ${err instanceof Error ? err.stack : String(err)}`, {
    transport: 'mqtt',
    code: ErrorCode.INTERNAL,
  });
  return { code: ErrorCode.INTERNAL, message: 'internal error' };
}
