import { Deque } from './deque';
import type { OutMessage } from './transports/transport';

/**
 * A device's messages waiting to be written, oldest first, bounded in readings like a real device's memory, and
 * paused while the gateway has asked it to come back later.
 */
export class Outbox {
  private readonly queue = new Deque<OutMessage>();
  private queued = 0;
  /** `performance.now()` before which nothing is written (after a "retry later" answer). */
  private pausedUntil = 0;

  /** `onDrop` hears of every message pushed out to keep the outbox within `maxReadings`. */
  constructor(
    private readonly maxReadings: number,
    private readonly onDrop: (msg: OutMessage) => void,
  ) {}

  /** Messages waiting. */
  get length(): number {
    return this.queue.length;
  }

  /** Readings in the waiting messages. */
  get readings(): number {
    return this.queued;
  }

  /** Adds a message at the back; beyond the bound the oldest unsent readings go first (never the last message). */
  push(msg: OutMessage): void {
    this.queue.push(msg);
    this.queued += msg.count;
    while (this.queued > this.maxReadings && this.queue.length > 1) {
      const old = this.queue.shift()!;
      this.queued -= old.count;
      this.onDrop(old);
    }
  }

  /** Puts a message that could not be delivered back in front, unbounded: it was already counted in. */
  requeue(msg: OutMessage): void {
    this.queue.unshift(msg);
    this.queued += msg.count;
  }

  shift(): OutMessage | undefined {
    const msg = this.queue.shift();
    if (msg) this.queued -= msg.count;
    return msg;
  }

  /** Holds every write until `until` (`performance.now()`); a later pause wins over an earlier one. */
  pause(until: number): void {
    this.pausedUntil = Math.max(this.pausedUntil, until);
  }

  /** True while paused; the pause ends by itself once its time has come. */
  paused(now = performance.now()): boolean {
    if (this.pausedUntil === 0) return false;
    if (now < this.pausedUntil) return true;
    this.pausedUntil = 0;
    return false;
  }
}
