import { connect, type IClientOptions, type IConnackPacket, type IPublishPacket, type MqttClient } from 'mqtt';
import {
  type ErrorBody,
  ErrorCode,
  errorsTopic,
  FieldlineError,
  MQTT_BAD_CREDENTIALS,
  MQTT_UNSUPPORTED_PROTOCOL,
  type ParsedMessage,
  parseTopic,
  ReasonCode,
  NODE_STATUS_FILTER,
  NODE_TOPIC_PREFIX,
  nodeStatusTopic,
  parseNodeStatusTopic,
  SHARED_STATUS_FILTER,
  SHARED_TELEMETRY_FILTER,
  STATUS_OFFLINE,
  STATUS_ONLINE,
  errorMessage,
  redactUrl,
} from '@fieldline/contracts';
import type { PresenceService } from '../devices/presence.service';
import type { WriteBuffer } from '../storage/write-buffer';
import type { IngestPipeline } from './ingest.pipeline';

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
 *   itself is held until the buffer reports the reading written (see {@link StoredAcks}), in receive order. Up to
 *   `receiveMaximum` messages may wait so; the broker redelivers every held one if the connection drops.
 * - Takeover: a node that dies leaves a session holding its unacknowledged messages, and Mosquitto keeps routing a
 *   share of new messages to a dead member of a shared subscription. So each node publishes a retained status on
 *   `fieldline/nodes/<id>/status` (`online`; its will, sent 5 s after an unclean disconnect, says `offline`), and when
 *   a peer goes offline a live node connects with the peer's client id, unsubscribes it (no new messages go there),
 *   ingests what the session held, and ends the session. If the peer comes back first it takes its session back.
 *   Redelivered messages may have been stored already: the stores are idempotent for device + ts + seq.
 * - Reconnects back off exponentially with jitter, so nodes that lost the broker together do not return together.
 * - Errors go to `devices/<id>/errors`, as with the embedded broker; `devices/<id>/status` `offline` marks the device
 *   offline (a shared subscription too: one node sees it, shared presence tells the others).
 */

/** The MQTT client id of a node. */
export const clientIdOf = (nodeId: string): string => `fieldline-${nodeId}`;

/** A short network blip must not make peers take the node's session. */
const WILL_DELAY_S = 5;
/** Unacknowledged messages the broker may send before waiting for PUBACKs (MQTT 5 Receive Maximum). */
const RECEIVE_MAXIMUM = 65_535;
/** A drain is done when no message came for this long and every received one is acknowledged. */
const DRAIN_QUIET_MS = 1000;
const DRAIN_MAX_MS = 5 * 60_000;

export interface MqttClientOptions {
  url: string;
  username: string | null;
  password: string | null;
  nodeId: string;
  sessionExpiryS: number;
  /** First reconnect delay (doubles up to 30 s, times a random factor in [0.5, 1)). Default 250 ms. */
  reconnectBaseMs?: number;
}

interface Logger {
  log(msg: string): void;
  warn(msg: string): void;
  error(msg: string): void;
}

type SendPacket = (packet: { cmd: string; messageId?: number }, cb?: (err?: Error) => void, ...rest: unknown[]) => void;

/**
 * Holds a client's PUBACKs until the write buffer has stored the readings they acknowledge, and sends them in the
 * order the messages came. Wraps mqtt.js's `_sendPacket`, the one place every PUBACK passes (mqtt.js has no manual
 * acknowledgement API).
 */
class StoredAcks {
  private readonly holds = new Map<number, number>();
  private queue: { target: number; packet: { cmd: string; messageId?: number } }[] = [];
  private written: number;
  private readonly send: SendPacket;
  private readonly unlisten: () => void;

  constructor(
    private readonly client: MqttClient,
    buffer: WriteBuffer,
  ) {
    const c = client as unknown as { _sendPacket: SendPacket };
    this.send = c._sendPacket.bind(client);
    this.written = buffer.stats().written;
    c._sendPacket = (packet, cb, ...rest) => {
      if (packet.cmd === 'puback' && packet.messageId !== undefined) {
        const target = this.holds.get(packet.messageId) ?? 0;
        this.holds.delete(packet.messageId);
        if (this.queue.length > 0 || target > this.written) {
          this.queue.push({ target, packet });
          cb?.();
          return;
        }
      }
      this.send(packet, cb, ...rest);
    };
    this.unlisten = buffer.onWritten((written) => this.release(written));
  }

  /** The PUBACK of `messageId` waits until `target` readings are stored. */
  hold(messageId: number, target: number): void {
    this.holds.set(messageId, target);
  }

  get pending(): number {
    return this.queue.length;
  }

  /** The connection dropped: the broker resends whatever was not acknowledged; nothing held may go out later. */
  reset(): void {
    this.holds.clear();
    this.queue = [];
  }

  dispose(): void {
    this.reset();
    this.unlisten();
  }

  private release(written: number): void {
    this.written = written;
    if (this.queue.length === 0) return;
    if (!this.client.connected) return this.reset();
    let i = 0;
    while (i < this.queue.length && this.queue[i].target <= written) this.send(this.queue[i++].packet);
    if (i > 0) this.queue = this.queue.slice(i);
  }
}

export class MqttClientTransport {
  private client: MqttClient | null = null;
  private acks: StoredAcks | null = null;
  private protocolVersion: 4 | 5 = 5;
  private subscribed = false;
  private closing = false;
  private attempt = 0;
  private reconnectTimer: NodeJS.Timeout | null = null;
  private lastMessageAt = 0;
  private readonly draining = new Map<string, Promise<void>>();
  private readonly peerStatus = new Map<string, string>();
  /** Counters for /metrics. */
  readonly counters = { received: 0, drained: 0, takeovers: 0, reconnects: 0 };

  constructor(
    private readonly pipeline: IngestPipeline,
    private readonly presence: PresenceService,
    private readonly buffer: WriteBuffer,
    private readonly opts: MqttClientOptions,
    private readonly log: Logger,
  ) {}

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
  async start(timeoutMs = 15_000): Promise<void> {
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
      ...this.sessionOptions(this.clientId),
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
    this.acks = new StoredAcks(client, this.buffer);
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
    this.attempt = 0;
    if (!connack.sessionPresent)
      this.log.log(`connected to ${redactUrl(this.opts.url, 'MQTT_URL')} (MQTT ${this.protocolVersion})`);
    else this.log.log(`connected to ${redactUrl(this.opts.url, 'MQTT_URL')}; resuming session ${this.clientId}`);
    client.publish(nodeStatusTopic(this.opts.nodeId), STATUS_ONLINE, { qos: 1, retain: true });
    // Subscribed on every connect: the session may have expired while the node was away.
    client.subscribe(
      { [SHARED_TELEMETRY_FILTER]: { qos: 1 }, [SHARED_STATUS_FILTER]: { qos: 1 }, [NODE_STATUS_FILTER]: { qos: 1 } },
      (err) => {
        if (client !== this.client) return;
        if (err) {
          this.log.error(`subscribe failed: ${err.message}`);
          this.onFirstReady?.(new Error(`MQTT_URL: the broker refused the subscriptions: ${err.message}`));
          return;
        }
        this.subscribed = true;
        this.onFirstReady?.();
      },
    );
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
    const base = this.opts.reconnectBaseMs ?? 250;
    const delay = Math.round(Math.min(30_000, base * 2 ** Math.min(this.attempt, 10)) * (0.5 + Math.random() / 2));
    this.attempt++;
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
  private onMessage(client: MqttClient, acks: StoredAcks, packet: IPublishPacket, drain: boolean): Error | undefined {
    this.lastMessageAt = Date.now();
    const topic = packet.topic;
    if (topic.startsWith(NODE_TOPIC_PREFIX)) {
      if (!drain) this.onNodeStatus(topic, packet.payload.toString());
      return undefined;
    }
    const t = parseTopic(topic);
    if (t?.kind === 'status') {
      if (t.validId && packet.payload.toString() === STATUS_OFFLINE) this.presence.markOffline(t.deviceId);
      return undefined;
    }
    if (t?.kind !== 'telemetry') return undefined;
    this.counters.received++;
    if (!t.validId) {
      this.pipeline.stats.messages.mqtt++;
      this.pipeline.stats.reject('mqtt', ErrorCode.INVALID_DEVICE_ID);
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
      acks.hold(packet.messageId, this.buffer.acceptedCount);
    }
    return undefined;
  }

  private sendError(client: MqttClient, deviceId: string, body: ErrorBody): void {
    client.publish(errorsTopic(deviceId), JSON.stringify(body), { qos: 0 });
  }

  private internal(err: unknown): ErrorBody {
    this.log.warn(`mqtt ingest failed: ${err instanceof Error ? err.stack : String(err)}`);
    return { code: ErrorCode.INTERNAL, message: 'internal error' };
  }

  // ------------------------------------------------------------------------------------------ taking over a session

  private onNodeStatus(topic: string, status: string): void {
    const nodeId = parseNodeStatusTopic(topic) ?? '';
    if (nodeId === this.opts.nodeId || nodeId === '') return;
    this.peerStatus.set(nodeId, status);
    if (status !== STATUS_OFFLINE || this.draining.has(nodeId) || this.closing) return;
    // Several live nodes see the same will: spread them out; whoever connects last holds the session, and one
    // that is pushed out stops (what it had not acknowledged goes to the other).
    const delay = Math.floor(Math.random() * 1000);
    const run = new Promise<void>((r) => setTimeout(r, delay))
      .then(() => (this.peerStatus.get(nodeId) === STATUS_OFFLINE && !this.closing ? this.drain(nodeId) : undefined))
      .catch((err: unknown) => this.log.warn(`drain of ${nodeId}: ${errorMessage(err)}`))
      .finally(() => this.draining.delete(nodeId));
    this.draining.set(nodeId, run);
  }

  /** Options of a persistent session, the node's own or a dead peer's being drained. */
  private sessionOptions(clientId: string): IClientOptions {
    const o = this.opts;
    return {
      clientId,
      clean: false,
      protocolVersion: this.protocolVersion,
      keepalive: 30,
      connectTimeout: 10_000,
      // Reconnects are ours: jittered backoff, and a fresh look at the session on each.
      reconnectPeriod: 0,
      resubscribe: false,
      ...(o.username !== null ? { username: o.username } : {}),
      ...(o.password !== null ? { password: o.password } : {}),
      ...(this.protocolVersion === 5
        ? { properties: { sessionExpiryInterval: o.sessionExpiryS, receiveMaximum: RECEIVE_MAXIMUM } }
        : {}),
    };
  }

  /** Connects as the dead peer, ingests what its session holds, and ends the session. */
  private drain(peer: string): Promise<void> {
    const o = this.opts;
    const v5 = this.protocolVersion === 5;
    const client = connect(o.url, this.sessionOptions(clientIdOf(peer)));
    const acks = new StoredAcks(client, this.buffer);
    let received = 0;
    let last = Date.now();
    client.handleMessage = (packet, done) => {
      received++;
      last = Date.now();
      done(this.onMessage(client, acks, packet, true));
    };
    return new Promise<void>((resolve) => {
      let finished = false;
      let poll: NodeJS.Timeout | null = null;
      const started = Date.now();
      const finish = (outcome: string, endSession: boolean): void => {
        if (finished) return;
        finished = true;
        if (poll) clearInterval(poll);
        const done = (): void => {
          acks.dispose();
          if (endSession) {
            this.counters.takeovers++;
            this.counters.drained += received;
            // The peer's retained `offline` is handled: clear it so nodes that start later do not drain again.
            if (this.peerStatus.get(peer) === STATUS_OFFLINE)
              this.client?.publish(nodeStatusTopic(peer), '', { qos: 1, retain: true });
          }
          this.log.log(`session of node ${peer}: ${outcome} (${received} messages)`);
          resolve();
        };
        if (!client.connected) {
          client.end(true, {}, done);
          return;
        }
        // Session expiry 0 on DISCONNECT ends the session (3.1.1: a clean session ends with the connection).
        client.end(false, endSession && v5 ? { properties: { sessionExpiryInterval: 0 } } : {}, done);
      };
      client.on('connect', (connack) => {
        if (!connack.sessionPresent) {
          // Nothing held, or the peer came back and drained it itself.
          finish('no session left', true);
          return;
        }
        this.log.log(`node ${peer} is offline: taking over its session`);
        client.unsubscribe([SHARED_TELEMETRY_FILTER, SHARED_STATUS_FILTER, NODE_STATUS_FILTER], () => {
          poll = setInterval(() => {
            if (this.peerStatus.get(peer) === STATUS_ONLINE) return finish('the node came back', false);
            if (Date.now() - started > DRAIN_MAX_MS) return finish('given up after 5 min', false);
            if (Date.now() - last >= DRAIN_QUIET_MS && acks.pending === 0) finish('drained', true);
          }, 100);
        });
      });
      client.on('disconnect', (packet) => {
        if (packet.reasonCode === ReasonCode.SESSION_TAKEN_OVER)
          finish('taken back by its node or another peer', false);
      });
      client.on('close', () => finish('connection closed', false));
      client.on('error', (err) => this.log.warn(`drain of ${peer}: ${err.message}`));
    });
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

  private closed: Promise<void> | null = null;

  private async leave(timeoutMs: number): Promise<void> {
    this.closing = true;
    if (this.reconnectTimer) clearTimeout(this.reconnectTimer);
    this.reconnectTimer = null;
    const client = this.client;
    if (!client) return;
    await Promise.allSettled([...this.draining.values()]);
    if (!client.connected) {
      this.stopClient();
      return;
    }
    const deadline = Date.now() + timeoutMs;
    let clean = false;
    try {
      await client.unsubscribeAsync([SHARED_TELEMETRY_FILTER, SHARED_STATUS_FILTER, NODE_STATUS_FILTER]);
      for (;;) {
        if (!client.connected || Date.now() > deadline) break;
        if (Date.now() - this.lastMessageAt >= 200 && (this.acks?.pending ?? 0) === 0) {
          clean = true;
          break;
        }
        // Store what is buffered now rather than at the next flush tick.
        await Promise.race([this.buffer.flush().catch(() => undefined), sleep(100)]);
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
      const packet = clean
        ? v5
          ? { properties: { sessionExpiryInterval: 0 } }
          : {}
        : v5
          ? { reasonCode: ReasonCode.DISCONNECT_WITH_WILL }
          : {};
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
