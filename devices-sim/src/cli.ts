import { writeFileSync } from 'node:fs';
import { ErrorCode, errorMessage } from '@fieldline/contracts';
import { numberFlag, parseFlags, UsageError } from './args';
import {
  FAULT_KINDS,
  type FaultSpec,
  FaultSpecError,
  type FaultStats,
  formatFaults,
  hasFaults,
  parseFaults,
  readFaultsFile,
} from './faults';
import type { CommandBehaviour, CommandTally } from './commands';
import { addTallies, PROTOCOLS, type Protocol, type Tallies, zeroTallies } from './device.types';
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
  --queue N             readings a device keeps until acknowledged; when full the oldest are dropped and counted
                        as "dropped" (default 10000)
  --backoff-base S      reconnect backoff: first ceiling in seconds (default 0.5); each failed or short-lived
                        connection doubles it, the delay is uniform in [0, ceiling) ("full jitter")
  --backoff-cap S       largest backoff ceiling in seconds (default 30); a connection up 5 s resets the backoff
  --no-retry            count RATE_LIMITED / STORE_UNAVAILABLE / SHUTTING_DOWN answers as refused instead of
                        keeping those readings and resending them after the gateway's retryAfterMs
  --drain S             after --duration, keep resending for up to S seconds until every reading is acknowledged
  --faults SPEC         inject faults, comma-separated (probabilities are per reading and device):
                          drop=P | drop=10s   cut the connection with probability P, or about every 10 s per device
                          skew=5s             each device's clock off by a fixed offset in [-5 s, +5 s]
                          ooo=P               hold a message back and send it after the next one
                          dup=P               send an acknowledged message again (same seq, same ts)
                          burst=P:N           N extra readings at once
                          malformed=P[:KINDS] a malformed message besides the reading; KINDS json+type+oversize
                                              (answers: MALFORMED_JSON, INVALID_METRIC_VALUE, MESSAGE_TOO_LARGE;
                                              over WebSocket an oversize frame closes the socket with 1009)
                          seed=N              seed of the fault decisions (default --seed): runs repeat
                        e.g. --faults drop=0.01,skew=5s,dup=0.02,ooo=0.01,burst=0.005:50,malformed=0.01
  --faults-file FILE    the same as a JSON object, e.g. {"drop": "10s", "dup": 0.02, "burst": "0.005:50"}
  --commands            answer commands (MQTT: subscribe to devices/<id>/commands/#; ws: command frames);
                        implied by the three options below (see docs/commands.md)
  --command-delay MS    milliseconds between a command's ack and its result (default 0)
  --command-fail P      probability that a command fails (status failed, code SIM_FAILURE; default 0)
  --command-silence P   probability that a command gets neither ack nor result (the gateway times it out)
  --acked-file FILE     at the end, write every acknowledged (device, seq) as JSON { "<id>": [[from, to], ...] }
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
  /** Readings a device keeps (--queue). */
  queue: number;
  backoffBaseS: number;
  backoffCapS: number;
  retryLater: boolean;
  /** Seconds to keep resending after --duration (0: none). */
  drain: number;
  faults?: FaultSpec;
  /** How devices answer commands; absent: they do not take commands. */
  commands?: CommandBehaviour;
  ackedFile?: string;
  /** Device tokens given on the command line or in --tokens-file. */
  tokens: Record<string, string>;
  /** --register: admin credentials to register the devices with. */
  register?: { username: string; password: string };
}

/** Parses CLI arguments; `env` supplies FIELDLINE_URL, MQTT_URL, MQTT_PORT and SIM_DEVICES. Null for `--help`. */
export function parseCli(argv: string[], env: NodeJS.ProcessEnv = process.env): CliConfig | null {
  const values = parseFlags(argv, {
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
    queue: { type: 'string' },
    'backoff-base': { type: 'string' },
    'backoff-cap': { type: 'string' },
    'no-retry': { type: 'boolean' },
    drain: { type: 'string' },
    faults: { type: 'string' },
    'faults-file': { type: 'string' },
    'acked-file': { type: 'string' },
    commands: { type: 'boolean' },
    'command-delay': { type: 'string' },
    'command-fail': { type: 'string' },
    'command-silence': { type: 'string' },
    token: { type: 'string', multiple: true },
    'tokens-file': { type: 'string' },
    register: { type: 'boolean' },
    'admin-user': { type: 'string' },
    'admin-password': { type: 'string' },
    json: { type: 'boolean' },
    quiet: { type: 'boolean', short: 'q' },
    help: { type: 'boolean', short: 'h' },
  });
  if (values.help) return null;
  const protocol = (values.protocol ?? 'mqtt') as Protocol;
  if (!PROTOCOLS.includes(protocol)) throw new UsageError(`--protocol must be one of ${PROTOCOLS.join(', ')}`);
  const url = values.url ?? env.FIELDLINE_URL ?? DEFAULT_URL;
  checkUrl(url, '--url', ['http:', 'https:', 'ws:', 'wss:']);
  const mqttUrl = values['mqtt-url'] ?? env.MQTT_URL ?? deriveMqttUrl(url, env.MQTT_PORT);
  checkUrl(mqttUrl, '--mqtt-url', ['mqtt:', 'mqtts:', 'tcp:', 'tls:', 'ws:', 'wss:']);
  const qos = numberFlag(values.qos, '--qos', { def: 1, int: true, min: 0 });
  if (qos !== 0 && qos !== 1) throw new UsageError('--qos must be 0 or 1');
  const config: CliConfig = {
    devices: numberFlag(values.devices ?? env.SIM_DEVICES, '--devices', { def: 5, int: true, min: 1 }),
    rate: numberFlag(values.rate, '--rate', { def: 1, min: 0 }),
    protocol,
    url,
    mqttUrl,
    qos,
    batch: numberFlag(values.batch, '--batch', { def: 1, int: true, min: 1 }),
    prefix: values.prefix ?? 'sim-',
    seed: numberFlag(values.seed, '--seed', { def: 1, int: true, min: 0 }),
    connectTimeout: numberFlag(values['connect-timeout'], '--connect-timeout', { def: 10, min: 0.001 }),
    json: values.json ?? false,
    quiet: values.quiet ?? false,
    queue: numberFlag(values.queue, '--queue', { def: 10_000, int: true, min: 1 }),
    backoffBaseS: numberFlag(values['backoff-base'], '--backoff-base', { def: 0.5, min: 0.001 }),
    backoffCapS: numberFlag(values['backoff-cap'], '--backoff-cap', { def: 30, min: 0.001 }),
    retryLater: !values['no-retry'],
    drain: numberFlag(values.drain, '--drain', { def: 0, min: 0 }),
    tokens: {},
  };
  if (config.backoffCapS < config.backoffBaseS) throw new UsageError('--backoff-cap must be >= --backoff-base');
  try {
    const faults: FaultSpec = {
      ...(values['faults-file'] ? readFaultsFile(values['faults-file']) : {}),
      ...(values.faults !== undefined ? parseFaults(values.faults) : {}),
    };
    if (hasFaults(faults)) config.faults = faults;
    else if (values.faults !== undefined || values['faults-file'])
      throw new FaultSpecError('no fault given, e.g. --faults drop=0.01,dup=0.02');
  } catch (err) {
    if (err instanceof FaultSpecError) throw new UsageError(`--faults: ${err.message}`);
    throw err;
  }
  if (values['acked-file']) config.ackedFile = values['acked-file'];
  const cmd = [values['command-delay'], values['command-fail'], values['command-silence']];
  if (values.commands || cmd.some((v) => v !== undefined)) {
    const p = (text: string | undefined, flag: string): number => {
      const n = numberFlag(text, flag, { def: 0, min: 0 });
      if (n > 1) throw new UsageError(`${flag} is a probability, 0–1, got "${text}"`);
      return n;
    };
    config.commands = {
      delayMs: numberFlag(values['command-delay'], '--command-delay', { def: 0, min: 0 }),
      failP: p(values['command-fail'], '--command-fail'),
      silenceP: p(values['command-silence'], '--command-silence'),
      seed: config.seed,
    };
  }
  if (values['tokens-file']) {
    try {
      Object.assign(config.tokens, readTokensFile(values['tokens-file']));
    } catch (err) {
      throw new UsageError(`--tokens-file: ${errorMessage(err)}`);
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
  const duration = numberFlag(values.duration, '--duration', { def: 0, min: 0 });
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
    ...(s.reconnects ? [`reconnects ${s.reconnects}`] : []),
  ].join('  ');
}

export interface Summary extends Tallies {
  protocol: Protocol;
  devices: number;
  /** Devices connected when sending started. */
  connectedAtStart: number;
  durationS: number;
  targetRate: number;
  achievedRate: number;
  errors: Record<string, number>;
  /** The injected faults (`--faults` syntax) and, per kind, how many and what the gateway answered. */
  faultSpec?: string;
  faults?: FaultStats;
  /** Commands received and how they were answered (with `--commands`). */
  commands?: CommandTally;
  /** Where the acknowledged (device, seq) ranges were written. */
  ackedFile?: string;
}

export function summarize(
  s: SimStats,
  protocol: Protocol,
  connectedAtStart: number,
  extra: { faults?: FaultSpec; ackedFile?: string } = {},
): Summary {
  return {
    protocol,
    devices: s.devices,
    connectedAtStart,
    durationS: round(s.elapsedMs / 1000, 3),
    targetRate: s.targetRate,
    achievedRate: round(s.avgRate, 1),
    ...addTallies(zeroTallies(), s),
    errors: s.errors,
    ...(extra.faults ? { faultSpec: formatFaults(extra.faults) } : {}),
    ...(s.faults ? { faults: s.faults } : {}),
    ...(s.commands ? { commands: s.commands } : {}),
    ...(extra.ackedFile ? { ackedFile: extra.ackedFile } : {}),
  };
}

/** `drop 3; dup 5 (ack 5); malformed 4 (MALFORMED_JSON 2, INVALID_METRIC_VALUE 2)`. */
export function faultsText(f: FaultStats): string {
  const parts: string[] = [];
  for (const kind of FAULT_KINDS) {
    const t = f[kind];
    if (!t.injected) continue;
    const answers = Object.entries(t.answers).sort((a, b) => b[1] - a[1]);
    const extra = [...(t.readings ? [`${t.readings} readings`] : []), ...answers.map(([code, n]) => `${code} ${n}`)];
    parts.push(`${kind} ${t.injected}${extra.length ? ` (${extra.join(', ')})` : ''}`);
  }
  return parts.length ? parts.join('; ') : 'none injected';
}

export function summaryText(m: Summary): string {
  const codes = Object.entries(m.errors).sort((a, b) => b[1] - a[1]);
  return [
    `Fieldline simulator: ${m.devices} ${m.protocol} devices (${m.connectedAtStart} connected at start), ${m.durationS.toFixed(1)} s`,
    `  rate     ${m.achievedRate.toFixed(1)} readings/s achieved, ${m.targetRate} requested`,
    `  sent     ${m.sent}   acked ${m.acked}   refused ${m.refused}   failed ${m.failed}`,
    `  other    dropped ${m.dropped}   resent ${m.resent}   unanswered ${m.pending}   unsent ${m.buffered}   reconnects ${m.reconnects}${m.deferred ? `   deferred ${m.deferred}` : ''}`,
    `  errors   ${codes.length ? codes.map(([c, n]) => `${c} ${n}`).join(', ') : 'none'}`,
    ...(m.faults ? [`  faults   ${m.faultSpec ?? ''}: ${faultsText(m.faults)}`] : []),
    ...(m.ackedFile ? [`  acked    (device, seq) written to ${m.ackedFile}`] : []),
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
      process.stderr.write(`--register: ${errorMessage(err)}\n`);
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
    maxBuffer: config.queue,
    reconnect: { baseMs: config.backoffBaseS * 1000, capMs: config.backoffCapS * 1000 },
    retryLater: config.retryLater,
    ...(config.faults ? { faults: config.faults } : {}),
    ...(config.commands ? { commands: config.commands } : {}),
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
    if (config.drain > 0 && interrupted === 0) await Promise.race([sim.drain(config.drain * 1000), stopSignal]);
    if (status) clearInterval(status);
    if (status && tty) out.write(`\r\x1b[K${statusLine(sim.stats())}\n`);
  }
  await sim.stop();
  if (config.ackedFile) writeFileSync(config.ackedFile, `${JSON.stringify(sim.ackedSeqs())}\n`);
  const summary = summarize(sim.stats(), config.protocol, connectedAtStart, config);
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
