import 'reflect-metadata';
import type { Server as HttpServer } from 'node:http';
import type { AddressInfo } from 'node:net';
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
  /** Stops taking input, flushes buffers, closes the store. Safe to call twice. */
  close(): Promise<void>;
}

const LEVELS: Record<GatewayConfig['logLevel'], LogLevel[]> = {
  error: ['fatal', 'error'],
  warn: ['fatal', 'error', 'warn'],
  log: ['fatal', 'error', 'warn', 'log'],
  debug: ['fatal', 'error', 'warn', 'log', 'debug'],
};

/** Builds and starts the gateway: HTTP + Socket.IO + WebSocket ingest on one port, the embedded broker on another. */
export async function createGateway(config: GatewayConfig): Promise<RunningGateway> {
  const app = await NestFactory.create(AppModule.register(config), {
    bodyParser: false,
    logger: LEVELS[config.logLevel],
  });
  const security = socketSecurity(app.get(OperatorAuth), config.corsOrigins);
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
  app.get(WsIngestTransport).attach(app.getHttpServer() as HttpServer);
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
  let closing: Promise<void> | null = null;
  return {
    app,
    config,
    httpPort,
    mqttPort,
    url: `http://127.0.0.1:${httpPort}`,
    mqttUrl: mqttPort === null ? publicUrl(config.mqttUrl) : `mqtt://127.0.0.1:${mqttPort}`,
    close: () => (closing ??= app.close()),
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
