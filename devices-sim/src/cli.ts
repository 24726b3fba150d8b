import { parseArgs } from 'node:util';
import { ErrorCode } from '@fieldline/contracts';
import { PROTOCOLS, type Protocol } from './device';
import { login, provisionDevices, readTokensFile } from './provision';
import { DEFAULT_MQTT_URL, DEFAULT_URL, makeIds, Simulator, type SimStats } from './simulator';

export const USAGE = `Fieldline device simulator: sends plausible sensor readings to a gateway.

Usage: npm run sim -- [options]

  --devices N           number of devices (default: $SIM_DEVICES or 5)
  --rate R              readings per second per device, may be fractional (default 1)
  --protocol P          mqtt | ws | http (default mqtt)
  --url URL             gateway HTTP base, for ws and http (default: $FIELDLINE_URL or ${DEFAULT_URL})
  --mqtt-url URL        MQTT broker (default: $MQTT_URL, else the host of --url on $MQTT_PORT or 1883)
  --duration S          seconds to run; 0 or absent: until Ctrl-C / SIGTERM
  --qos 0|1             MQTT QoS of readings (default 1)
  --batch N             readings per message, sent as { readings: [...] } (default 1)
  --prefix P            device id prefix (default sim-): sim-001, sim-002, ...
  --seed N              sensor model seed (default 1)
  --connect-timeout S   seconds to wait for devices to connect before sending (default 10)
  --token ID=TOKEN      a device's token (repeatable): MQTT password, ws/http Bearer token
  --tokens-file FILE    device tokens as a JSON object { "<device id>": "<token>", ... }
  --register            log in as an admin and register the devices (a registered device gets a new token)
  --admin-user NAME     admin to log in as for --register (default admin)
  --admin-password PW   its password (default: $FIELDLINE_ADMIN_PASSWORD, else $ADMIN_PASSWORD)
  --json                print the summary as one JSON object on stdout (status lines go to stderr)
  --quiet               no status lines and no text summary (errors and --json output still appear)
  -h, --help            this text

Exit code: 0 when done, 1 when no device could connect (or --register failed), 2 on bad arguments.`;

export interface CliConfig {
  devices: number;
  rate: number;
  protocol: Protocol;
  url: string;
  mqttUrl: string;
  duration?: number;
  qos: 0 | 1;
  batch: number;
  prefix: string;
  seed: number;
  connectTimeout: number;
  json: boolean;
  quiet: boolean;
  /** Device tokens given on the command line or in --tokens-file. */
  tokens: Record<string, string>;
  /** --register: admin credentials to register the devices with. */
  register?: { username: string; password: string };
}

class UsageError extends Error {}

/** Parses CLI arguments; `env` supplies FIELDLINE_URL, MQTT_URL, MQTT_PORT and SIM_DEVICES. Null for `--help`. */
export function parseCli(argv: string[], env: NodeJS.ProcessEnv = process.env): CliConfig | null {
  let values;
  try {
    ({ values } = parseArgs({
      args: argv,
      strict: true,
      allowPositionals: false,
      options: {
        devices: { type: 'string' },
        rate: { type: 'string' },
        protocol: { type: 'string' },
        url: { type: 'string' },
        'mqtt-url': { type: 'string' },
        duration: { type: 'string' },
        qos: { type: 'string' },
        batch: { type: 'string' },
        prefix: { type: 'string' },
        seed: { type: 'string' },
        'connect-timeout': { type: 'string' },
        token: { type: 'string', multiple: true },
        'tokens-file': { type: 'string' },
        register: { type: 'boolean' },
        'admin-user': { type: 'string' },
        'admin-password': { type: 'string' },
        json: { type: 'boolean' },
        quiet: { type: 'boolean', short: 'q' },
        help: { type: 'boolean', short: 'h' },
      },
    }));
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
  if (values.help) return null;
  const protocol = (values.protocol ?? 'mqtt') as Protocol;
  if (!PROTOCOLS.includes(protocol)) throw new UsageError(`--protocol must be one of ${PROTOCOLS.join(', ')}`);
  const url = values.url ?? env.FIELDLINE_URL ?? DEFAULT_URL;
  checkUrl(url, '--url', ['http:', 'https:', 'ws:', 'wss:']);
  const mqttUrl = values['mqtt-url'] ?? env.MQTT_URL ?? deriveMqttUrl(url, env.MQTT_PORT);
  checkUrl(mqttUrl, '--mqtt-url', ['mqtt:', 'mqtts:', 'tcp:', 'tls:', 'ws:', 'wss:']);
  const qos = num(values.qos ?? '1', '--qos', { int: true, min: 0 });
  if (qos !== 0 && qos !== 1) throw new UsageError('--qos must be 0 or 1');
  const config: CliConfig = {
    devices: num(values.devices ?? env.SIM_DEVICES ?? '5', '--devices', { int: true, min: 1 }),
    rate: num(values.rate ?? '1', '--rate', { min: 0 }),
    protocol,
    url,
    mqttUrl,
    qos,
    batch: num(values.batch ?? '1', '--batch', { int: true, min: 1 }),
    prefix: values.prefix ?? 'sim-',
    seed: num(values.seed ?? '1', '--seed', { int: true, min: 0 }),
    connectTimeout: num(values['connect-timeout'] ?? '10', '--connect-timeout', { min: 0.001 }),
    json: values.json ?? false,
    quiet: values.quiet ?? false,
    tokens: {},
  };
  if (values['tokens-file']) {
    try {
      Object.assign(config.tokens, readTokensFile(values['tokens-file']));
    } catch (err) {
      throw new UsageError(`--tokens-file: ${(err as Error).message}`);
    }
  }
  for (const t of values.token ?? []) {
    const eq = t.indexOf('=');
    if (eq <= 0 || eq === t.length - 1) throw new UsageError(`--token takes <device id>=<token>, got "${t}"`);
    config.tokens[t.slice(0, eq)] = t.slice(eq + 1);
  }
  if (values.register) {
    const password = values['admin-password'] ?? env.FIELDLINE_ADMIN_PASSWORD ?? env.ADMIN_PASSWORD;
    if (!password)
      throw new UsageError('--register needs the admin password: --admin-password or $FIELDLINE_ADMIN_PASSWORD');
    config.register = { username: values['admin-user'] ?? 'admin', password };
  }
  // 0 means no limit: how the gateway's `npm start` runs its simulated devices.
  const duration = values.duration === undefined ? 0 : num(values.duration, '--duration', { min: 0 });
  if (duration > 0) config.duration = duration;
  return config;
}

/** The broker on the gateway's host: what the embedded broker of `npm start` listens on. */
export function deriveMqttUrl(httpUrl: string, mqttPort?: string): string {
  try {
    return `mqtt://${new URL(httpUrl).hostname}:${mqttPort || 1883}`;
  } catch {
    return DEFAULT_MQTT_URL;
  }
}

function checkUrl(text: string, flag: string, protocols: string[]): void {
  let u: URL;
  try {
    u = new URL(text);
  } catch {
    throw new UsageError(`${flag} is not a URL: ${text}`);
  }
  if (!protocols.includes(u.protocol)) throw new UsageError(`${flag} must use one of ${protocols.join(' ')}`);
}

function num(text: string, flag: string, o: { int?: boolean; min: number }): number {
  const n = Number(text);
  if (text.trim() === '' || !Number.isFinite(n) || n < o.min || (o.int && !Number.isInteger(n))) {
    throw new UsageError(`${flag} must be ${o.int ? 'an integer' : 'a number'} >= ${o.min}, got "${text}"`);
  }
  return n;
}

const GATEWAY_CODES = new Set<string>(Object.values(ErrorCode));

/** Transport problems (connect failures, lost answers...): everything in `errors` that is not a gateway refusal. */
export function transportErrors(errors: Record<string, number>): number {
  let n = 0;
  for (const code in errors) if (!GATEWAY_CODES.has(code)) n += errors[code];
  return n;
}

export function statusLine(s: SimStats): string {
  return [
    `${(s.elapsedMs / 1000).toFixed(1).padStart(6)}s`,
    `devices ${s.connected}/${s.devices}`,
    `rate ${Math.round(s.rate)}/s`,
    `sent ${s.sent}`,
    `acked ${s.acked}`,
    `refused ${s.refused}`,
    `errors ${transportErrors(s.errors)}`,
    ...(s.buffered ? [`buffered ${s.buffered}`] : []),
  ].join('  ');
}

export interface Summary {
  protocol: Protocol;
  devices: number;
  /** Devices connected when sending started. */
  connectedAtStart: number;
  durationS: number;
  targetRate: number;
  achievedRate: number;
  sent: number;
  acked: number;
  refused: number;
  failed: number;
  dropped: number;
  resent: number;
  pending: number;
  buffered: number;
  errors: Record<string, number>;
}

export function summarize(s: SimStats, protocol: Protocol, connectedAtStart: number): Summary {
  return {
    protocol,
    devices: s.devices,
    connectedAtStart,
    durationS: round(s.elapsedMs / 1000, 3),
    targetRate: s.targetRate,
    achievedRate: round(s.avgRate, 1),
    sent: s.sent,
    acked: s.acked,
    refused: s.refused,
    failed: s.failed,
    dropped: s.dropped,
    resent: s.resent,
    pending: s.pending,
    buffered: s.buffered,
    errors: s.errors,
  };
}

export function summaryText(m: Summary): string {
  const codes = Object.entries(m.errors).sort((a, b) => b[1] - a[1]);
  return [
    `Fieldline simulator: ${m.devices} ${m.protocol} devices (${m.connectedAtStart} connected at start), ${m.durationS.toFixed(1)} s`,
    `  rate     ${m.achievedRate.toFixed(1)} readings/s achieved, ${m.targetRate} requested`,
    `  sent     ${m.sent}   acked ${m.acked}   refused ${m.refused}   failed ${m.failed}`,
    `  other    dropped ${m.dropped}   resent ${m.resent}   unanswered ${m.pending}   unsent ${m.buffered}`,
    `  errors   ${codes.length ? codes.map(([c, n]) => `${c} ${n}`).join(', ') : 'none'}`,
  ].join('\n');
}

function round(x: number, digits: number): number {
  const f = 10 ** digits;
  return Math.round(x * f) / f;
}

/** Runs the CLI; resolves with the exit code. */
export async function main(argv: string[]): Promise<number> {
  let config: CliConfig | null;
  try {
    config = parseCli(argv);
  } catch (err) {
    if (!(err instanceof UsageError)) throw err;
    process.stderr.write(`${err.message}\n\n${USAGE}\n`);
    return 2;
  }
  if (!config) {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  let tokens = config.tokens;
  if (config.register) {
    try {
      const admin = await login(config.url, config.register.username, config.register.password);
      tokens = { ...(await provisionDevices(config.url, admin, makeIds(config.devices, config.prefix))), ...tokens };
    } catch (err) {
      process.stderr.write(`--register: ${(err as Error).message}\n`);
      return 1;
    }
  }
  const sim = new Simulator({
    url: config.url,
    mqttUrl: config.mqttUrl,
    protocol: config.protocol,
    devices: config.devices,
    rate: config.rate,
    qos: config.qos,
    batch: config.batch,
    idPrefix: config.prefix,
    seed: config.seed,
    connectTimeoutMs: config.connectTimeout * 1000,
    ...(Object.keys(tokens).length ? { tokens } : {}),
    ...(config.duration !== undefined ? { duration: config.duration } : {}),
  });

  // With --json, stdout carries only the summary.
  const out = config.json ? process.stderr : process.stdout;
  const tty = out.isTTY === true;
  const target = config.protocol === 'mqtt' ? config.mqttUrl : config.url;
  if (!config.json && !config.quiet) {
    out.write(`connecting ${config.devices} ${config.protocol} devices to ${target}, ${config.rate} readings/s each\n`);
  }

  let interrupted = 0;
  let stopRequested!: () => void;
  const stopSignal = new Promise<void>((resolve) => (stopRequested = resolve));
  const onSignal = (): void => {
    // Second Ctrl-C: the user does not want to wait for answers.
    if (++interrupted > 1) process.exit(130);
    stopRequested();
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);

  await Promise.race([sim.start(), stopSignal]);
  const connectedAtStart = sim.stats().connected;
  let code = 0;
  if (connectedAtStart === 0 && interrupted === 0) {
    process.stderr.write(`no device could connect to ${target}\n`);
    code = 1;
  } else if (interrupted === 0) {
    let lastPlain = performance.now();
    const status = config.quiet
      ? null
      : setInterval(() => {
          const line = statusLine(sim.stats());
          if (tty) out.write(`\r\x1b[K${line}`);
          else if (performance.now() - lastPlain >= 4990) {
            lastPlain = performance.now();
            out.write(`${line}\n`);
          }
        }, 1000);
    await Promise.race([sim.done, stopSignal]);
    if (status) clearInterval(status);
    if (status && tty) out.write(`\r\x1b[K${statusLine(sim.stats())}\n`);
  }
  await sim.stop();
  const summary = summarize(sim.stats(), config.protocol, connectedAtStart);
  if (sim.devices.every((d) => d.stats().connects === 0)) code = 1;
  if (config.json) process.stdout.write(`${JSON.stringify(summary)}\n`);
  else if (!config.quiet) process.stdout.write(`${summaryText(summary)}\n`);
  process.off('SIGINT', onSignal);
  process.off('SIGTERM', onSignal);
  return code;
}

if (require.main === module) {
  main(process.argv.slice(2)).then(
    // Exit explicitly: a socket or timer some client library left behind must not keep the process alive.
    (code) => process.exit(code),
    (err: unknown) => {
      process.stderr.write(`${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
      process.exit(1);
    },
  );
}
