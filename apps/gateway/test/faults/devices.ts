/*
 * Devices for the fault tests that behave like well-built firmware, written against the public protocols only (no
 * simulator internals, so the tests do not depend on its store-and-forward work): each keeps every reading until the
 * gateway (WebSocket) or the broker (MQTT QoS 1) acknowledged it, resends what was not acknowledged after a
 * reconnect, and reconnects with jittered exponential backoff. What they record (sent, acknowledged) is what the
 * tests compare with what the store holds and what operators received.
 */
import { appendFileSync } from 'node:fs';
import mqtt, { type MqttClient } from 'mqtt';
import WebSocket from 'ws';
import { AuthPath, deviceTokenPath, INGEST_PATH, telemetryTopic } from '@fieldline/contracts';

/** Long variants (minutes) when FAULT_LONG=1 (`npm run faults`); CI runs the short ones. */
export const LONG = process.env.FAULT_LONG === '1';

/**
 * Prints a test's figures as one line of JSON (`FAULT <name> {...}`); with FAULT_FIGURES=<file> also appends it there,
 * so that `npm run faults` leaves the figures in one file for docs/reliability.md.
 */
export function figure(name: string, data: Record<string, unknown>): void {
  const line = `FAULT ${name} ${JSON.stringify({ long: LONG, ...data })}`;
  console.log(line);
  const file = process.env.FAULT_FIGURES;
  if (file) appendFileSync(file, `${new Date().toISOString()} ${line}\n`);
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Full-jitter exponential backoff: uniform in [0, min(cap, base · 2^attempt)], at least `floor`. */
export function jitteredBackoff(attempt: number, baseMs = 250, capMs = 5000, floorMs = 50): number {
  return Math.max(floorMs, Math.random() * Math.min(capMs, baseMs * 2 ** Math.min(attempt, 20)));
}

export const keyOf = (deviceId: string, seq: number): string => `${deviceId}:${seq}`;

/** Compares what was acknowledged with what was found (stored, or received by an operator). */
export function compare(
  acked: Iterable<string>,
  found: readonly string[],
): { acked: number; found: number; unique: number; lost: number; duplicated: number; lostSample: string[] } {
  const unique = new Set(found);
  const lost: string[] = [];
  let ackedN = 0;
  for (const k of acked) {
    ackedN++;
    if (!unique.has(k)) lost.push(k);
  }
  return {
    acked: ackedN,
    found: found.length,
    unique: unique.size,
    lost: lost.length,
    duplicated: found.length - unique.size,
    lostSample: lost.slice(0, 5),
  };
}

interface Pending {
  seq: number;
  frame: string;
  /** Sent on the current connection and not answered yet. */
  inFlight: boolean;
}

export interface WsDeviceOptions {
  /** Gateway base URL to (re)connect to; called on every attempt (a load balancer picking a live node). */
  url: () => string;
  token: string;
  /** Epoch ms of the device's clock at seq 1; reading `seq` has `ts = t0 + seq * stepMs`. */
  t0: number;
  stepMs: number;
}

/**
 * A WebSocket ingest device with store-and-forward: readings stay in `unacked` until the gateway answers `ack` with
 * their seq; a refusal (`STORE_UNAVAILABLE`, `SHUTTING_DOWN`, ...) or a lost connection puts them back in line, and
 * after a reconnect every unacknowledged reading is sent again, oldest first.
 */
export class ResilientWsDevice {
  readonly acked = new Set<number>();
  readonly unacked = new Map<number, Pending>();
  sent = 0;
  resent = 0;
  refused = 0;
  reconnects = 0;
  private seq = 0;
  private ws: WebSocket | null = null;
  private attempt = 0;
  private closed = false;
  private opened = false;
  private retryTimer: NodeJS.Timeout | null = null;

  constructor(
    readonly id: string,
    private readonly opts: WsDeviceOptions,
  ) {}

  get connected(): boolean {
    return this.ws?.readyState === WebSocket.OPEN;
  }

  /** Connects (retrying with backoff until it works); resolves on the first open. */
  start(): Promise<void> {
    return new Promise((resolve) => this.connect(resolve));
  }

  /** Produces the next reading and sends it if connected (else it waits in line). */
  next(): number {
    const seq = ++this.seq;
    const frame = JSON.stringify({ ts: this.opts.t0 + seq * this.opts.stepMs, seq, metrics: { v: seq, t: 20 } });
    const p: Pending = { seq, frame, inFlight: false };
    this.unacked.set(seq, p);
    this.sent++;
    this.push(p);
    return seq;
  }

  get produced(): number {
    return this.seq;
  }

  /** Resolves once every reading produced so far is acknowledged (or rejects after `ms`). */
  async drained(ms = 60_000): Promise<void> {
    const until = Date.now() + ms;
    while (this.unacked.size > 0) {
      if (Date.now() > until) throw new Error(`${this.id}: ${this.unacked.size} readings still unacknowledged`);
      await sleep(50);
    }
  }

  close(): void {
    this.closed = true;
    if (this.retryTimer) clearTimeout(this.retryTimer);
    this.ws?.terminate();
  }

  private push(p: Pending): void {
    const ws = this.ws;
    if (!ws || ws.readyState !== WebSocket.OPEN || p.inFlight) return;
    p.inFlight = true;
    ws.send(p.frame);
  }

  private connect(onOpen?: () => void): void {
    if (this.closed) return;
    const url = this.opts.url().replace(/^http/, 'ws') + INGEST_PATH;
    const ws = new WebSocket(url, { headers: { authorization: `Bearer ${this.opts.token}` } });
    this.ws = ws;
    ws.on('open', () => {
      this.attempt = 0;
      // Everything not acknowledged goes again, oldest first (Map keeps insertion order = seq order).
      if (this.opened) this.resent += this.unacked.size;
      this.opened = true;
      for (const p of this.unacked.values()) {
        p.inFlight = false;
        this.push(p);
      }
      onOpen?.();
      onOpen = undefined;
    });
    ws.on('message', (data: Buffer) => this.onReply(JSON.parse(data.toString()) as Record<string, unknown>));
    ws.on('error', () => undefined); // followed by close
    ws.on('close', () => {
      if (this.ws !== ws || this.closed) return;
      this.ws = null;
      for (const p of this.unacked.values()) p.inFlight = false;
      this.reconnects++;
      this.retryTimer = setTimeout(() => this.connect(onOpen), jitteredBackoff(this.attempt++));
    });
  }

  private onReply(reply: Record<string, unknown>): void {
    const seqs: number[] = Array.isArray(reply.seqs)
      ? (reply.seqs as number[])
      : typeof reply.seq === 'number'
        ? [reply.seq]
        : [];
    if (reply.type === 'ack') {
      for (const s of seqs) {
        this.acked.add(s);
        this.unacked.delete(s);
      }
      return;
    }
    // Refused for now (store behind, shutting down, rate): send again after the hinted delay.
    this.refused++;
    const details = reply.details as { retryAfterMs?: number } | undefined;
    const wait = Math.min(5000, details?.retryAfterMs ?? 500) * (0.5 + Math.random());
    for (const s of seqs) {
      const p = this.unacked.get(s);
      if (!p) continue;
      setTimeout(() => {
        if (p.inFlight && this.unacked.has(s)) {
          p.inFlight = false;
          this.resent++;
          this.push(p);
        }
      }, wait).unref();
    }
  }
}

/** Registers a device at a gateway (admin token) and returns its device token. */
export async function registerDevice(url: string, adminToken: string, deviceId: string): Promise<string> {
  const headers = { authorization: `Bearer ${adminToken}`, 'content-type': 'application/json' };
  let res = await fetch(url + AuthPath.devices, { method: 'POST', headers, body: JSON.stringify({ deviceId }) });
  if (res.status === 409) {
    res = await fetch(url + deviceTokenPath(deviceId), { method: 'POST', headers });
  }
  const body = (await res.json()) as { token?: string };
  if (!res.ok || !body.token) throw new Error(`registering ${deviceId}: ${res.status} ${JSON.stringify(body)}`);
  return body.token;
}

/**
 * An MQTT device publishing at QoS 1 with a persistent session (clean session off, client id = device id). "Acked"
 * means the broker's PUBACK: from then on delivery is the broker's and the gateway's job. mqtt.js keeps unacknowledged
 * QoS 1 publishes in its outgoing store and sends them again after a reconnect.
 */
export class QosMqttDevice {
  readonly acked = new Set<number>();
  sent = 0;
  private seq = 0;
  private inFlight = 0;

  private constructor(
    readonly id: string,
    readonly client: MqttClient,
    private readonly t0: number,
    private readonly stepMs: number,
  ) {}

  static async connect(brokerUrl: string, id: string, t0: number, stepMs: number): Promise<QosMqttDevice> {
    const client = await mqtt.connectAsync(brokerUrl, {
      clientId: id,
      clean: false,
      protocolVersion: 4,
      reconnectPeriod: 500 + Math.random() * 500,
      connectTimeout: 5000,
    });
    return new QosMqttDevice(id, client, t0, stepMs);
  }

  next(): void {
    const seq = ++this.seq;
    this.sent++;
    this.inFlight++;
    const payload = JSON.stringify({ ts: this.t0 + seq * this.stepMs, seq, metrics: { v: seq, t: 20 } });
    this.client.publish(telemetryTopic(this.id), payload, { qos: 1 }, (err) => {
      this.inFlight--;
      if (!err) this.acked.add(seq);
    });
  }

  async drained(ms = 60_000): Promise<void> {
    const until = Date.now() + ms;
    while (this.inFlight > 0) {
      if (Date.now() > until) throw new Error(`${this.id}: ${this.inFlight} publishes still unacknowledged`);
      await sleep(50);
    }
  }

  async close(): Promise<void> {
    await this.client.endAsync();
  }
}
