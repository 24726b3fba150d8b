import { createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { Aedes, type Client, type PublishPacket } from 'aedes';
import {
  type ErrorBody,
  ErrorCode,
  FieldlineError,
  errorsTopic,
  LIMITS,
  parseTopic,
  STATUS_OFFLINE,
  type ParsedMessage,
} from '@fieldline/contracts';
import type { PresenceService } from '../devices/presence.service';
import type { IngestPipeline } from './ingest.pipeline';

/**
 * Packets above the message limit still reach the pipeline (and get MESSAGE_TOO_LARGE on the device's error topic);
 * packets far above it are cut off at the parser so one client cannot make the broker buffer megabytes.
 */
export const MQTT_HARD_MAX_PACKET_BYTES = LIMITS.maxMessageBytes * 4;

interface Logger {
  log(msg: string): void;
  warn(msg: string): void;
}

/**
 * The embedded MQTT broker (aedes, MQTT 3.1.1). Readings published to `devices/<id>/telemetry` are ingested inside
 * `authorizePublish`, i.e. before the broker sends PUBACK: a QoS 1 ack means the reading is in the write buffer.
 */
export class MqttBrokerTransport {
  private broker: Aedes | null = null;
  private server: Server | null = null;
  private readonly sockets = new Set<Socket>();

  constructor(
    private readonly pipeline: IngestPipeline,
    private readonly presence: PresenceService,
    private readonly log: Logger,
  ) {}

  async listen(port: number, host: string): Promise<number> {
    const broker = await Aedes.createBroker({
      authorizePublish: (client, packet, done) => {
        if (client) this.onDevicePublish(client, packet);
        done(null);
      },
    });
    broker.on('publish', (packet) => {
      // Status (including a device's last will) is handled here: wills do not pass authorizePublish.
      const t = parseTopic(packet.topic);
      if (t?.kind === 'status' && t.validId && packet.payload.toString() === STATUS_OFFLINE)
        this.presence.markOffline(t.deviceId);
    });
    broker.on('clientError', (client, err) => this.log.warn(`mqtt client ${client.id}: ${err.message}`));
    const server = createServer((socket) => {
      this.sockets.add(socket);
      socket.once('close', () => this.sockets.delete(socket));
      capPacketSize(broker.handle(socket), MQTT_HARD_MAX_PACKET_BYTES);
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

  async close(): Promise<void> {
    const { server, broker } = this;
    if (!server || !broker) return;
    this.server = null;
    const closed = new Promise<void>((resolve) => server.close(() => resolve()));
    await new Promise<void>((resolve) => broker.close(() => resolve()));
    for (const s of this.sockets) s.destroy();
    await closed;
  }

  private onDevicePublish(_client: Client, packet: PublishPacket): void {
    const t = parseTopic(packet.topic);
    if (!t || t.kind !== 'telemetry') return;
    if (!t.validId) {
      this.pipeline.stats.messages.mqtt++;
      this.pipeline.stats.reject('mqtt', ErrorCode.INVALID_DEVICE_ID);
      this.sendError(t.deviceId, {
        code: ErrorCode.INVALID_DEVICE_ID,
        message: 'the device id in the topic must be 1–64 characters of A-Z a-z 0-9 _ . -',
      });
      return;
    }
    let parsed: ParsedMessage;
    try {
      parsed = this.pipeline.ingest(packet.payload, 'mqtt', t.deviceId);
    } catch (err) {
      this.sendError(t.deviceId, err instanceof FieldlineError ? err.toBody() : internal(err, this.log));
      return;
    }
    for (const e of parsed.errors) this.sendError(t.deviceId, e);
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

function internal(err: unknown, log: Logger): ErrorBody {
  log.warn(`mqtt ingest failed: ${err instanceof Error ? err.stack : String(err)}`);
  return { code: ErrorCode.INTERNAL, message: 'internal error' };
}

/** aedes has no packet size limit: check the length in the fixed header before the parser buffers the body. */
function capPacketSize(client: Client, max: number): void {
  const parser = (client as unknown as { _parser?: { _parseLength?: () => boolean; packet: { length: number } } })
    ._parser;
  const original = parser?._parseLength;
  if (!parser || !original) return;
  parser._parseLength = function (this: typeof parser) {
    const ok = original.call(this);
    if (ok && this.packet.length > max) {
      client.conn.destroy(new Error(`packet of ${this.packet.length} bytes exceeds ${max}`));
      return false;
    }
    return ok;
  };
}
