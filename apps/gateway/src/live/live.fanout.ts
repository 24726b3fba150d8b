import type { Reading } from '@fieldline/contracts';

export type LiveSink = (deviceId: string, readings: Reading[]) => void;
type Watcher = (readings: readonly Reading[]) => void;

/**
 * Coalesces live readings per device, adaptively: while the event loop has time to spare a reading goes out on the
 * next turn of the loop (with every other reading that arrived in the same turn), so the live stream adds no tick to
 * the latency; as the loop gets busy, a device that had an event recently is held for up to `tickMs` since that event,
 * so that under load a device sending 1,000 readings/s costs its room at most 1000 / `tickMs` events/s. A device that
 * had no event for that long goes out at once even then (leading edge). One timer (or immediate) serves all devices.
 */
const LOAD_SAMPLE_MS = 100;
const LOAD_IDLE = 0.5;
const LOAD_BUSY = 0.8;

/** The event loop's utilisation between successive calls. */
function eventLoopLoad(): () => number {
  let prev = performance.eventLoopUtilization();
  return () => {
    const cur = performance.eventLoopUtilization();
    const { utilization } = performance.eventLoopUtilization(cur, prev);
    prev = cur;
    return utilization;
  };
}

export class LiveFanout {
  private pending = new Map<string, Reading[]>();
  /** When each device's last event went out (performance.now()); pruned of entries older than a tick. */
  private lastEmit = new Map<string, number>();
  private watchers = new Map<string, Set<Watcher>>();
  private scheduled: NodeJS.Timeout | NodeJS.Immediate | null = null;
  /** When the scheduled flush runs (performance.now()); 0 for the next turn of the loop. */
  private scheduledAt = 0;
  /** How long a device waits after its last event before the next one, now: 0 when idle, up to `tickMs` under load. */
  private hold = 0;
  private loadSampledAt = 0;
  /** Events handed to the sink and readings in them, for /metrics. */
  events = 0;
  delivered = 0;

  /**
   * @param tickMs the longest a device's readings are held under load (`LIVE_TICK_MS`)
   * @param sink where a device's batch goes (its Socket.IO room: {@link TelemetryChannel})
   * @param load the main thread's busy share since the previous call, 0–1 (default: event-loop utilisation)
   */
  constructor(
    private readonly tickMs: number,
    private readonly sink: LiveSink,
    private readonly load: () => number = eventLoopLoad(),
  ) {}

  push(reading: Reading): void {
    const deviceId = reading.deviceId;
    const list = this.pending.get(deviceId);
    if (list) {
      list.push(reading);
      return;
    }
    this.pending.set(deviceId, [reading]);
    const last = this.lastEmit.get(deviceId);
    this.schedule(last === undefined ? 0 : last + this.holdMs());
  }

  /** Readings of a device received but not yet handed to the sink. */
  pendingFor(deviceId: string): readonly Reading[] {
    return this.pending.get(deviceId) ?? [];
  }

  /** Calls `fn` with every batch of this device handed to the sink until the returned function is called. */
  watch(deviceId: string, fn: Watcher): () => void {
    let set = this.watchers.get(deviceId);
    if (!set) this.watchers.set(deviceId, (set = new Set()));
    set.add(fn);
    return () => {
      set.delete(fn);
      if (set.size === 0) this.watchers.delete(deviceId);
    };
  }

  /** Hands everything pending to the sink now, whatever the tick. */
  flush(): void {
    this.cancel();
    this.emitDue(Infinity);
  }

  close(): void {
    this.flush();
    this.watchers.clear();
  }

  /** Hands out every device whose tick has passed by `now`; schedules the rest for when their tick ends. */
  private emitDue(now: number): void {
    if (this.pending.size === 0) return;
    const stamp = now === Infinity ? performance.now() : now;
    const hold = this.holdMs();
    let next = Infinity;
    for (const [deviceId, readings] of this.pending) {
      const last = this.lastEmit.get(deviceId);
      // Within a millisecond of its tick counts as due: a timer may fire a little early.
      const due = last === undefined ? 0 : last + hold - 1;
      if (due > now) {
        if (due < next) next = due;
        continue;
      }
      this.pending.delete(deviceId);
      this.lastEmit.set(deviceId, stamp);
      this.events++;
      this.delivered += readings.length;
      if (this.watchers.size !== 0) this.watchers.get(deviceId)?.forEach((w) => w(readings));
      this.sink(deviceId, readings);
    }
    // Forget devices quiet for a tick (they are due anyway), so that the map holds only the recently active ones.
    if (this.lastEmit.size > 2 * this.pending.size + 64) {
      const stale = stamp - this.tickMs;
      for (const [deviceId, at] of this.lastEmit) if (at <= stale) this.lastEmit.delete(deviceId);
    }
    if (next !== Infinity) this.schedule(next + 1);
  }

  /**
   * The hold for the current load, sampled at most every 100 ms: none while the loop is busy under half the time,
   * the whole tick from 80 % on, linear in between.
   */
  private holdMs(): number {
    const now = performance.now();
    if (now - this.loadSampledAt >= LOAD_SAMPLE_MS) {
      this.loadSampledAt = now;
      const busy = this.load();
      this.hold = this.tickMs * Math.min(1, Math.max(0, (busy - LOAD_IDLE) / (LOAD_BUSY - LOAD_IDLE)));
    }
    return this.hold;
  }

  /** Makes sure a flush runs by `at` (performance.now() time; 0 or past: on the next turn of the loop). */
  private schedule(at: number): void {
    const now = performance.now();
    if (at <= now) at = 0;
    if (this.scheduled !== null) {
      if (this.scheduledAt <= at) return;
      this.cancel();
    }
    this.scheduledAt = at;
    this.scheduled = at === 0 ? setImmediate(this.onTimer) : setTimeout(this.onTimer, Math.max(1, Math.ceil(at - now)));
  }

  private cancel(): void {
    if (this.scheduled === null) return;
    clearTimeout(this.scheduled as NodeJS.Timeout);
    clearImmediate(this.scheduled as NodeJS.Immediate);
    this.scheduled = null;
  }

  private readonly onTimer = (): void => {
    this.scheduled = null;
    this.emitDue(performance.now());
  };
}
