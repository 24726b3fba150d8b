import type { DeviceSummary, Reading } from '@fieldline/contracts';

interface DeviceState {
  deviceId: string;
  online: boolean;
  lastSeen: number | null;
  latestTs: number | null;
  latest: Record<string, number>;
  metrics: Set<string>;
}

/** Where presence changes go (the `/devices` namespace). */
export interface PresenceListener {
  online(device: DeviceSummary): void;
  offline(device: DeviceSummary): void;
  updated(devices: DeviceSummary[]): void;
}

/**
 * Which devices exist, which are online, and their latest values. A device is online while it sends and goes
 * offline after `offlineAfterMs` of silence, or at once when it says so (MQTT status / last will).
 */
export class PresenceService {
  private readonly devices = new Map<string, DeviceState>();
  private dirty = new Set<string>();
  private timer: NodeJS.Timeout | null = null;
  private listener: PresenceListener | null = null;

  constructor(
    private readonly offlineAfterMs: number,
    private readonly tickMs: number,
    private readonly now: () => number = Date.now,
  ) {}

  setListener(listener: PresenceListener): void {
    this.listener = listener;
  }

  start(): void {
    this.timer ??= setInterval(() => this.tick(), this.tickMs);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }

  /** Seeds devices known from the store (offline until they send). */
  seed(devices: { deviceId: string; lastTs: number; latest: Record<string, number>; metrics: string[] }[]): void {
    for (const d of devices) {
      if (this.devices.has(d.deviceId)) continue;
      this.devices.set(d.deviceId, {
        deviceId: d.deviceId,
        online: false,
        lastSeen: d.lastTs,
        latestTs: d.lastTs,
        latest: { ...d.latest },
        metrics: new Set(d.metrics),
      });
    }
  }

  /** Hot path: a reading was accepted. */
  seen(reading: Reading, receivedAt: number): void {
    let d = this.devices.get(reading.deviceId);
    if (!d) {
      d = { deviceId: reading.deviceId, online: false, lastSeen: null, latestTs: null, latest: {}, metrics: new Set() };
      this.devices.set(reading.deviceId, d);
    }
    d.lastSeen = receivedAt;
    // Out-of-order readings must not roll the latest values back.
    if (d.latestTs === null || reading.ts >= d.latestTs) {
      d.latestTs = reading.ts;
      for (const name in reading.metrics) {
        d.latest[name] = reading.metrics[name]!;
        d.metrics.add(name);
      }
    } else {
      for (const name in reading.metrics) d.metrics.add(name);
    }
    if (!d.online) {
      d.online = true;
      this.listener?.online(summary(d));
    } else {
      this.dirty.add(d.deviceId);
    }
  }

  /** The device said it is going offline (MQTT status topic or last will). */
  markOffline(deviceId: string): void {
    const d = this.devices.get(deviceId);
    if (!d?.online) return;
    d.online = false;
    this.dirty.delete(deviceId);
    this.listener?.offline(summary(d));
  }

  list(): DeviceSummary[] {
    return [...this.devices.values()].map(summary).sort((a, b) => a.deviceId.localeCompare(b.deviceId));
  }

  get(deviceId: string): DeviceSummary | undefined {
    const d = this.devices.get(deviceId);
    return d && summary(d);
  }

  get size(): number {
    return this.devices.size;
  }

  get onlineCount(): number {
    let n = 0;
    for (const d of this.devices.values()) if (d.online) n++;
    return n;
  }

  /** Sends `updated` for devices that changed and marks silent devices offline. */
  tick(): void {
    const cutoff = this.now() - this.offlineAfterMs;
    for (const d of this.devices.values()) {
      if (d.online && d.lastSeen !== null && d.lastSeen < cutoff) {
        d.online = false;
        this.dirty.delete(d.deviceId);
        this.listener?.offline(summary(d));
      }
    }
    if (this.dirty.size === 0) return;
    const changed: DeviceSummary[] = [];
    for (const id of this.dirty) {
      const d = this.devices.get(id);
      if (d) changed.push(summary(d));
    }
    this.dirty = new Set();
    this.listener?.updated(changed);
  }
}

function summary(d: DeviceState): DeviceSummary {
  return {
    deviceId: d.deviceId,
    online: d.online,
    lastSeen: d.lastSeen,
    latestTs: d.latestTs,
    latest: { ...d.latest },
    metrics: [...d.metrics].sort(),
  };
}
