import { type MetricsRegistry, observeCounter, observeGauge } from '../metrics/metrics';
import type { WriteBuffer } from './write-buffer';

/**
 * Registers the storage metrics (write buffer, dead letter, spool) in `registry`, read from the buffer's own counters
 * at scrape time. Names, help texts and types are those `/metrics` has always rendered.
 */
export function registerStorageMetrics(registry: MetricsRegistry, buffer: WriteBuffer): void {
  const counter = (name: string, help: string, read: () => number): void =>
    observeCounter(registry, { name, help, read });
  const gauge = (name: string, help: string, read: () => number): void => observeGauge(registry, { name, help, read });
  counter('fieldline_store_written_total', 'Readings written to the store.', () => buffer.stats().written);
  counter('fieldline_store_write_failures_total', 'Failed store writes (retried).', () => buffer.stats().failures);
  gauge('fieldline_write_buffer_pending', 'Readings waiting for the store in memory.', () => {
    const b = buffer.stats();
    return b.pending + b.inFlight;
  });
  counter(
    'fieldline_store_replayed_total',
    'Readings left in the spool by an earlier run, stored.',
    () => buffer.stats().replayed,
  );
  counter(
    'fieldline_dead_letter_total',
    'Readings the store refused for good (DATA_DIR/dead-letter).',
    () => buffer.stats().deadLettered,
  );
  const spool = () => buffer.stats().spool;
  gauge('fieldline_spool_bytes', 'Bytes of spool segment files.', () => spool().bytes);
  gauge('fieldline_spool_max_bytes', 'Spool size bound (SPOOL_MAX_BYTES).', () => buffer.spoolMaxBytes);
  gauge('fieldline_spool_segments', 'Spool segment files.', () => spool().segments);
  gauge('fieldline_spool_oldest_age_seconds', 'Age of the oldest spool segment.', () => spool().oldestAgeMs / 1000);
  gauge('fieldline_spool_backlog', 'Readings only on disk, waiting for the store.', () => spool().backlog);
  counter('fieldline_spool_groups_total', 'Group commits to the spool.', () => spool().groups);
}
