import type { DeviceSummary, Reading } from '@fieldline/contracts';

interface DeviceState {
  deviceId: string;
  online: boolean;
  lastSeen: number | null;
  latestTs: number | null;
  latest: Record<string, number>;
  /** Device timestamp of each value in `latest`: each metric keeps its own newest value. */
  latestAt: Record<string, number>;
  metrics: Set<string>;
  /** When the device last said it went offline (status topic / last will), gateway clock. */
  offlineAt: number | null;
}

/**
 * What one node tells the others about a device (several nodes, see `presence.redis.ts`). Every field merges by
 * "newest wins", so deltas can be applied in any order, twice, or after a snapshot, and all nodes converge.
 */
export interface PresenceDelta {
  deviceId: string;
  lastSeen: number | null;
  offlineAt: number | null;
  /** `[metric, device ts, value]` of values that changed. */
  metrics: [string, number, number][];
}

/** Carries this node's presence changes to the other nodes, once per presence tick (never per reading). */
export interface PresenceSync {
  publish(deltas: PresenceDelta[]): void;
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
  /** Devices changed on this node since the last tick, with the metrics whose latest value changed. */
  private outbox = new Map<string, Set<string>>();
  /** `offline` for devices this node does not know (yet): only the time is passed on. */
  private readonly offlineOnly = new Map<string, number>();
  private changeCount = 0;

  constructor(
    private readonly offlineAfterMs: number,
    private readonly tickMs: number,
    /** Where changes go: the `/devices` namespace ({@link DevicesChannel}); null in specs that only look. */
    private readonly listener: PresenceListener | null,
    private readonly now: () => number = Date.now,
    /** Where this node's changes go for other nodes (several nodes); see {@link apply} for the other direction. */
    private readonly sync: PresenceSync | null = null,
  ) {}

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
        latest: Object.assign(byMetric<number>(), d.latest),
        // The store knows only the device's last timestamp: a value of any later reading replaces these.
        latestAt: Object.assign(
          byMetric<number>(),
          Object.fromEntries(Object.keys(d.latest).map((m) => [m, Number.MIN_SAFE_INTEGER])),
        ),
        metrics: new Set(d.metrics),
        offlineAt: null,
      });
    }
  }

  /**
   * Restores last-seen times saved by an earlier run (gateway clock, see presence.file.ts), after {@link seed}. The
   * newer of the saved time and the store's last reading wins: readings stored after the last save (a crash) count.
   */
  restoreLastSeen(lastSeen: ReadonlyMap<string, number>): void {
    for (const [deviceId, t] of lastSeen) {
      let d = this.devices.get(deviceId);
      if (!d) {
        d = newState(deviceId);
        this.devices.set(deviceId, d);
      }
      if (d.lastSeen === null || t > d.lastSeen) d.lastSeen = t;
    }
  }

  /** Last-seen time of every device that was ever heard, to be saved across restarts. */
  lastSeenTimes(): Map<string, number> {
    const out = new Map<string, number>();
    for (const d of this.devices.values()) if (d.lastSeen !== null) out.set(d.deviceId, d.lastSeen);
    return out;
  }

  /** Counts changes of last-seen times, so that a periodic save can skip when nothing changed. */
  get changes(): number {
    return this.changeCount;
  }

  /** Hot path: a reading was accepted. */
  seen(reading: Reading, receivedAt: number): void {
    let d = this.devices.get(reading.deviceId);
    if (!d) {
      d = newState(reading.deviceId);
      this.devices.set(reading.deviceId, d);
    }
    if (d.lastSeen === null || receivedAt > d.lastSeen) d.lastSeen = receivedAt;
    this.changeCount++;
    const ts = reading.ts;
    if (d.latestTs === null || ts >= d.latestTs) d.latestTs = ts;
    const changed = this.sync === null ? null : this.outboxOf(d.deviceId);
    // Each metric keeps its newest value: a late, older reading must not roll it back, but may bring a metric
    // the newer readings lack.
    const metrics = reading.metrics;
    for (const name in metrics) {
      const at = d.latestAt[name];
      if (at === undefined || ts >= at) {
        d.latest[name] = metrics[name]!;
        d.latestAt[name] = ts;
        changed?.add(name);
      }
      d.metrics.add(name);
    }
    if (!d.online) {
      d.online = true;
      this.listener?.online(summary(d));
    } else {
      this.dirty.add(d.deviceId);
    }
  }

  /** The device said it is going offline (MQTT status topic or last will). */
  markOffline(deviceId: string, at: number = this.now()): void {
    const d = this.devices.get(deviceId);
    if (this.sync !== null) {
      // Other nodes may know the device as online even when this one has not seen it yet.
      if (d) d.offlineAt = Math.max(d.offlineAt ?? at, at);
      this.outboxOf(deviceId);
      if (!d) this.offlineOnly.set(deviceId, Math.max(this.offlineOnly.get(deviceId) ?? at, at));
    }
    if (!d?.online) return;
    d.online = false;
    this.dirty.delete(deviceId);
    this.listener?.offline(summary(d));
  }

  /**
   * Merges what other nodes saw (or a snapshot of the shared state) into this node's view, and tells this node's
   * listener about the devices that went online, offline or changed. Newest wins field by field.
   */
  apply(deltas: readonly PresenceDelta[]): void {
    const cutoff = this.now() - this.offlineAfterMs;
    for (const delta of deltas) {
      let d = this.devices.get(delta.deviceId);
      if (!d) {
        // A bare "offline" about a device this node never heard of carries nothing to show.
        if (delta.lastSeen === null && delta.metrics.length === 0) continue;
        d = newState(delta.deviceId);
        this.devices.set(delta.deviceId, d);
      }
      let changed = false;
      if (delta.lastSeen !== null && (d.lastSeen === null || delta.lastSeen > d.lastSeen)) {
        d.lastSeen = delta.lastSeen;
        this.changeCount++;
        changed = true;
      }
      if (delta.offlineAt !== null && (d.offlineAt === null || delta.offlineAt > d.offlineAt)) {
        d.offlineAt = delta.offlineAt;
        changed = true;
      }
      for (const [name, ts, value] of delta.metrics) {
        const at = d.latestAt[name];
        d.metrics.add(name);
        if (at !== undefined && ts <= at) continue;
        d.latest[name] = value;
        d.latestAt[name] = ts;
        if (d.latestTs === null || ts > d.latestTs) d.latestTs = ts;
        changed = true;
      }
      const online = d.lastSeen !== null && d.lastSeen >= cutoff && (d.offlineAt === null || d.lastSeen > d.offlineAt);
      if (online !== d.online) {
        d.online = online;
        this.dirty.delete(d.deviceId);
        if (online) this.listener?.online(summary(d));
        else this.listener?.offline(summary(d));
      } else if (changed) {
        this.dirty.add(d.deviceId);
      }
    }
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

  private outboxOf(deviceId: string): Set<string> {
    let names = this.outbox.get(deviceId);
    if (!names) this.outbox.set(deviceId, (names = new Set()));
    return names;
  }

  /** One batch per tick to the other nodes: the devices this node changed, with the values that changed. */
  private flushOutbox(): void {
    if (this.sync === null || this.outbox.size === 0) return;
    const deltas: PresenceDelta[] = [];
    for (const [deviceId, names] of this.outbox) {
      const d = this.devices.get(deviceId);
      if (!d) {
        const offlineAt = this.offlineOnly.get(deviceId);
        if (offlineAt !== undefined) deltas.push({ deviceId, lastSeen: null, offlineAt, metrics: [] });
        continue;
      }
      const metrics: [string, number, number][] = [];
      for (const name of names) metrics.push([name, d.latestAt[name], d.latest[name]]);
      deltas.push({ deviceId, lastSeen: d.lastSeen, offlineAt: d.offlineAt, metrics });
    }
    this.outbox = new Map();
    this.offlineOnly.clear();
    this.sync.publish(deltas);
  }

  /** Sends `updated` for devices that changed, marks silent devices offline, and hands this node's changes on. */
  tick(): void {
    this.flushOutbox();
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

/**
 * A record keyed by metric name without a prototype: a metric named `constructor`, `toString` or `valueOf` is a
 * name like any other, not a lookup that finds Object.prototype's method.
 */
function byMetric<T>(): Record<string, T> {
  return Object.create(null) as Record<string, T>;
}

function newState(deviceId: string): DeviceState {
  return {
    deviceId,
    online: false,
    lastSeen: null,
    latestTs: null,
    latest: byMetric(),
    latestAt: byMetric(),
    metrics: new Set(),
    offlineAt: null,
  };
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
