import type { Reading } from '@fieldline/contracts';

export type LiveSink = (deviceId: string, readings: Reading[]) => void;
type Watcher = (readings: readonly Reading[]) => void;

/**
 * Coalesces live readings per device and hands them to the sink once per tick: an idle gateway emits on the next
 * turn of the event loop, a busy one at most once per `tickMs` per device, so a device sending 1,000 readings/s costs
 * its room 50 events/s, not 1,000.
 */
export class LiveFanout {
  private pending = new Map<string, Reading[]>();
  private watchers = new Map<string, Set<Watcher>>();
  private scheduled: NodeJS.Timeout | NodeJS.Immediate | null = null;
  private lastFlush = 0;
  private sink: LiveSink = () => {};
  /** Events handed to the sink and readings in them, for /metrics. */
  events = 0;
  delivered = 0;

  constructor(private readonly tickMs: number) {}

  setSink(sink: LiveSink): void {
    this.sink = sink;
  }

  push(reading: Reading): void {
    const list = this.pending.get(reading.deviceId);
    if (list) list.push(reading);
    else this.pending.set(reading.deviceId, [reading]);
    if (this.scheduled === null) this.schedule();
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

  /** Hands everything pending to the sink now. */
  flush(): void {
    if (this.scheduled !== null) {
      clearTimeout(this.scheduled as NodeJS.Timeout);
      clearImmediate(this.scheduled as NodeJS.Immediate);
      this.scheduled = null;
    }
    this.lastFlush = performance.now();
    if (this.pending.size === 0) return;
    const batch = this.pending;
    this.pending = new Map();
    for (const [deviceId, readings] of batch) {
      this.events++;
      this.delivered += readings.length;
      if (this.watchers.size !== 0) this.watchers.get(deviceId)?.forEach((w) => w(readings));
      this.sink(deviceId, readings);
    }
  }

  close(): void {
    this.flush();
    this.watchers.clear();
  }

  private schedule(): void {
    const wait = this.lastFlush + this.tickMs - performance.now();
    this.scheduled = wait <= 0 ? setImmediate(() => this.flush()) : setTimeout(() => this.flush(), wait);
  }
}
