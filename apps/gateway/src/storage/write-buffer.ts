import type { Reading } from '@fieldline/contracts';
import { errorMessage } from '@fieldline/contracts';
import { type Logger, logger } from '../common/logger';
import type { DeadLetter } from './dead-letter';
import type { Journal, JournalStats } from './journal';
import { PermanentStoreError, type TelemetryStore } from './store';

/** Tuning of the {@link WriteBuffer}. */
export interface WriteBufferOptions {
  /** Most readings per store write; reaching it starts a write at once. */
  maxBatch: number;
  /** Longest a reading waits in the buffer before a write starts (when the store keeps up). */
  flushIntervalMs: number;
  /**
   * Most readings held in memory (pending + in flight). Further readings stay in the journal only and are read back
   * when the store catches up; `add` refuses (STORE_UNAVAILABLE) only once the journal is at its size bound.
   */
  maxPending: number;
  /** First retry delay after a failed write; doubles per failure. Default 100. */
  retryBaseMs?: number;
  /** Longest retry delay. Default 5000. */
  retryMaxMs?: number;
  /** How long `close` keeps retrying before it gives up on what is left. Default 10 000. */
  closeTimeoutMs?: number;
}

/** Counters of the {@link WriteBuffer}, for /health and /metrics. */
export interface WriteBufferStats {
  /** Readings waiting for a write. */
  pending: number;
  /** Readings of the write in progress (or waiting to be retried). */
  inFlight: number;
  /** Readings confirmed stored. */
  written: number;
  /** Successful store writes. */
  batches: number;
  /** Failed store writes (each was retried). */
  failures: number;
  /** Duration of the last successful write, in ms. */
  lastFlushMs: number;
  /** Message of the most recent failed write, if any. */
  lastError: string | null;
  /** Readings the store refused for good, moved to the dead letter. */
  deadLettered: number;
  /** Readings left by an earlier run and written from the journal. */
  replayed: number;
  /** The journal (named for the spool, the production journal, as /health and /metrics show it). */
  spool: JournalStats;
}

interface Waiter {
  /** Resolved once this many readings (counted since start, in arrival order) are written. */
  target: number;
  /** `close` keeps retrying through failures; `flush` reports the first one. */
  throughFailures: boolean;
  resolve(): void;
  reject(err: unknown): void;
}

const NONE: readonly Reading[] = [];

/**
 * Sits between the ingest pipeline and the store: readings are written in batches (by size, or after
 * `flushIntervalMs`), one write at a time. A failed write is retried with exponential backoff, batch intact and first
 * in line, while new readings keep buffering up to `maxPending`.
 *
 * `add` puts readings in the {@link Journal} first (the spool in the gateway; group commit, devices are acked in
 * {@link afterDurable}); a committed group is held in memory for the store while it fits in `maxPending`, else it
 * stays in the journal only and is read back in order once the store has caught up. What a crashed run left is
 * replayed first ({@link resume}). A batch the store refuses for good ({@link PermanentStoreError}) goes to the
 * {@link DeadLetter} and the queue moves on.
 */
export class WriteBuffer {
  private pending: Reading[] = [];
  /** The batch being written; kept until the store confirms it, so a failure loses nothing and keeps order. */
  private inFlight: readonly Reading[] = NONE;
  /** When `pending` last became non-empty: the oldest waiting reading arrived no earlier. */
  private pendingSince = 0;
  private timer: NodeJS.Timeout | null = null;
  private running = false;
  /** Cuts a retry delay short (flush and close retry at once). */
  private wake: (() => void) | null = null;
  private waiters: Waiter[] = [];
  private writtenListeners: ((written: number) => void)[] = [];
  private accepted = 0;
  private written = 0;
  private batches = 0;
  private failures = 0;
  private consecutiveFailures = 0;
  private lastFlushMs = 0;
  private lastError: string | null = null;
  private deadLettered = 0;
  private replayed = 0;
  /** The batch in flight was read back from segments left by an earlier run (not counted in `accepted`). */
  private inFlightReplay = false;
  private closing = false;
  /** Set once close is done or has given up: nothing more is written. */
  private stopped = false;
  private closed: Promise<void> | null = null;
  private readonly maxBatch: number;
  private readonly flushIntervalMs: number;
  private readonly maxPending: number;
  private readonly retryBaseMs: number;
  private readonly retryMaxMs: number;
  private readonly closeTimeoutMs: number;

  constructor(
    private readonly store: TelemetryStore,
    /** Journal of accepted readings, not yet opened: `add` takes readings once they are committed there. */
    private readonly journal: Journal,
    opts: WriteBufferOptions,
    private readonly log: Pick<Logger, 'warn' | 'error'> = logger('WriteBuffer'),
    private readonly deadLetter: DeadLetter | null = null,
  ) {
    this.maxBatch = positive('maxBatch', opts.maxBatch);
    this.flushIntervalMs = positive('flushIntervalMs', opts.flushIntervalMs, true);
    this.maxPending = positive('maxPending', opts.maxPending);
    this.retryBaseMs = positive('retryBaseMs', opts.retryBaseMs ?? 100, true);
    this.retryMaxMs = Math.max(this.retryBaseMs, positive('retryMaxMs', opts.retryMaxMs ?? 5000, true));
    this.closeTimeoutMs = positive('closeTimeoutMs', opts.closeTimeoutMs ?? 10_000, true);
    journal.open((readings) => this.onCommitted(readings));
  }

  /** False while the latest write attempt failed (the buffer is retrying). */
  get healthy(): boolean {
    return this.consecutiveFailures === 0;
  }

  /** The journal's size bound. */
  get spoolMaxBytes(): number {
    return this.journal.maxBytes;
  }

  /** Readings wait in the journal only: the store is down or slower than ingest, or a crashed run is being replayed. */
  get spooling(): boolean {
    return this.journal.behind;
  }

  /**
   * Calls `cb` once every reading added so far is durable (committed to the journal), or with the error that kept it
   * from being written. One callback list per group commit: no promise per reading.
   */
  afterDurable(cb: (err?: Error) => void): void {
    this.journal.afterCommit(cb);
  }

  /**
   * Journals readings for writing. Returns false, taking none of them, when the journal is full or the buffer is
   * closing: the caller refuses them (STORE_UNAVAILABLE / SHUTTING_DOWN) so the device resends later.
   */
  add(readings: readonly Reading[]): boolean {
    if (this.closing || !this.journal.append(readings)) return false;
    this.accepted += readings.length;
    return true;
  }

  /** A group is in the journal: hold it in memory for the store, or leave it in the journal when memory is full. */
  private onCommitted(readings: readonly Reading[]): void {
    const n = readings.length;
    const journal = this.journal;
    if (journal.behind || this.pending.length + this.inFlight.length + n > this.maxPending) {
      journal.markBehind(n);
    } else {
      const pending = this.pending;
      if (pending.length === 0) this.pendingSince = Date.now();
      for (let i = 0; i < n; i++) pending.push(readings[i]);
    }
    if (this.stopped) return;
    // While a write runs, the loop picks up what arrived when it finishes; no timer needed.
    if (!this.running) {
      if (this.pending.length >= this.maxBatch || journal.behind) this.start(false);
      else if (this.timer === null) this.arm(this.flushIntervalMs);
    }
  }

  /** Starts writing what an earlier run left in the journal (call once at start). */
  resume(): void {
    if (this.journal.behind && !this.running && !this.stopped) this.start(true);
  }

  /**
   * Readings accepted so far, counted from the start. Readings are stored in the order they were added, so a reading
   * added when this was `n` is stored once {@link onWritten} reports `written >= n`.
   */
  get acceptedCount(): number {
    return this.accepted;
  }

  /**
   * Calls `fn` with the number of readings stored so far (counted from the start) after every successful store
   * write, until the returned function is called. For transports that acknowledge only what is stored (the external
   * MQTT broker: its PUBACK releases the message).
   */
  onWritten(fn: (written: number) => void): () => void {
    this.writtenListeners.push(fn);
    return () => {
      this.writtenListeners = this.writtenListeners.filter((f) => f !== fn);
    };
  }

  /** Readings of `deviceId` with `ts > since` not yet confirmed stored, in arrival order (for subscribe backfill). */
  recent(deviceId: string, since: number): Reading[] {
    const out: Reading[] = [];
    for (const r of this.inFlight) if (r.deviceId === deviceId && r.ts > since) out.push(r);
    for (const r of this.pending) if (r.deviceId === deviceId && r.ts > since) out.push(r);
    return out;
  }

  /**
   * Writes everything buffered now, without waiting for the timer. Resolves when those readings are stored; rejects
   * when a write attempt fails (the readings stay buffered and are retried).
   */
  flush(): Promise<void> {
    this.journal.commit();
    if (this.written >= this.accepted) return Promise.resolve();
    if (this.stopped) return Promise.reject(new Error('write buffer is closed'));
    return new Promise<void>((resolve, reject) => {
      this.waiters.push({ target: this.accepted, throughFailures: false, resolve, reject });
      this.kick();
    });
  }

  /**
   * Refuses further readings and writes all buffered ones, retrying failures until `closeTimeoutMs` has passed; then
   * gives up on the store (what it does not have stays in the journal for the next start) and resolves.
   */
  close(): Promise<void> {
    if (this.closed) return this.closed;
    this.closing = true;
    this.clearTimer();
    // The open group goes to the journal now: its readings then reach `pending` (or stay in the journal) like any other.
    this.journal.commit();
    this.closed = new Promise<void>((resolve) => {
      if (this.written >= this.accepted) {
        this.stopped = true;
        this.journal.close();
        resolve();
        return;
      }
      // Not unref'd: it keeps the process alive until the data is written or given up on.
      const deadline = setTimeout(() => {
        this.stopped = true;
        this.waiters = this.waiters.filter((w) => w !== waiter);
        this.wake?.();
        const left = this.pending.length + this.inFlight.length + this.journal.backlog;
        // Nothing is lost: every accepted reading is in the journal, replayed at the next start.
        this.journal.close();
        this.log.warn(
          `write buffer closed after ${this.closeTimeoutMs} ms with ~${left} readings not yet stored; they stay in the spool and are written at the next start (last error: ${this.lastError ?? 'none'})`,
        );
        resolve();
      }, this.closeTimeoutMs);
      const waiter: Waiter = {
        target: this.accepted,
        throughFailures: true,
        resolve: () => {
          clearTimeout(deadline);
          this.stopped = true;
          this.journal.close();
          resolve();
        },
        reject: () => undefined,
      };
      this.waiters.push(waiter);
      this.kick();
    });
    return this.closed;
  }

  /** Counters for /health and /metrics. */
  stats(): WriteBufferStats {
    return {
      pending: this.pending.length,
      inFlight: this.inFlight.length,
      written: this.written,
      batches: this.batches,
      failures: this.failures,
      lastFlushMs: this.lastFlushMs,
      lastError: this.lastError,
      deadLettered: this.deadLettered,
      replayed: this.replayed,
      spool: this.journal.stats(),
    };
  }

  /** Starts the write loop now, or retries at once if it is waiting out a backoff. */
  private kick(): void {
    if (this.running) this.wake?.();
    else this.start(true);
  }

  private start(due: boolean): void {
    this.clearTimer();
    this.running = true;
    this.run(due).catch((err: unknown) => {
      this.running = false;
      this.log.error(`write buffer loop failed: ${describe(err)}`);
    });
  }

  /** The single writer: one store write in flight at a time. `due` means the oldest pending reading has waited enough. */
  private async run(due: boolean): Promise<void> {
    try {
      while (!this.stopped) {
        if (this.inFlight.length === 0) {
          if (this.pending.length === 0 && this.journal.behind) {
            // Memory is drained and readings wait in the journal: read the next stretch back, in order.
            const back = await this.journal.readBack(this.maxBatch);
            if (this.stopped) break;
            if (back.length === 0) continue;
            this.inFlight = back;
            this.inFlightReplay = this.journal.lastReadReplay;
          } else {
            if (!this.shouldWrite(due)) break;
            due = false;
            this.take();
            this.inFlightReplay = false;
          }
        }
        const batch = this.inFlight;
        const started = performance.now();
        try {
          await this.store.write(batch);
        } catch (err) {
          if (err instanceof PermanentStoreError && this.deadLetter) {
            try {
              await this.isolate(err.refused ?? batch, err);
            } catch (again) {
              // A transient failure while isolating: retry the whole batch (writes are idempotent).
              await this.onFailure(again, batch.length);
              continue;
            }
            this.onSuccess(batch.length, performance.now() - started);
            continue;
          }
          await this.onFailure(err, batch.length);
          continue;
        }
        this.onSuccess(batch.length, performance.now() - started);
      }
    } finally {
      this.running = false;
    }
    // What arrived during the last write waits for its own deadline: writing it at once would let a fast store
    // degrade into one write per handful of readings.
    if (this.pending.length > 0 && !this.stopped) {
      this.arm(Math.max(0, this.pendingSince + this.flushIntervalMs - Date.now()));
    }
  }

  private shouldWrite(due: boolean): boolean {
    const n = this.pending.length;
    if (n === 0) return false;
    if (due || n >= this.maxBatch || this.closing || this.waiters.length > 0) return true;
    // Readings that waited out their interval while a slow write or a retry ran go now.
    return Date.now() - this.pendingSince >= this.flushIntervalMs;
  }

  private take(): void {
    if (this.pending.length <= this.maxBatch) {
      this.inFlight = this.pending;
      this.pending = [];
    } else {
      this.inFlight = this.pending.splice(0, this.maxBatch);
    }
  }

  /**
   * The store refused `readings` for good, maybe for one bad reading among them: write halves until the readings it
   * refuses are single, and move only those to the dead letter. Rethrows a transient error.
   */
  private async isolate(readings: readonly Reading[], err: PermanentStoreError): Promise<void> {
    if (readings.length <= 1) return this.toDeadLetter(err, readings);
    const mid = readings.length >> 1;
    for (const half of [readings.slice(0, mid), readings.slice(mid)]) {
      try {
        await this.store.write(half);
      } catch (e) {
        if (!(e instanceof PermanentStoreError)) throw e;
        await this.isolate(e.refused ?? half, e);
      }
    }
  }

  private toDeadLetter(err: PermanentStoreError, refused: readonly Reading[]): void {
    try {
      this.deadLetter!.add(refused, err.message);
    } catch (e) {
      this.log.error(`dead letter write failed (${refused.length} readings lost): ${describe(e)}`);
    }
    this.deadLettered += refused.length;
    this.log.error(`store refused ${refused.length} readings for good; moved to the dead letter: ${err.message}`);
  }

  private onSuccess(n: number, ms: number): void {
    this.inFlight = NONE;
    this.journal.confirm(n);
    if (this.inFlightReplay) {
      // Readings of an earlier run: not part of this run's accepted/written counts (acks wait on those).
      this.inFlightReplay = false;
      this.replayed += n;
      this.batches++;
      this.lastFlushMs = ms;
      this.consecutiveFailures = 0;
      return;
    }
    this.written += n;
    this.batches++;
    this.lastFlushMs = ms;
    if (this.consecutiveFailures > 0) {
      this.log.warn(`store writes recovered after ${this.consecutiveFailures} failed attempts`);
      this.consecutiveFailures = 0;
    }
    for (const fn of this.writtenListeners) fn(this.written);
    if (this.waiters.length === 0) return;
    const done = this.waiters.filter((w) => w.target <= this.written);
    if (done.length === 0) return;
    this.waiters = this.waiters.filter((w) => w.target > this.written);
    for (const w of done) w.resolve();
  }

  /** Records the failure, tells flush() callers, and waits out the backoff (cut short by flush or close). */
  private onFailure(err: unknown, n: number): Promise<void> {
    this.failures++;
    this.consecutiveFailures++;
    this.lastError = describe(err);
    const delay = Math.min(this.retryMaxMs, this.retryBaseMs * 2 ** Math.min(this.consecutiveFailures - 1, 30));
    this.log.warn(
      `store write of ${n} readings failed (attempt ${this.consecutiveFailures}): ${this.lastError}; retrying in ${delay} ms`,
    );
    const told = this.waiters.filter((w) => !w.throughFailures);
    if (told.length > 0) {
      this.waiters = this.waiters.filter((w) => w.throughFailures);
      for (const w of told) w.reject(err);
    }
    if (this.stopped) return Promise.resolve();
    return new Promise<void>((resolve) => {
      const done = (): void => {
        clearTimeout(t);
        this.wake = null;
        resolve();
      };
      const t = setTimeout(done, delay);
      t.unref();
      this.wake = done;
    });
  }

  private arm(delay: number): void {
    this.timer = setTimeout(() => {
      this.timer = null;
      if (!this.running && !this.stopped) this.start(true);
    }, delay);
    // A pending flush alone must not keep the process alive; close() is what guarantees the final write.
    this.timer.unref();
  }

  private clearTimer(): void {
    if (this.timer !== null) {
      clearTimeout(this.timer);
      this.timer = null;
    }
  }
}

function positive(name: string, value: number, allowZero = false): number {
  if (!Number.isFinite(value) || value < 0 || (!allowZero && value === 0)) {
    throw new RangeError(
      `WriteBuffer option ${name} must be a ${allowZero ? 'non-negative' : 'positive'} number, got ${value}`,
    );
  }
  return value;
}

function describe(err: unknown): string {
  return errorMessage(err);
}
