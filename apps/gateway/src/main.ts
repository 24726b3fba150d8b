import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Logger } from '@nestjs/common';
import { ErrorCode, FieldlineError, errorMessage } from '@fieldline/contracts';
import { DeviceAuth } from './auth/device-auth.service';
import { loadConfig } from './config/config';
import { ConfigError } from './config/config-error';
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
      const variable = e.port === config.mqtt.port ? 'MQTT_PORT' : 'PORT';
      console.error(`fieldline: port ${e.port} is already in use; set ${variable} to a free port`);
      process.exit(2);
    }
    throw err;
  }
  const { host } = config.server;
  const shown = host === '0.0.0.0' || host === '::' ? 'localhost' : host;
  log.log(`HTTP, Socket.IO and WebSocket ingest on http://${shown}:${gateway.httpPort}`);
  log.log(`  dashboard       http://${shown}:${gateway.httpPort}/`);
  // Quick start generated the admin password (scripts/start.js): say it where the URL is.
  if (process.env.FIELDLINE_DEMO_LOGIN === '1' && process.env.ADMIN_PASSWORD)
    log.log(`  login           admin / ${process.env.ADMIN_PASSWORD}   (demo credentials, this run only)`);
  log.log(`  devices         http://${shown}:${gateway.httpPort}/api/devices`);
  log.log(`  health          http://${shown}:${gateway.httpPort}/health`);
  log.log(`  ws ingest       ws://${shown}:${gateway.httpPort}/ingest`);
  if (gateway.mqttPort !== null) log.log(`  MQTT (embedded) mqtt://${shown}:${gateway.mqttPort}`);
  log.log(`  data            ${config.storage.dataDir}`);
  if (config.server.publicUrl !== null) log.log(`  public URL      ${config.server.publicUrl}`);
  if (config.server.hosts.defaulted && (host === '0.0.0.0' || host === '::'))
    log.warn(
      `listening on every interface (HOST=${host}) with no PUBLIC_URL or ALLOWED_HOSTS: browsers are served only as ` +
        `localhost, an IP address or ${config.server.hosts.names.join(', ')}; any other host name is refused ` +
        `(421 HOST_NOT_ALLOWED). Set PUBLIC_URL to the URL operators open, or ALLOWED_HOSTS to its host names.`,
    );

  let sim: ChildProcess | null = null;
  let tokensDir: string | null = null;
  if (config.sim.devices > 0) {
    // The simulated devices are provisioned like real ones: registered, each with its own token (handed over in a
    // file readable by this user only, removed when the gateway stops).
    const tokens = await provisionSimulatedDevices(gateway.app.get(DeviceAuth), config.sim.devices);
    tokensDir = mkdtempSync(join(tmpdir(), 'fieldline-sim-'));
    const tokensFile = join(tokensDir, 'tokens.json');
    writeFileSync(tokensFile, JSON.stringify(tokens), { mode: 0o600 });
    sim = startSimulator(config.sim.devices, config.sim.rate, gateway.url, gateway.mqttUrl, tokensFile, log);
  }

  let stopping = false;
  const stop = (signal: string): void => {
    if (stopping) return;
    stopping = true;
    log.log(`${signal}: stopping (flushing buffered readings)`);
    // A shutdown that does not end is worse than one that ends with an error: the write buffer gives up on an
    // unreachable store after its own deadline, so this one only catches a hang elsewhere.
    setTimeout(() => {
      log.error(`shutdown did not finish within ${SHUTDOWN_DEADLINE_MS} ms; exiting`);
      sim?.kill('SIGKILL');
      process.exit(1);
    }, SHUTDOWN_DEADLINE_MS).unref();
    // Not ready, no new connections, at once; the simulated devices (connected already) stop first, so that their
    // last readings are answered and flushed with the rest, and none of them outlives the gateway.
    gateway.drain();
    stopSimulator(sim, signal)
      .then(() => {
        if (tokensDir) rmSync(tokensDir, { recursive: true, force: true });
        return gateway.close();
      })
      .then(() => process.exit(0))
      .catch((err: unknown) => {
        log.error(`shutdown failed: ${errorMessage(err)}`);
        process.exit(1);
      });
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
}

/** Bound on a whole shutdown; beyond it the process exits with 1. */
const SHUTDOWN_DEADLINE_MS = 30_000;
/** How long the simulator may take to stop (it waits for its last answers); then it is killed. */
const SIM_STOP_MS = 3000;

/**
 * Stops the simulator child and resolves once it has exited. On Ctrl-C the terminal has sent SIGINT to the whole
 * process group, simulator included: a second signal would make it quit without waiting for its last answers, so
 * it gets a moment to stop on its own first. SIGKILL after {@link SIM_STOP_MS}.
 */
function stopSimulator(sim: ChildProcess | null, signal: string): Promise<void> {
  if (!sim || sim.exitCode !== null || sim.signalCode !== null) return Promise.resolve();
  return new Promise<void>((resolve) => {
    const term = setTimeout(() => sim.kill('SIGTERM'), signal === 'SIGINT' ? 500 : 0);
    const kill = setTimeout(() => sim.kill('SIGKILL'), SIM_STOP_MS);
    sim.once('exit', () => {
      clearTimeout(term);
      clearTimeout(kill);
      resolve();
    });
  });
}

/** Ids the simulator gives its devices with `--prefix sim-` (its `makeIds`): sim-001, sim-002, ... */
function simulatedIds(n: number): string[] {
  const width = Math.max(3, String(n).length);
  return Array.from({ length: n }, (_, i) => `sim-${String(i + 1).padStart(width, '0')}`);
}

/** Registers the simulated devices, or gives those registered by an earlier run a new token (tokens show once). */
async function provisionSimulatedDevices(devices: DeviceAuth, n: number): Promise<Record<string, string>> {
  const tokens: Record<string, string> = {};
  for (const id of simulatedIds(n)) {
    try {
      tokens[id] = (await devices.register(id, 'simulated device')).token;
    } catch (err) {
      if (!(err instanceof FieldlineError && err.code === ErrorCode.CONFLICT)) throw err;
      tokens[id] = (await devices.rotate(id)).token;
    }
  }
  return tokens;
}

/** Simulated devices run as their own process, speaking MQTT to the gateway like real devices. */
function startSimulator(
  devices: number,
  rate: number,
  url: string,
  mqttUrl: string | null,
  tokensFile: string,
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
    '--prefix',
    'sim-',
    '--tokens-file',
    tokensFile,
    '--quiet',
  ];
  const child = spawn(process.execPath, args, { stdio: ['ignore', 'inherit', 'inherit'] });
  log.log(`started ${devices} simulated devices (${rate} readings/s each, MQTT)`);
  child.on('exit', (code, signal) => {
    // 130: a second signal while it stopped (Ctrl-C twice); an expected way to end, not worth a warning.
    if (signal !== 'SIGTERM' && signal !== 'SIGKILL' && code !== 0 && code !== 130)
      log.warn(`simulator exited (${signal ?? code})`);
  });
  return child;
}

void main();
