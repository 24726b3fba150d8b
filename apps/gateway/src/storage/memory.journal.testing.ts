import type { Reading } from '@fieldline/contracts';
import { type CommitListener, type Journal, type JournalStats, OpenGroup } from './journal';

/**
 * A {@link Journal} in memory, for unit specs only: the spool's contract (group commit at the end of the event-loop
 * turn, a size bound counted in the spool's bytes, read-back of the stretch the writer could not hold, trim on
 * confirm) without files. {@link restart} gives what a new run would find after a crash.
 */
export class MemoryJournal implements Journal {
  /** Committed readings not yet confirmed, oldest first, with their size and commit time. */
  private readonly held: Reading[] = [];
  private readonly sizes: number[] = [];
  private readonly times: number[] = [];
  /** The first `leftover` of `held` were left by an earlier run. */
  private leftover: number;
  /** Index in `held` where the journal-only stretch continues; null when the writer holds everything. */
  private cursor: number | null;
  private lastGroupStart = 0;
  private bytes = 0;
  private readonly group = new OpenGroup(() => this.commit());
  private onCommit: CommitListener | null = null;
  private closed = false;
  private groups = 0;
  private appended = 0;
  lastReadReplay = false;

  constructor(
    readonly maxBytes: number,
    leftover: readonly Reading[] = [],
  ) {
    for (const r of leftover) this.hold(r);
    this.leftover = leftover.length;
    this.cursor = leftover.length > 0 ? 0 : null;
  }

  /** A new journal holding what this one has not confirmed, as a new run would find it. */
  restart(): MemoryJournal {
    return new MemoryJournal(this.maxBytes, this.held);
  }

  open(onCommit: CommitListener): void {
    this.onCommit = onCommit;
  }

  get behind(): boolean {
    return this.cursor !== null;
  }

  get backlog(): number {
    return this.cursor === null ? 0 : this.held.length - this.cursor;
  }

  append(readings: readonly Reading[]): boolean {
    if (this.closed || this.bytes >= this.maxBytes) return false;
    if (readings.length > 0) this.group.add(readings);
    return true;
  }

  afterCommit(cb: (err?: Error) => void): void {
    this.group.afterCommit(cb);
  }

  commit(): void {
    const taken = this.group.take();
    if (taken === null) return;
    const { readings, callbacks } = taken;
    if (readings.length > 0) {
      this.lastGroupStart = this.held.length;
      for (const r of readings) this.hold(r);
      this.groups++;
      this.appended += readings.length;
      this.onCommit?.(readings);
    }
    for (const cb of callbacks) cb();
  }

  markBehind(): void {
    this.cursor ??= this.lastGroupStart;
  }

  readBack(max: number): Promise<Reading[]> {
    const out: Reading[] = [];
    let replay = false;
    while (this.cursor !== null && out.length < max) {
      if (this.cursor >= this.held.length) {
        this.cursor = null;
        break;
      }
      const isReplay = this.cursor < this.leftover;
      // A batch is all replayed or all of this run, as the spool returns it: the writer counts them apart.
      if (out.length === 0) replay = isReplay;
      else if (isReplay !== replay) break;
      out.push(this.held[this.cursor++]);
    }
    this.lastReadReplay = replay;
    return Promise.resolve(out);
  }

  confirm(n: number): void {
    const k = Math.min(n, this.held.length);
    this.held.splice(0, k);
    this.times.splice(0, k);
    for (const size of this.sizes.splice(0, k)) this.bytes -= size;
    this.leftover = Math.max(0, this.leftover - k);
    this.lastGroupStart = Math.max(0, this.lastGroupStart - k);
    if (this.cursor !== null) this.cursor = Math.max(0, this.cursor - k);
  }

  stats(): JournalStats {
    return {
      bytes: this.bytes,
      segments: this.held.length > 0 ? 1 : 0,
      oldestAgeMs: this.times.length > 0 ? Math.max(0, Date.now() - this.times[0]) : 0,
      backlog: this.backlog,
      groups: this.groups,
      appended: this.appended,
      skipped: 0,
    };
  }

  close(): void {
    if (this.closed) return;
    this.commit();
    this.closed = true;
  }

  private hold(r: Reading): void {
    // The spool's line for it: the bound then means the same bytes in both journals.
    const size = JSON.stringify(r).length + 1;
    this.held.push(r);
    this.sizes.push(size);
    this.times.push(Date.now());
    this.bytes += size;
  }
}
