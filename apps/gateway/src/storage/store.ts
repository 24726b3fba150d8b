import type { HistoryQuery, HistoryResponse, Reading } from '@fieldline/contracts';

/** What the store knows of a device (used to seed presence at start and for the device list). */
export interface StoredDevice {
  deviceId: string;
  /** Device timestamp of its latest reading. */
  lastTs: number;
  /** Latest value of each metric. */
  latest: Record<string, number>;
  /** Every metric name it has sent. */
  metrics: string[];
}

/**
 * A time-series store. Every implementation passes `store.contract.ts`. I/O lives here and nowhere else;
 * callers never write one reading at a time: the {@link WriteBuffer} batches.
 */
export interface TelemetryStore {
  /** Short name for logs and /health (`duckdb`, `influxdb`). */
  readonly kind: string;
  /** Opens connections, creates schema / database if missing. */
  init(): Promise<void>;
  /**
   * Writes a batch of readings. Idempotent: a reading written again (same device, ts and seq; without seq, same
   * device, ts and metric) does not become a second point. Rejects when nothing was written (the caller retries the
   * whole batch), or with a {@link PermanentStoreError} for readings the store will never take (not retried).
   */
  write(readings: readonly Reading[]): Promise<void>;
  /** Aggregated (or raw) history of one device, per metric. */
  history(query: HistoryQuery): Promise<HistoryResponse>;
  /**
   * Readings of a device with `ts > since` (and `ts < before` when given), oldest first (ties by seq), at most
   * `limit`. `before` lets a reader page through a long range in bounded windows (export): without it the store must
   * look at every reading after `since` to find the first `limit`.
   */
  since(deviceId: string, since: number, limit: number, before?: number): Promise<Reading[]>;
  /** Every device with at least one stored reading. */
  devices(): Promise<StoredDevice[]>;
  /** Resolves when the store answers. */
  ping(): Promise<void>;
  /** Releases connections; further calls fail. */
  close(): Promise<void>;
}

/** Nest injection token of the active {@link TelemetryStore}. */
export const TELEMETRY_STORE = Symbol('TELEMETRY_STORE');

/**
 * The store refused readings for good (InfluxDB 400: a field type conflict, a malformed point): retrying cannot
 * help, so the write buffer moves them to the dead letter instead of blocking the queue on them. Any other error
 * (timeout, 5xx, connection refused, auth) is transient and retried.
 */
export class PermanentStoreError extends Error {
  constructor(
    message: string,
    /** The readings refused, when the store can tell (a partial write); else the whole batch. */
    readonly refused: readonly Reading[] | null = null,
  ) {
    super(message);
    this.name = 'PermanentStoreError';
  }
}
