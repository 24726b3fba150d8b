import type { Reading } from '@fieldline/contracts';

/** The identity of a reading: device, timestamp and sequence number (the gateway de-duplicates by the same key). */
export const readingKey = (r: Reading): string => `${r.deviceId}\n${r.ts}\n${r.seq ?? ''}`;

/**
 * The keys of the most recent readings, so that a reading delivered twice (in a `since` backfill and live, or in
 * two overlapping backfills) is kept once. Bounded: beyond `capacity` the oldest keys are forgotten, which only
 * matters for a duplicate arriving `capacity` readings late.
 */
export class RecentKeys {
  private readonly keys = new Set<string>();
  private readonly ring: (string | undefined)[];
  private next = 0;

  constructor(readonly capacity = 50_000) {
    this.ring = new Array<string | undefined>(capacity);
  }

  /** Remembers `key`; false when it was already known. */
  add(key: string): boolean {
    if (this.keys.has(key)) return false;
    const evicted = this.ring[this.next];
    if (evicted !== undefined) this.keys.delete(evicted);
    this.ring[this.next] = key;
    this.next = (this.next + 1) % this.capacity;
    this.keys.add(key);
    return true;
  }

  get size(): number {
    return this.keys.size;
  }
}
