import 'reflect-metadata';
import type { IncomingMessage, Server as HttpServer } from 'node:http';
import { type AddressInfo, Server as NetServer, type Socket } from 'node:net';
import { type INestApplication, type LogLevel } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { LIMITS } from '@fieldline/contracts';
import { AppModule } from './app.module';
import { DeviceAuth } from './auth/device-auth.service';
import { deviceTokenMiddleware, originMiddleware } from './auth/http.middleware';
import { OperatorAuth } from './auth/operator-auth.service';
import { socketSecurity } from './auth/socket-auth';
import { INGEST_ROUTE, useBodyParsers } from './common/body-parsers';
import { ErrorFilter } from './common/error.filter';
import type { RedisConnections } from './common/redis.connections';
import { REDIS } from './common/redis.module';
import { GatewayIoAdapter } from './common/socket-io.adapter';
import type { GatewayConfig } from './config/config';
import { Readiness } from './health/readiness';
import { IngestPipeline } from './ingest/ingest.pipeline';
import { MqttClientTransport } from './ingest/mqtt-client.transport';
import { MqttBrokerTransport } from './ingest/mqtt.transport';
import { WsIngestTransport } from './ingest/ws.transport';

/** A started gateway: where it listens, and how to stop it. */
export interface RunningGateway {
  app: INestApplication;
  config: GatewayConfig;
  httpPort: number;
  mqttPort: number | null;
  /** Base URL for HTTP, Socket.IO and WebSocket ingest, on loopback. */
  url: string;
  /** Broker URL devices use: the embedded broker on loopback, or the external broker (without credentials). */
  mqttUrl: string | null;
  /**
   * First step of a shutdown, at once: readiness turns false and new connections are refused (HTTP, WebSocket
   * ingest, Socket.IO, MQTT CONNECT); open connections stay until {@link close}. Safe to call twice.
   */
  drain(): void;
  /**
   * Drains, stops taking input, flushes buffers, closes device and operator connections (a peer stuck in a close
   * handshake is cut after {@link CONNECTION_GRACE_MS}), closes the store. Safe to call twice.
   */
  close(): Promise<void>;
}

const LEVELS: Record<GatewayConfig['logLevel'], LogLevel[]> = {
  error: ['fatal', 'error'],
  warn: ['fatal', 'error', 'warn'],
  log: ['fatal', 'error', 'warn', 'log'],
  debug: ['fatal', 'error', 'warn', 'log', 'debug'],
};

/**
 * How long after a shutdown began open connections may take to close by themselves; then what is left is cut. Only
 * a peer that does not answer (a WebSocket close frame, an idle Socket.IO client) is still open by then: without a
 * bound it would hold the process for `ws`'s 30 s close timeout. Buffers are flushed after the transports close, so
 * this does not limit the flush.
 */
export const CONNECTION_GRACE_MS = 3000;

/** Builds and starts the gateway: HTTP + Socket.IO + WebSocket ingest on one port, the embedded broker on another. */
export async function createGateway(config: GatewayConfig): Promise<RunningGateway> {
  const app = await NestFactory.create(AppModule.register(config), {
    bodyParser: false,
    logger: LEVELS[config.logLevel],
  });
  const readiness = app.get(Readiness);
  const operatorSecurity = socketSecurity(app.get(OperatorAuth), config.corsOrigins);
  // A draining node takes no new Socket.IO connections (engine.io asks this at every handshake, polling or WebSocket).
  const security = {
    ...operatorSecurity,
    allowRequest: (req: IncomingMessage) => !readiness.draining && operatorSecurity.allowRequest(req),
  };
  app.useWebSocketAdapter(
    new GatewayIoAdapter(app, config.corsOrigins, LIMITS.maxMessageBytes, security).withRedis(
      app.get<RedisConnections | null>(REDIS, { strict: false }),
    ),
  );
  app.useGlobalFilters(new ErrorFilter());
  app.use(originMiddleware(config.corsOrigins));
  if (config.corsOrigins.length) app.enableCors({ origin: config.corsOrigins, credentials: true });
  const stats = app.get(IngestPipeline).stats;
  app.use(
    INGEST_ROUTE,
    deviceTokenMiddleware(app.get(DeviceAuth), (code) => stats.reject('http', code)),
  );
  useBodyParsers(app);
  // No app.enableShutdownHooks(): signals are handled by main.ts so that the order of shutdown is ours. (Nest reads
  // an empty signal list as "all signals": it would run a second app.close() beside main.ts's and then re-raise
  // the signal, cutting the first one short.) app.close() calls the lifecycle hooks either way.
  await app.init();
  const httpServer = app.getHttpServer() as HttpServer;
  // Every connection the HTTP server holds (plain, kept alive or upgraded), so a shutdown can end the stuck ones.
  const sockets = new Set<Socket>();
  httpServer.on('connection', (socket: Socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
  });
  app.get(WsIngestTransport).attach(httpServer);
  await app.listen(config.port, config.host);
  const httpPort = ((app.getHttpServer() as HttpServer).address() as AddressInfo).port;
  let mqttPort: number | null = null;
  try {
    if (config.mqttPort !== null) mqttPort = await app.get(MqttBrokerTransport).listen(config.mqttPort, config.host);
    else await app.get<MqttClientTransport | null>(MqttClientTransport)?.start();
  } catch (err) {
    await app.close();
    throw err;
  }
  const drain = (): void => {
    if (readiness.draining) return;
    readiness.drain();
    // Not http.Server#close: that also drops idle kept-alive connections at once, and a client on one (a load
    // balancer's readiness probe) should still get its answer: 503 `draining`. They are closed with the rest below.
    NetServer.prototype.close.call(httpServer);
    app.get(MqttBrokerTransport).stopAccepting();
    app.get(WsIngestTransport).stopAccepting();
  };
  const shutdown = async (): Promise<void> => {
    drain();
    const cut = setTimeout(() => {
      for (const socket of sockets) socket.destroy();
    }, CONNECTION_GRACE_MS);
    try {
      await app.close();
    } finally {
      clearTimeout(cut);
      for (const socket of sockets) socket.destroy();
    }
  };
  let closing: Promise<void> | null = null;
  return {
    app,
    config,
    httpPort,
    mqttPort,
    url: `http://127.0.0.1:${httpPort}`,
    mqttUrl: mqttPort === null ? publicUrl(config.mqttUrl) : `mqtt://127.0.0.1:${mqttPort}`,
    drain,
    close: () => (closing ??= shutdown()),
  };
}

/** The external broker's URL without the gateway's credentials (devices bring their own). */
function publicUrl(url: string | null): string | null {
  if (url === null) return null;
  const u = new URL(url);
  u.username = '';
  u.password = '';
  return u.toString().replace(/\/$/, '');
}
