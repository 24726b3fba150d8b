/*
 * Fault: the broker (a dedicated Mosquitto) restarted with 1,000 device connections. Devices reconnect as firmware
 * should: full-jitter exponential backoff (250 ms doubling, capped at 5 s), so a restart does not turn into a
 * synchronised connect storm. Figures: time from the broker answering again until every device is connected, peak
 * connects per second (sliding 1 s window). Goal: all back < 30 s.
 */
import mqtt, { type MqttClient } from 'mqtt';
import { type RestartableService, startRestartable } from '../../../../../scripts/test-services';
import { figure, jitteredBackoff, LONG, sleep } from '../../faults/devices';
import { describeWithServices, uniqueName } from '../services';

const DEVICES = 1000;
const DOWN_MS = LONG ? 10_000 : 3000;
const GOAL_MS = 30_000;

/** A device connection that reconnects with jittered backoff and records when it connected. */
class Reconnecting {
  readonly client: MqttClient;
  connects: number[] = [];
  private attempt = 0;
  private timer: NodeJS.Timeout | null = null;
  private stopped = false;

  constructor(url: string, id: string) {
    // mqtt.js reconnects at a fixed period without jitter: reconnect ourselves.
    this.client = mqtt.connect(url, { clientId: id, reconnectPeriod: 0, connectTimeout: 5000, keepalive: 60 });
    this.client.on('connect', () => {
      this.attempt = 0;
      this.connects.push(Date.now());
    });
    this.client.on('error', () => undefined);
    this.client.on('close', () => {
      if (this.stopped || this.timer) return;
      this.timer = setTimeout(
        () => {
          this.timer = null;
          if (!this.stopped && !this.client.connected) this.client.reconnect();
        },
        jitteredBackoff(this.attempt++, 250, 5000),
      );
    });
  }

  get connected(): boolean {
    return this.client.connected;
  }

  async close(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    await this.client.endAsync(true).catch(() => undefined);
  }
}

async function until(what: string, ok: () => boolean, ms: number): Promise<void> {
  const end = Date.now() + ms;
  while (!ok()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(20);
  }
}

describeWithServices('fault: the broker restarted with 1,000 device connections', () => {
  let broker: RestartableService;
  const devices: Reconnecting[] = [];

  beforeAll(async () => {
    broker = await startRestartable('mosquitto');
  });

  afterAll(async () => {
    await Promise.all(devices.map((d) => d.close()));
    await broker?.remove();
  });

  it(`${DEVICES} devices are all back within 30 s, reconnecting with jitter`, async () => {
    const prefix = uniqueName('brk');
    for (let i = 0; i < DEVICES; i++) {
      devices.push(new Reconnecting(broker.url, `${prefix}-${i}`));
      if (i % 50 === 49) await sleep(50);
    }
    const count = (): number => devices.reduce((n, d) => n + (d.connected ? 1 : 0), 0);
    await until('all devices connected', () => count() === DEVICES, 60_000);

    const downAt = Date.now();
    await broker.stop('SIGTERM');
    await until('every device to notice', () => count() === 0, 30_000);
    const noticedMs = Date.now() - downAt;
    await sleep(Math.max(0, DOWN_MS - (Date.now() - downAt)));
    // Measured from the start of the broker process (it accepts connections before the probe sees it ready).
    const upAt = Date.now();
    await broker.start();
    const readyMs = Date.now() - upAt;
    let backMs = -1;
    try {
      await until('all devices back', () => count() === DEVICES, 60_000);
      backMs = Date.now() - upAt;
    } catch {
      // reported below
    }
    const after = devices.flatMap((d) => d.connects.filter((t) => t >= downAt)).sort((x, y) => x - y);
    let peak = 0;
    for (let i = 0, j = 0; i < after.length; i++) {
      while (after[i] - after[j] >= 1000) j++;
      peak = Math.max(peak, i - j + 1);
    }
    const perSecond: number[] = [];
    for (const t of after)
      perSecond[Math.floor((t - upAt) / 1000)] = (perSecond[Math.floor((t - upAt) / 1000)] ?? 0) + 1;
    const at = (q: number): number =>
      after.length ? after[Math.min(after.length - 1, Math.floor(q * after.length))] - upAt : -1;
    figure('broker-restart', {
      devices: DEVICES,
      downMs: upAt - downAt,
      noticedMs,
      brokerReadyMs: readyMs,
      backMs,
      connected: count(),
      reconnects: after.length,
      peakConnectsPerS: peak,
      connectsPerSecond: Array.from(perSecond, (n) => n ?? 0),
      p50Ms: at(0.5),
      p90Ms: at(0.9),
    });
    expect(count()).toBe(DEVICES);
    expect(backMs).toBeGreaterThanOrEqual(0);
    expect(backMs).toBeLessThan(GOAL_MS);
  }, 300_000);
});
