import { connect as mqttConnect, type MqttClient } from 'mqtt';
import {
  Backoff,
  commandResultTopic,
  type ReconnectOptions,
  errorsTopic,
  MQTT_BAD_CREDENTIALS,
  STATUS_OFFLINE,
  STATUS_ONLINE,
  statusTopic,
  telemetryTopic,
} from '@fieldline/contracts';
import { type CommandResponder, parseDelivery } from '../commands';
import { BAD_REPLY, parseMqttError } from '../replies';
import { type OutMessage, sleepMs, type Transport, TransportError, type TransportSink, waitFor } from './transport';

/** Longest timer Node accepts: parks mqtt.js's own fixed-period reconnect, which we replace with {@link Backoff}. */
const NEVER_MS = 2 ** 31 - 1;

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
  /** Answers commands on `devices/<id>/commands/#`; absent: the device does not subscribe to them. */
  commands?: CommandResponder;
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
    const commandsFilter = `devices/${id}/commands/#`;
    const commandsPrefix = `devices/${id}/commands/`;
    client.on('connect', () => {
      this.wasConnected = true;
      this.backoff.up();
      // mqtt.js has just written the unacknowledged publishes again (it emits `connect` once its store is flushed).
      if (this.everConnected && this.inFlight.size && this.qos === 1) this.sink.rewritten?.([...this.inFlight]);
      this.everConnected = true;
      client.publish(statusTopic(id), STATUS_ONLINE, { qos: 1, retain: true });
      client.subscribe(errors, { qos: 0 });
      if (o.commands) client.subscribe(commandsFilter, { qos: 1 });
      this.sink.connected();
    });
    client.on('message', (topic, payload) => {
      if (o.commands && topic.startsWith(commandsPrefix)) return this.onCommand(client, o.commands, payload);
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

  /** Answers on `devices/<id>/results/<command id>` (QoS 1); the clean session's PUBACK cannot be the ack. */
  private onCommand(client: MqttClient, responder: CommandResponder, payload: Buffer): void {
    let cmd;
    try {
      cmd = parseDelivery(JSON.parse(payload.toString()));
    } catch {
      cmd = null;
    }
    if (!cmd) return this.sink.error(BAD_REPLY);
    const topic = commandResultTopic(this.sink.id, cmd.id);
    const { ack, reply } = responder.answer(cmd);
    if (ack) client.publish(topic, '{"status":"delivered"}', { qos: 1 });
    if (reply) responder.later(() => client.connected && client.publish(topic, JSON.stringify(reply), { qos: 1 }));
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
