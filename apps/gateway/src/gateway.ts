import 'reflect-metadata';
import type { IncomingMessage, Server as HttpServer } from 'node:http';
import type { INestApplication } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { LIMITS } from '@fieldline/contracts';
import { AppModule } from './app.module';
import { DeviceAuth } from './auth/device-auth.service';
import { bearerToken } from './auth/bearer-token';
import { refuseUnknownHosts } from './auth/host.policy';
import { deviceTokenMiddleware, originMiddleware } from './auth/http.middleware';
import { OperatorAuth } from './auth/operator-auth.service';
import { socketSecurity } from './auth/socket-auth';
import { INGEST_ROUTE, useBodyParsers } from './common/body-parsers';
import { requestIdMiddleware } from './common/request-id';
import { ErrorFilter } from './common/error.filter';
import { ClientAddresses } from './common/client-address';
import { limitHttpServer } from './common/http-limits';
import { configureLogging, NestLogger } from './common/logger';
import type { RedisConnections } from './common/redis.connections';
import { REDIS } from './common/redis.module';
import { SocketBudget } from './common/socket-budget';
import { GatewayIoAdapter } from './common/socket-io.adapter';
import type { GatewayConfig } from './config/config';
import { Readiness } from './health/readiness';
import { DeviceTransports } from './ingest/device-transports';
import { IngestPipeline } from './ingest/ingest.pipeline';
import { MqttBrokerTransport } from './ingest/mqtt.transport';
import { Lifecycle } from './lifecycle';
import { MetricsRegistry, observeCounter } from './metrics/metrics';

export { CONNECTION_GRACE_MS } from './lifecycle';

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
  /** The whole shutdown (lifecycle.ts, SHUT_DOWN). Safe to call twice. */
  close(): Promise<void>;
}

/**
 * Builds and starts the gateway: HTTP + Socket.IO + WebSocket ingest on one port, the embedded broker on another.
 * Nest builds the parts; this wires the HTTP server (adapters, middleware, routes); lifecycle.ts starts the rest.
 */
export async function createGateway(config: GatewayConfig): Promise<RunningGateway> {
  const { server } = config;
  configureLogging(server.log);
  const app = await NestFactory.create(AppModule.register(config), { bodyParser: false, logger: new NestLogger() });
  // First, before any part listens: a request under a host name the gateway does not answer to reaches none of them.
  const hostRefusals = refuseUnknownHosts(app.getHttpServer() as HttpServer, server.hosts);
  observeCounter(app.get(MetricsRegistry), {
    name: 'fieldline_host_refused_total',
    help: 'HTTP requests and upgrades refused for their Host header (HOST_NOT_ALLOWED), by channel.',
    labels: ['channel'],
    read: () => Object.entries(hostRefusals).map(([channel, n]: [string, number]) => [{ channel }, n] as const),
  });
  const readiness = app.get(Readiness);
  const operators = app.get(OperatorAuth);
  // Timeouts and the per-address cap on the HTTP port, before anything else sees a connection.
  const httpLimits = limitHttpServer(
    app.getHttpServer() as HttpServer,
    server.http,
    new ClientAddresses(server.trustProxy),
  );
  observeCounter(app.get(MetricsRegistry), {
    name: 'fieldline_http_connections_refused_total',
    help: 'HTTP connections refused (503) because their address held HTTP_CONNECTIONS_PER_ADDRESS already.',
    read: () => httpLimits.refusedConnections,
  });
  const budget = app.get(SocketBudget);
  // An authenticated socket counts against its operator's budget (sockets, requests per second).
  const operatorSecurity = socketSecurity(operators, server, (socket, claims, next) =>
    budget.admit(socket, claims.username, next),
  );
  // A draining node takes no new Socket.IO connections (engine.io asks this at every handshake, polling or WebSocket).
  const security = {
    ...operatorSecurity,
    allowRequest: (req: IncomingMessage) => !readiness.draining && operatorSecurity.allowRequest(req),
  };
  app.useWebSocketAdapter(
    new GatewayIoAdapter(
      app,
      server.corsOrigins,
      LIMITS.maxMessageBytes,
      security,
      app.get<RedisConnections | null>(REDIS, { strict: false }),
    ),
  );
  app.useGlobalFilters(new ErrorFilter());
  app.use(requestIdMiddleware);
  app.use(originMiddleware(server));
  if (server.corsOrigins.length) app.enableCors({ origin: server.corsOrigins, credentials: true });
  const pipeline = app.get(IngestPipeline);
  app.use(
    INGEST_ROUTE,
    deviceTokenMiddleware(app.get(DeviceAuth), (code) => pipeline.refuse('http', code)),
  );
  useBodyParsers(app, (req) =>
    operators.verify(bearerToken(req.headers.authorization)).then(
      () => true,
      () => false,
    ),
  );
  await app.init();
  const lifecycle = new Lifecycle(app, server);
  await lifecycle.start();
  const httpPort = lifecycle.httpPort;
  const broker = app.get(DeviceTransports).all.find((t) => t instanceof MqttBrokerTransport);
  const mqttPort = broker ? broker.port : null;
  return {
    app,
    config,
    httpPort,
    mqttPort,
    url: `http://127.0.0.1:${httpPort}`,
    mqttUrl: mqttPort === null ? publicUrl(config.mqtt.url) : `mqtt://127.0.0.1:${mqttPort}`,
    drain: () => lifecycle.drain(),
    close: () => lifecycle.shutdown(),
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
