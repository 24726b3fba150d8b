import { connect, type IClientOptions, type IConnackPacket, type IPublishPacket, type MqttClient } from 'mqtt';
import {
  Backoff,
  MQTT_BAD_CREDENTIALS,
  MQTT_UNSUPPORTED_PROTOCOL,
  NODE_TOPIC_PREFIX,
  nodeStatusTopic,
  ReasonCode,
  deviceMessageTopic,
  type DeviceMessage,
  type ErrorBody,
  ErrorCode,
  errorMessage,
  errorsTopic,
  FieldlineError,
  type ParsedMessage,
  parseCommandResultTopic,
  parseTopic,
  redactUrl,
  type SendOutcome,
  STATUS_OFFLINE,
  STATUS_ONLINE,
} from '@fieldline/contracts';
import type { Logger } from '../common/logger';
import type { PresenceService } from '../devices/presence.service';
import type { DeviceEvents } from './device-events';
import type { DeviceTransport } from './device-transport';
import type { IngestPipeline } from './ingest.pipeline';
import { StoredAcks } from './mqtt-client.acks';
import {
  clientIdOf,
  type MqttClientOptions,
  NODE_SUBSCRIPTIONS,
  sessionOptions,
  WILL_DELAY_S,
} from './mqtt-client.session';
import { PeerTakeover, type TakeoverHost } from './mqtt-client.takeover';

export { clientIdOf, type MqttClientOptions, nodeStatusTopic } from './mqtt-client.session';

/*
 * The external broker (production mode, MQTT_URL): every gateway node is a client of one broker (Mosquitto, EMQX)
 * and the broker splits device telemetry between them with a shared subscription.
 *
 * - Session: MQTT 5 (3.1.1 when the broker has no 5), client id `fieldline-<NODE_ID>`, persistent session
 *   (clean start off, session expiry MQTT_SESSION_EXPIRY), QoS 1. What the broker sent and the node did not
 *   acknowledge stays in the node's session.
 * - PUBACK only once the reading is *stored*: a reading only in the write buffer would die with the process
 *   (SIGKILL, OOM), and the broker would have forgotten it. mqtt.js handles incoming packets one at a time and
 *   waits for `handleMessage`'s callback before the next, so holding the callback would serialise the node on its
 *   store writes. Instead the callback returns at once (the reading is in the write buffer) and the PUBACK packet
 *   itself is held until the pipeline reports the reading stored (see {@link StoredAcks}), in receive order. Up to
 *   `receiveMaximum` messages may wait so; the broker redelivers every held one if the connection drops.
 * - Takeover of a dead peer's session: mqtt-client.takeover.ts.
 * - Reconnects back off exponentially with jitter, so nodes that lost the broker together do not return together.
 * - Errors go to `devices/<id>/errors`, as with the embedded broker; `devices/<id>/status` `offline` marks the device
 *   offline (a shared subscription too: one node sees it, shared presence tells the others).
 */

export class MqttClientTransport implements DeviceTransport, TakeoverHost {
  readonly kind = 'mqtt';
  readonly name = 'mqtt-client';
  client: MqttClient | null = null;
  closing = false;
  private acks: StoredAcks | null = null;
  private protocolVersion: 4 | 5 = 5;
  private subscribed = false;
  private readonly backoff: Backoff;
  private reconnectTimer: NodeJS.Timeout | null = null;
  private lastMessageAt = 0;
  private readonly takeover: PeerTakeover;
  /** Counters for /metrics. */
  readonly counters = { received: 0, reconnects: 0 };

  constructor(
    private readonly pipeline: IngestPipeline,
    private readonly presence: PresenceService,
    readonly opts: MqttClientOptions,
    private readonly log: Logger,
    /** Where command results go, and who hears of devices coming online; null: not answered. */
    private readonly events: DeviceEvents | null = null,
  ) {
    const base = opts.reconnectBaseMs ?? 250;
    this.backoff = new Backoff({ baseMs: base, capMs: 30_000, floorMs: base / 2, stableMs: 0 });
    this.takeover = new PeerTakeover(this, pipeline, log);
  }

  /** Sessions of dead peers this node drained, and the messages in them. */
  get takeovers(): { drained: number; takeovers: number } {
    return this.takeover.counters;
  }

  get clientId(): string {
    return clientIdOf(this.opts.nodeId);
  }

  /** Connected, subscribed and taking messages. */
  get ready(): boolean {
    return this.client?.connected === true && this.subscribed && !this.closing;
  }

  /** PUBACKs waiting for their readings to be stored (all clients, this node's and drains'). */
  get pendingAcks(): number {
    return this.acks?.pending ?? 0;
  }

  get protocol(): 4 | 5 {
    return this.protocolVersion;
  }

  /**
   * Connects and subscribes; resolves once the first subscription is in place. Rejects (naming the variable) when
   * the broker refuses the credentials or does not answer within `timeoutMs`; the node must not run half-connected.
   */
  async start(_context?: unknown, timeoutMs = 15_000): Promise<void> {
    await new Promise<void>((resolve, reject) => {
      const fail = (err: Error): void => {
        this.closing = true;
        if (this.reconnectTimer) clearTimeout(this.reconnectTimer);
        this.reconnectTimer = null;
        this.stopClient();
        reject(err);
      };
      const timer = setTimeout(
        () =>
          fail(new Error(`MQTT_URL: no connection to ${redactUrl(this.opts.url, 'MQTT_URL')} within ${timeoutMs} ms`)),
        timeoutMs,
      );
      this.onFirstReady = (err) => {
        clearTimeout(timer);
        this.onFirstReady = null;
        if (err) fail(err);
        else resolve();
      };
      this.open();
    });
  }

  private onFirstReady: ((err?: Error) => void) | null = null;

  private open(): void {
    const o = this.opts;
    const v5 = this.protocolVersion === 5;
    const options: IClientOptions = {
      ...sessionOptions(o, this.clientId, this.protocolVersion),
      will: {
        topic: nodeStatusTopic(o.nodeId),
        payload: Buffer.from(STATUS_OFFLINE),
        qos: 1,
        retain: true,
        ...(v5 ? { properties: { willDelayInterval: WILL_DELAY_S } } : {}),
      },
    };
    const client = connect(o.url, options);
    this.client = client;
    this.acks = new StoredAcks(client, this.pipeline);
    client.handleMessage = (packet, done) => done(this.onMessage(client, this.acks!, packet, false));
    client.on('connect', (connack) => this.onConnect(client, connack));
    client.on('close', () => this.onClose(client));
    client.on('disconnect', (packet) => {
      if (packet.reasonCode === ReasonCode.SESSION_TAKEN_OVER) {
        this.log.warn(
          `broker: another client connected as ${this.clientId} (a peer draining this node, or a second process with NODE_ID=${o.nodeId}); reconnecting`,
        );
      }
    });
    client.on('error', (err: Error & { code?: number }) => this.onError(client, err));
  }

  private onConnect(client: MqttClient, connack: IConnackPacket): void {
    if (client !== this.client) return;
    this.backoff.reset();
    const url = redactUrl(this.opts.url, 'MQTT_URL');
    if (!connack.sessionPresent) this.log.log(`connected to ${url} (MQTT ${this.protocolVersion})`);
    else this.log.log(`connected to ${url}; resuming session ${this.clientId}`);
    client.publish(nodeStatusTopic(this.opts.nodeId), STATUS_ONLINE, { qos: 1, retain: true });
    // Subscribed on every connect: the session may have expired while the node was away.
    client.subscribe(Object.fromEntries(NODE_SUBSCRIPTIONS.map((filter) => [filter, { qos: 1 as const }])), (err) => {
      if (client !== this.client) return;
      if (err) {
        this.log.error(`subscribe failed: ${err.message}`);
        this.onFirstReady?.(new Error(`MQTT_URL: the broker refused the subscriptions: ${err.message}`));
        return;
      }
      this.subscribed = true;
      this.onFirstReady?.();
    });
  }

  private onClose(client: MqttClient): void {
    if (client !== this.client) return;
    this.subscribed = false;
    this.acks?.reset();
    if (!this.closing) this.scheduleReconnect();
  }

  private onError(client: MqttClient, err: Error & { code?: number }): void {
    if (client !== this.client) return;
    if (err.code !== undefined && MQTT_UNSUPPORTED_PROTOCOL.includes(err.code) && this.protocolVersion === 5) {
      // A 3.1.1 broker: shared subscriptions still work on Mosquitto and EMQX, without session expiry or will delay.
      this.log.warn('the broker does not speak MQTT 5; using 3.1.1');
      this.protocolVersion = 4;
      this.stopClient();
      this.open();
      return;
    }
    if (err.code !== undefined && MQTT_BAD_CREDENTIALS.includes(err.code)) {
      const msg = `MQTT_USERNAME / MQTT_PASSWORD: the broker refused this gateway's credentials (${err.message})`;
      if (this.onFirstReady) {
        this.onFirstReady(new Error(msg));
        return;
      }
      this.log.error(msg);
      return;
    }
    this.log.warn(`broker connection: ${err.message}`);
  }

  private scheduleReconnect(): void {
    if (this.reconnectTimer !== null || this.closing) return;
    const delay = this.backoff.next();
    this.reconnectTimer = setTimeout(() => {
      this.reconnectTimer = null;
      if (this.closing || !this.client) return;
      this.counters.reconnects++;
      this.client.reconnect();
    }, delay);
  }

  /**
   * One incoming publish. Returns undefined to acknowledge (after the reading is stored, when one was buffered),
   * or an error to leave the message unacknowledged (the broker resends it on the next connection).
   */
  onMessage(client: MqttClient, acks: StoredAcks, packet: IPublishPacket, drain: boolean): Error | undefined {
    this.lastMessageAt = Date.now();
    const topic = packet.topic;
    if (topic.startsWith(NODE_TOPIC_PREFIX)) {
      if (!drain) this.takeover.onNodeStatus(topic, packet.payload.toString());
      return undefined;
    }
    const t = parseTopic(topic);
    if (t?.kind === 'status') {
      const status = packet.payload.toString();
      if (t.validId && status === STATUS_OFFLINE) this.presence.markOffline(t.deviceId);
      // The broker does not tell of connections: a device's `online` is when its queue of commands is sent.
      else if (t.validId && status === STATUS_ONLINE && !drain) this.events?.connected(t.deviceId);
      return undefined;
    }
    if (t === null) {
      // The broker's ACL (docs/production.md) lets a device write only below its own id: the topic names it.
      const r = parseCommandResultTopic(topic);
      if (r !== null && this.events) {
        const refusal = this.events.reply(r.deviceId, r.commandId, packet.payload.toString('utf8'));
        if (refusal) {
          this.pipeline.refuse('mqtt', refusal.code, true);
          this.sendError(client, r.deviceId, refusal);
        }
      }
      return undefined;
    }
    if (t?.kind !== 'telemetry') return undefined;
    this.counters.received++;
    if (!t.validId) {
      this.pipeline.refuse('mqtt', ErrorCode.INVALID_DEVICE_ID, true);
      this.sendError(client, t.deviceId, {
        code: ErrorCode.INVALID_DEVICE_ID,
        message: 'the device id in the topic must be 1–64 characters of A-Z a-z 0-9 _ . -',
      });
      return undefined;
    }
    let parsed: ParsedMessage;
    try {
      parsed = this.pipeline.ingest(packet.payload, 'mqtt', t.deviceId);
    } catch (err) {
      // Shutting down: leave it to the session (a peer or this node's next run ingests it).
      if (err instanceof FieldlineError && err.code === ErrorCode.SHUTTING_DOWN) return err;
      this.sendError(client, t.deviceId, err instanceof FieldlineError ? err.toBody() : this.internal(err));
      return undefined;
    }
    for (const e of parsed.errors) this.sendError(client, t.deviceId, e);
    if (parsed.readings.length > 0 && packet.qos > 0 && packet.messageId !== undefined) {
      acks.hold(packet.messageId);
    }
    return undefined;
  }

  private sendError(client: MqttClient, deviceId: string, body: ErrorBody): void {
    client.publish(errorsTopic(deviceId), JSON.stringify(body), { qos: 0 });
  }

  private internal(err: unknown): ErrorBody {
    this.log.warn(`mqtt ingest failed: ${err instanceof Error ? err.stack : String(err)}`, { transport: 'mqtt' });
    return { code: ErrorCode.INTERNAL, message: 'internal error' };
  }

  // ------------------------------------------------------------------------------------------- sending to devices

  /**
   * Publishes to `devices/<id>/<channel>/<name>` at QoS 1 through the broker, which holds it for the device's session;
   * resolves once the broker acknowledged it. This node cannot see whether the device is connected to the broker;
   * `offline` when this node has no broker connection itself.
   */
  async send(deviceId: string, message: DeviceMessage): Promise<SendOutcome> {
    const client = this.client;
    if (!client?.connected) return 'offline';
    await client.publishAsync(deviceMessageTopic(deviceId, message), JSON.stringify(message.payload), { qos: 1 });
    return 'sent';
  }

  // ------------------------------------------------------------------------------------------------------- shutdown

  /**
   * Leaves the shared subscription, lets the messages already sent to this node arrive and be stored, acknowledges
   * them, and ends the session. If that does not finish within `timeoutMs` the node disconnects with its will:
   * peers take the session over.
   */
  close(timeoutMs = 10_000): Promise<void> {
    return (this.closed ??= this.leave(timeoutMs));
  }

  /** Leaving the broker is the drain: what the broker sent is stored and acknowledged first (see {@link close}). */
  drain(): Promise<void> {
    return this.close();
  }

  /** New devices connect to the broker, not here: nothing to refuse. Leaving happens in {@link drain}. */
  stopAccepting(): void {}

  private closed: Promise<void> | null = null;

  private async leave(timeoutMs: number): Promise<void> {
    this.closing = true;
    if (this.reconnectTimer) clearTimeout(this.reconnectTimer);
    this.reconnectTimer = null;
    const client = this.client;
    if (!client) return;
    await this.takeover.settled();
    if (!client.connected) {
      this.stopClient();
      return;
    }
    const deadline = Date.now() + timeoutMs;
    let clean = false;
    try {
      await client.unsubscribeAsync(NODE_SUBSCRIPTIONS);
      for (;;) {
        if (!client.connected || Date.now() > deadline) break;
        if (Date.now() - this.lastMessageAt >= 200 && (this.acks?.pending ?? 0) === 0) {
          clean = true;
          break;
        }
        // Store what is buffered now rather than at the next flush tick.
        await Promise.race([this.pipeline.flush().catch(() => undefined), sleep(100)]);
        await sleep(20);
      }
    } catch (err) {
      this.log.warn(`leaving the broker: ${errorMessage(err)}`);
    }
    if (clean) {
      await client.publishAsync(nodeStatusTopic(this.opts.nodeId), '', { qos: 1, retain: true }).catch(() => undefined);
    }
    await new Promise<void>((resolve) => {
      if (!client.connected) return resolve();
      const v5 = this.protocolVersion === 5;
      // Clean: the session is empty, end it. Otherwise: keep it and send the will, so a peer drains it.
      const packet = clean ? (v5 ? { properties: { sessionExpiryInterval: 0 } } : {}) : v5 ? { reasonCode: 4 } : {};
      client.end(false, packet, () => resolve());
    });
    if (!clean) this.log.warn('left the broker with messages not yet stored: a peer takes over the session');
    else this.log.log('left the broker: everything received is stored and acknowledged; session ended');
    this.stopClient();
  }

  private stopClient(): void {
    const client = this.client;
    this.subscribed = false;
    this.acks?.dispose();
    this.acks = null;
    if (!client) return;
    client.removeAllListeners('close');
    client.on('error', () => undefined);
    client.end(true);
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
