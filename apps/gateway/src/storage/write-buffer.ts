import type { Reading } from '@fieldline/contracts';
import type { TelemetryStore } from './store';

/** Tuning of the {@link WriteBuffer}. */
export interface WriteBufferOptions {
  /** Most readings per store write; reaching it starts a write at once. */
  maxBatch: number;
  /** Longest a reading waits in the buffer before a write starts (when the store keeps up). */
  flushIntervalMs: number;
  /** Most readings held (pending + in flight); beyond it `add` refuses, so the caller answers STORE_UNAVAILABLE. */
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
}

/** Where the buffer reports failures. */
export interface WriteBufferLog {
  warn(msg: string): void;
  error(msg: string): void;
}

/** `close` gave up: `lost` readings were never written. */
export class WriteBufferCloseError extends Error {
  constructor(
    readonly lost: number,
    message: string,
  ) {
    super(message);
    this.name = 'WriteBufferCloseError';
  }
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
 * Sits between the ingest pipeline and the store: readings are acknowledged once buffered, and written in batches
 * (by size, or after `flushIntervalMs`), one write at a time. A failed write is retried with exponential backoff,
 * batch intact and first in line, while new readings keep buffering up to `maxPending`.
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
    opts: WriteBufferOptions,
    private readonly log?: WriteBufferLog,
  ) {
    this.maxBatch = positive('maxBatch', opts.maxBatch);
    this.flushIntervalMs = positive('flushIntervalMs', opts.flushIntervalMs, true);
    this.maxPending = positive('maxPending', opts.maxPending);
    this.retryBaseMs = positive('retryBaseMs', opts.retryBaseMs ?? 100, true);
    this.retryMaxMs = Math.max(this.retryBaseMs, positive('retryMaxMs', opts.retryMaxMs ?? 5000, true));
    this.closeTimeoutMs = positive('closeTimeoutMs', opts.closeTimeoutMs ?? 10_000, true);
  }

  /** False while the latest write attempt failed (the buffer is retrying). */
  get healthy(): boolean {
    return this.consecutiveFailures === 0;
  }

  /**
   * Buffers readings for writing. Returns false, taking none of them, when the buffer is full or closing: the caller
   * refuses them (STORE_UNAVAILABLE / SHUTTING_DOWN) so the device resends later.
   */
  add(readings: readonly Reading[]): boolean {
    const n = readings.length;
    if (this.closing || this.pending.length + this.inFlight.length + n > this.maxPending) return false;
    if (n === 0) return true;
    const pending = this.pending;
    if (pending.length === 0) this.pendingSince = Date.now();
    for (let i = 0; i < n; i++) pending.push(readings[i]);
    this.accepted += n;
    // While a write runs, the loop picks up what arrived when it finishes; no timer needed.
    if (!this.running) {
      if (pending.length >= this.maxBatch) this.start(false);
      else if (this.timer === null) this.arm(this.flushIntervalMs);
    }
    return true;
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
    if (this.written >= this.accepted) return Promise.resolve();
    if (this.stopped) return Promise.reject(new Error('write buffer is closed'));
    return new Promise<void>((resolve, reject) => {
      this.waiters.push({ target: this.accepted, throughFailures: false, resolve, reject });
      this.kick();
    });
  }

  /**
   * Refuses further readings and writes all buffered ones, retrying failures until `closeTimeoutMs` has passed;
   * then rejects with a {@link WriteBufferCloseError} counting the readings lost.
   */
  close(): Promise<void> {
    if (this.closed) return this.closed;
    this.closing = true;
    this.clearTimer();
    this.closed = new Promise<void>((resolve, reject) => {
      if (this.written >= this.accepted) {
        this.stopped = true;
        resolve();
        return;
      }
      // Not unref'd: it keeps the process alive until the data is written or given up on.
      const deadline = setTimeout(() => {
        this.stopped = true;
        this.waiters = this.waiters.filter((w) => w !== waiter);
        this.wake?.();
        const lost = this.pending.length + this.inFlight.length;
        const msg = `write buffer closed after ${this.closeTimeoutMs} ms with ${lost} readings not written (last error: ${this.lastError ?? 'none'})`;
        this.log?.error(msg);
        reject(new WriteBufferCloseError(lost, msg));
      }, this.closeTimeoutMs);
      const waiter: Waiter = {
        target: this.accepted,
        throughFailures: true,
        resolve: () => {
          clearTimeout(deadline);
          this.stopped = true;
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
      this.log?.error(`write buffer loop failed: ${describe(err)}`);
    });
  }

  /** The single writer: one store write in flight at a time. `due` means the oldest pending reading has waited enough. */
  private async run(due: boolean): Promise<void> {
    try {
      while (!this.stopped) {
        if (this.inFlight.length === 0) {
          if (!this.shouldWrite(due)) break;
          due = false;
          this.take();
        }
        const batch = this.inFlight;
        const started = performance.now();
        try {
          await this.store.write(batch);
        } catch (err) {
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

  private onSuccess(n: number, ms: number): void {
    this.inFlight = NONE;
    this.written += n;
    this.batches++;
    this.lastFlushMs = ms;
    if (this.consecutiveFailures > 0) {
      this.log?.warn(`store writes recovered after ${this.consecutiveFailures} failed attempts`);
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
    this.log?.warn(
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
  return err instanceof Error ? err.message : String(err);
}
