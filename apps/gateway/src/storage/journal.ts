import type { Reading } from '@fieldline/contracts';

/** Sizes of a {@link Journal}, for /health and /metrics. */
export interface JournalStats {
  /** Bytes held (segment files for the spool). */
  bytes: number;
  segments: number;
  /** Age in ms of the oldest reading held (0 when none). */
  oldestAgeMs: number;
  /** Readings only in the journal, waiting to be read back for the store. */
  backlog: number;
  /** Group commits so far, and the readings in them. */
  groups: number;
  appended: number;
  /** Entries skipped on replay (torn or corrupt). */
  skipped: number;
}

/** Called after each group commit with the group's readings. */
export type CommitListener = (readings: readonly Reading[]) => void;

/**
 * The journal behind the {@link WriteBuffer}: every accepted reading is in it before its device is acked, and stays
 * until the store has it. The spool (spool.ts) is the gateway's; `MemoryJournal` (memory.journal.testing.ts) stands
 * in for it in unit specs, and one suite (write-buffer.spec.ts) runs the buffer over both.
 *
 * The writer consumes readings in acceptance order: from memory while it keeps up (it holds each committed group it
 * has room for), and by {@link readBack} for the stretch it could not hold ({@link markBehind}) and for what an
 * earlier run left. {@link confirm} trims what is stored, in the same order.
 */
export interface Journal {
  /**
   * Finds what an earlier run left (read back first: {@link behind} is then true), and from now on hands each
   * committed group to `onCommit`, which either holds it in memory or calls {@link markBehind}.
   */
  open(onCommit: CommitListener): void;
  /**
   * Adds readings to the open group, without I/O; the group is committed at the end of this event-loop turn.
   * Returns false, taking none, when the journal is at its size bound or closed.
   */
  append(readings: readonly Reading[]): boolean;
  /** Calls `cb` once everything appended so far is committed (at once when it is), or with the commit's error. */
  afterCommit(cb: (err?: Error) => void): void;
  /** Commits the open group now. */
  commit(): void;
  /** True while some readings are only in the journal (the writer could not hold them, or an earlier run left them). */
  readonly behind: boolean;
  /** The writer cannot hold the group just committed (`n` readings): from it on, readings are read back. */
  markBehind(n: number): void;
  /** The next readings of the journal-only stretch, at most `max`, in order; [] once caught up. One call at a time. */
  readBack(max: number): Promise<Reading[]>;
  /** Whether the last {@link readBack} returned readings left by an earlier run (not accepted by this one). */
  readonly lastReadReplay: boolean;
  /** `n` more readings, the oldest not yet confirmed, are stored (or dead-lettered): their space may be freed. */
  confirm(n: number): void;
  /** Readings waiting in the journal only. */
  readonly backlog: number;
  /** The size bound beyond which `append` refuses. */
  readonly maxBytes: number;
  stats(): JournalStats;
  /** Commits the open group and releases files; what is not yet confirmed stays for the next start. */
  close(): void;
}

/**
 * The open group of a journal: the readings appended during this event-loop turn and the callbacks waiting for
 * them. One `setImmediate` per group runs `commit`, which {@link take}s the group.
 */
export class OpenGroup {
  private readings: Reading[] = [];
  private callbacks: ((err?: Error) => void)[] = [];
  private scheduled: NodeJS.Immediate | null = null;

  constructor(private readonly commit: () => void) {}

  add(readings: readonly Reading[]): void {
    const g = this.readings;
    for (let i = 0; i < readings.length; i++) g.push(readings[i]);
    this.scheduled ??= setImmediate(this.commit);
  }

  get size(): number {
    return this.readings.length;
  }

  afterCommit(cb: (err?: Error) => void): void {
    if (this.readings.length === 0 && this.callbacks.length === 0) cb();
    else this.callbacks.push(cb);
  }

  /** Takes the group (null when empty) and starts a new one. */
  take(): { readings: Reading[]; callbacks: ((err?: Error) => void)[] } | null {
    if (this.scheduled !== null) {
      // Taken early (flush, close): the turn's commit has nothing left to do, and must not hold the loop open.
      clearImmediate(this.scheduled);
      this.scheduled = null;
    }
    if (this.readings.length === 0 && this.callbacks.length === 0) return null;
    const group = { readings: this.readings, callbacks: this.callbacks };
    this.readings = [];
    this.callbacks = [];
    return group;
  }
}
