import type { Reading } from '@fieldline/contracts';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MetricsRegistry } from '../metrics/metrics';
import { Spool } from './spool';
import { registerStorageMetrics } from './storage.metrics';
import { WriteBuffer } from './write-buffer';
import { WriteOnlyTestStore } from './write-only.store.testing';

class MemoryStore extends WriteOnlyTestStore {
  readonly kind = 'memory';
  readonly stored: Reading[] = [];
  write(readings: readonly Reading[]): Promise<void> {
    this.stored.push(...readings);
    return Promise.resolve();
  }
}

const reading = (seq: number): Reading => ({
  deviceId: 'dev-1',
  ts: Date.UTC(2025, 0, 1) + seq,
  seq,
  metrics: { v: seq },
});

describe('registerStorageMetrics', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'storage-metrics-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('renders the write buffer, dead letter and spool metrics with their names, help texts, types and values', async () => {
    const spool = new Spool({ dir, maxBytes: 1 << 20, fsync: false, lock: false });
    const buffer = new WriteBuffer(new MemoryStore(), spool, { maxBatch: 10, flushIntervalMs: 10, maxPending: 100 });
    const registry = new MetricsRegistry();
    registerStorageMetrics(registry, buffer);
    expect(buffer.add([reading(1), reading(2), reading(3)])).toBe(true);
    await buffer.flush();

    const text = await registry.metrics();
    const s = buffer.stats().spool;
    expect(text).toContain(
      [
        '# HELP fieldline_store_written_total Readings written to the store.',
        '# TYPE fieldline_store_written_total counter',
        'fieldline_store_written_total 3',
      ].join('\n'),
    );
    const expected: [string, string, string, number][] = [
      ['fieldline_store_write_failures_total', 'counter', 'Failed store writes (retried).', 0],
      ['fieldline_write_buffer_pending', 'gauge', 'Readings waiting for the store in memory.', 0],
      ['fieldline_store_replayed_total', 'counter', 'Readings left in the spool by an earlier run, stored.', 0],
      ['fieldline_dead_letter_total', 'counter', 'Readings the store refused for good (DATA_DIR/dead-letter).', 0],
      ['fieldline_spool_bytes', 'gauge', 'Bytes of spool segment files.', s.bytes],
      ['fieldline_spool_max_bytes', 'gauge', 'Spool size bound (SPOOL_MAX_BYTES).', 1 << 20],
      ['fieldline_spool_segments', 'gauge', 'Spool segment files.', s.segments],
      ['fieldline_spool_backlog', 'gauge', 'Readings only on disk, waiting for the store.', 0],
      ['fieldline_spool_groups_total', 'counter', 'Group commits to the spool.', s.groups],
    ];
    for (const [name, type, help, value] of expected) {
      expect(text).toContain(`# HELP ${name} ${help}\n# TYPE ${name} ${type}\n${name} ${value}\n`);
    }
    // The age is read again at render time (the oldest segment may have been trimmed meanwhile): seconds, small.
    const age =
      /# HELP fieldline_spool_oldest_age_seconds Age of the oldest spool segment\.\n# TYPE fieldline_spool_oldest_age_seconds gauge\nfieldline_spool_oldest_age_seconds ([\d.e-]+)\n/.exec(
        text,
      );
    expect(age).not.toBeNull();
    expect(Number(age![1])).toBeGreaterThanOrEqual(0);
    expect(Number(age![1])).toBeLessThan(5);
    expect(s.groups).toBeGreaterThan(0);
    await buffer.close();
  });
});
