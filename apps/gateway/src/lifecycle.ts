import type { Server as HttpServer } from 'node:http';
import { type AddressInfo, Server as NetServer, type Socket } from 'node:net';
import type { INestApplication } from '@nestjs/common';
import { errorMessage } from '@fieldline/contracts';
import { DeviceAuth } from './auth/device-auth.service';
import { DEVICE_REGISTRY, type DeviceRegistry } from './auth/device-registry';
import { logger } from './common/logger';
import type { RedisConnections } from './common/redis.connections';
import { REDIS } from './common/redis.module';
import type { ServerConfig } from './config/server.config';
import { STATE_STORE, type StateStore } from './state/state.store';
import { CommandService } from './commands/commands.service';
import { PRESENCE_SYNC } from './devices/devices.module';
import { PresenceFile } from './devices/presence.file';
import type { RedisPresenceSync } from './devices/presence.redis';
import { PresenceSaver } from './devices/presence.saver';
import { PresenceService } from './devices/presence.service';
import { Readiness } from './health/readiness';
import { DeviceTransports } from './ingest/device-transports';
import { IngestPipeline } from './ingest/ingest.pipeline';
import { LiveFanout } from './live/live.fanout';
import { TELEMETRY_STORE, type TelemetryStore } from './storage/store';
import { WriteBuffer } from './storage/write-buffer';

/*
 * Start-up and shutdown of a gateway node, in order, in one place. Nest constructs the parts (the module factories
 * only build them: the store is opened and the spool replayed as they are built, Redis is connected, the device
 * registry loaded); every step after that is listed here, and no module has a lifecycle hook of its own, apart from
 * the dashboard's mount (it must run inside Nest's init, after the routes and before the not-found handler).
 *
 * START_UP                                          SHUT_DOWN
 *  1 seed presence (store, last-seen file)           1 stop accepting (readiness 503, HTTP and transports refuse)
 *  2 share presence through Redis                    2 drain device transports (broker client leaves the broker)
 *  3 save last-seen times every 10 s                 3 the pipeline refuses input (SHUTTING_DOWN)
 *  4 resume commands (timeouts, expiries, queues)    4 close device transports
 *  5 attach WebSocket and HTTP ingest                5 stop commands (work under way finishes)
 *  6 listen on the HTTP port                         6 stop presence (Redis sync, offline ticker)
 *  7 start MQTT (embedded broker or broker client)   7 hand out pending live readings
 *                                                    8 close the device registry
 *                                                    9 flush the write buffer to the store
 *                                                   10 close HTTP and Socket.IO (stragglers cut after 3 s)
 *                                                   11 close the store
 *                                                   12 close the state store
 *                                                   13 save last-seen times
 *                                                   14 close Redis
 */

/**
 * How long after a shutdown began open connections may take to close by themselves; then what is left is cut. Only
 * a peer that does not answer (a WebSocket close frame, an idle Socket.IO client) is still open by then: without a
 * bound it would hold the process for `ws`'s 30 s close timeout. Buffers are flushed after the transports close, so
 * this does not limit the flush.
 */
export const CONNECTION_GRACE_MS = 3000;

interface Step {
  name: string;
  run: () => void | Promise<void>;
}

/** The parts the steps act on, taken from Nest's container once. */
class Parts {
  readonly readiness: Readiness;
  readonly transports: DeviceTransports;
  readonly pipeline: IngestPipeline;
  readonly live: LiveFanout;
  readonly presence: PresenceService;
  readonly presenceFile: PresenceFile;
  readonly presenceSaver: PresenceSaver;
  readonly presenceSync: RedisPresenceSync | null;
  readonly devices: DeviceAuth;
  readonly registry: DeviceRegistry;
  readonly buffer: WriteBuffer;
  readonly store: TelemetryStore;
  readonly state: StateStore;
  readonly commands: CommandService;
  readonly redis: RedisConnections | null;

  constructor(app: INestApplication) {
    this.readiness = app.get(Readiness);
    this.transports = app.get(DeviceTransports);
    this.pipeline = app.get(IngestPipeline);
    this.live = app.get(LiveFanout);
    this.presence = app.get(PresenceService);
    this.presenceFile = app.get(PresenceFile);
    this.presenceSaver = app.get(PresenceSaver);
    this.presenceSync = app.get<RedisPresenceSync | null>(PRESENCE_SYNC);
    this.devices = app.get(DeviceAuth);
    this.registry = app.get<DeviceRegistry>(DEVICE_REGISTRY);
    this.buffer = app.get(WriteBuffer);
    this.store = app.get<TelemetryStore>(TELEMETRY_STORE);
    this.state = app.get<StateStore>(STATE_STORE);
    this.commands = app.get(CommandService);
    this.redis = app.get<RedisConnections | null>(REDIS, { strict: false });
  }
}

/** Runs a gateway node's start-up and shutdown (see the table at the top of this file). */
export class Lifecycle {
  private readonly parts: Parts;
  private readonly log = logger('Lifecycle');
  /** Every connection the HTTP server holds (plain, kept alive or upgraded), so a shutdown can end the stuck ones. */
  private readonly sockets = new Set<Socket>();
  private closing: Promise<void> | null = null;

  constructor(
    private readonly app: INestApplication,
    private readonly server: ServerConfig,
  ) {
    this.parts = new Parts(app);
  }

  private get httpServer(): HttpServer {
    return this.app.getHttpServer() as HttpServer;
  }

  /** The HTTP port, once listening (PORT=0 picks a free one). */
  get httpPort(): number {
    return (this.httpServer.address() as AddressInfo).port;
  }

  /** Runs START_UP; on a failure, what was started is shut down again and the error thrown. */
  async start(): Promise<void> {
    const p = this.parts;
    const http = this.httpServer;
    http.on('connection', (socket: Socket) => {
      this.sockets.add(socket);
      socket.once('close', () => this.sockets.delete(socket));
    });
    const context = { httpServer: http };
    const mqtt = p.transports.all.filter((t) => t.kind === 'mqtt');
    const others = p.transports.all.filter((t) => t.kind !== 'mqtt');
    const steps: Step[] = [
      {
        name: 'seed presence from the store and the last-seen file',
        // Devices known from earlier runs show up (offline, with their last values and last-seen time) before they
        // send again.
        run: async () => {
          p.presence.seed(await p.store.devices());
          p.presence.restoreLastSeen(p.presenceFile.load());
          p.presence.start();
        },
      },
      // The shared state is loaded before the node serves its first /devices snapshot.
      { name: 'share presence through Redis', run: () => p.presenceSync?.start(p.presence) },
      { name: 'save last-seen times every 10 s', run: () => p.presenceSaver.start() },
      // Before the transports take connections: the service hears every device that connects from the first one.
      { name: 'resume commands from the state store', run: () => p.commands.start() },
      {
        name: 'attach WebSocket and HTTP ingest to the HTTP server',
        run: async () => {
          for (const t of others) await t.start(context);
        },
      },
      { name: 'listen on the HTTP port', run: () => this.app.listen(this.server.port, this.server.host) },
      {
        name: 'start MQTT (embedded broker or broker client)',
        run: async () => {
          for (const t of mqtt) await t.start(context);
        },
      },
    ];
    try {
      for (const step of steps) await this.run(step);
    } catch (err) {
      await this.shutdown().catch(() => undefined);
      throw err;
    }
  }

  /**
   * Shutdown, first step, at once: readiness turns false and new connections are refused (HTTP, WebSocket ingest,
   * Socket.IO, MQTT CONNECT); open connections stay until {@link shutdown}. Safe to call twice.
   */
  drain(): void {
    const p = this.parts;
    if (p.readiness.draining) return;
    p.readiness.drain();
    // Not http.Server#close: that also drops idle kept-alive connections at once, and a client on one (a load
    // balancer's readiness probe) should still get its answer: 503 `draining`. They are closed with the rest below.
    NetServer.prototype.close.call(this.httpServer);
    for (const t of p.transports.all) t.stopAccepting();
  }

  /** Runs SHUT_DOWN. Safe to call twice: the second call waits for the first. */
  shutdown(): Promise<void> {
    return (this.closing ??= this.runShutdown());
  }

  private async runShutdown(): Promise<void> {
    const p = this.parts;
    const cut = setTimeout(() => this.cutConnections(), CONNECTION_GRACE_MS);
    const steps: Step[] = [
      { name: 'stop accepting', run: () => this.drain() },
      {
        name: 'drain device transports',
        // The external broker's messages are stored and acknowledged before the pipeline refuses input (an
        // unacknowledged one stays with the broker; a refused one would be answered and lost).
        run: async () => void (await Promise.all(p.transports.all.map((t) => t.drain()))),
      },
      { name: 'refuse new input', run: () => p.pipeline.close() },
      {
        name: 'close device transports',
        run: async () => void (await Promise.all(p.transports.all.map((t) => t.close()))),
      },
      // After the transports: acks and results that came in are stored before the state store closes.
      { name: 'stop commands', run: () => p.commands.stop() },
      {
        name: 'stop presence',
        run: async () => {
          await p.presenceSync?.stop();
          p.presence.stop();
        },
      },
      // Hand out what is pending before the sockets close.
      { name: 'hand out pending live readings', run: () => p.live.close() },
      { name: 'close the device registry', run: () => p.registry.close() },
      {
        name: 'flush the write buffer',
        run: async () => {
          try {
            await p.buffer.close();
          } catch (err) {
            // The store stayed down past the close deadline: say what was lost rather than hang the shutdown.
            logger('Storage').error(errorMessage(err));
          }
        },
      },
      // No app.enableShutdownHooks(): signals are handled by main.ts so that the order of shutdown is this one.
      { name: 'close HTTP and Socket.IO', run: () => this.app.close() },
      { name: 'close the store', run: () => p.store.close() },
      { name: 'close the state store', run: () => p.state.close() },
      { name: 'save last-seen times', run: () => p.presenceSaver.stop() },
      { name: 'close Redis', run: () => p.redis?.close() },
    ];
    try {
      for (const step of steps) await this.run(step);
    } finally {
      clearTimeout(cut);
      this.cutConnections();
    }
  }

  private cutConnections(): void {
    for (const socket of this.sockets) socket.destroy();
  }

  private async run(step: Step): Promise<void> {
    this.log.debug(step.name);
    await step.run();
  }
}
