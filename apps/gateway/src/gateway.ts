import 'reflect-metadata';
import type { Server as HttpServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { type INestApplication, type LogLevel } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { LIMITS } from '@fieldline/contracts';
import { AppModule } from './app.module';
import { useBodyParsers } from './common/body-parsers';
import { ErrorFilter } from './common/error.filter';
import { GatewayIoAdapter } from './common/socket-io.adapter';
import type { GatewayConfig } from './config/config';
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
  /** Broker URL on loopback (embedded mode). */
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
  app.useWebSocketAdapter(new GatewayIoAdapter(app, config.corsOrigins, LIMITS.maxMessageBytes));
  app.useGlobalFilters(new ErrorFilter());
  if (config.corsOrigins.length) app.enableCors({ origin: config.corsOrigins, credentials: true });
  useBodyParsers(app);
  app.enableShutdownHooks([]); // signals are handled by main.ts so that the order of shutdown is ours
  await app.init();
  app.get(WsIngestTransport).attach(app.getHttpServer() as HttpServer);
  await app.listen(config.port, config.host);
  const httpPort = ((app.getHttpServer() as HttpServer).address() as AddressInfo).port;
  let mqttPort: number | null = null;
  try {
    if (config.mqttPort !== null) mqttPort = await app.get(MqttBrokerTransport).listen(config.mqttPort, config.host);
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
    mqttUrl: mqttPort === null ? null : `mqtt://127.0.0.1:${mqttPort}`,
    close: () => (closing ??= app.close()),
  };
}
