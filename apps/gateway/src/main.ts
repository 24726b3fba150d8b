import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { Logger } from '@nestjs/common';
import { ConfigError, loadConfig } from './config/config';
import { createGateway } from './gateway';

async function main(): Promise<void> {
  let config;
  try {
    config = loadConfig();
  } catch (err) {
    if (err instanceof ConfigError) {
      console.error(`fieldline: configuration error: ${err.message}`);
      process.exit(2);
    }
    throw err;
  }
  const log = new Logger('Fieldline');
  let gateway;
  try {
    gateway = await createGateway(config);
  } catch (err) {
    const e = err as NodeJS.ErrnoException & { port?: number };
    if (e.code === 'EADDRINUSE') {
      const variable = e.port === config.mqttPort ? 'MQTT_PORT' : 'PORT';
      console.error(`fieldline: port ${e.port} is already in use; set ${variable} to a free port`);
      process.exit(2);
    }
    throw err;
  }
  const shown = config.host === '0.0.0.0' || config.host === '::' ? 'localhost' : config.host;
  log.log(`HTTP, Socket.IO and WebSocket ingest on http://${shown}:${gateway.httpPort}`);
  log.log(`  dashboard       http://${shown}:${gateway.httpPort}/`);
  log.log(`  devices         http://${shown}:${gateway.httpPort}/api/devices`);
  log.log(`  health          http://${shown}:${gateway.httpPort}/health`);
  log.log(`  ws ingest       ws://${shown}:${gateway.httpPort}/ingest`);
  if (gateway.mqttPort !== null) log.log(`  MQTT (embedded) mqtt://${shown}:${gateway.mqttPort}`);
  log.log(`  data            ${config.dataDir}`);

  const sim =
    config.simDevices > 0 ? startSimulator(config.simDevices, config.simRate, gateway.url, gateway.mqttUrl, log) : null;

  let stopping = false;
  const stop = (signal: string): void => {
    if (stopping) return;
    stopping = true;
    log.log(`${signal}: stopping (flushing buffered readings)`);
    sim?.kill('SIGTERM');
    gateway
      .close()
      .then(() => process.exit(0))
      .catch((err: unknown) => {
        log.error(`shutdown failed: ${err instanceof Error ? err.message : String(err)}`);
        process.exit(1);
      });
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
}

/** Simulated devices run as their own process, speaking MQTT to the gateway like real devices. */
function startSimulator(
  devices: number,
  rate: number,
  url: string,
  mqttUrl: string | null,
  log: Logger,
): ChildProcess | null {
  const cli = join(__dirname, '..', '..', '..', 'devices-sim', 'src', 'cli.js');
  if (!existsSync(cli) || mqttUrl === null) {
    log.warn(`SIM_DEVICES=${devices} but the simulator is not built (${cli}); run npm run build`);
    return null;
  }
  const args = [
    cli,
    '--devices',
    String(devices),
    '--rate',
    String(rate),
    '--protocol',
    'mqtt',
    '--url',
    url,
    '--mqtt-url',
    mqttUrl,
    '--duration',
    '0',
    '--quiet',
  ];
  const child = spawn(process.execPath, args, { stdio: ['ignore', 'inherit', 'inherit'] });
  log.log(`started ${devices} simulated devices (${rate} readings/s each, MQTT)`);
  child.on('exit', (code, signal) => {
    if (signal !== 'SIGTERM' && code !== 0) log.warn(`simulator exited (${signal ?? code})`);
  });
  return child;
}

void main();
