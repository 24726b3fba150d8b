import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Reading } from '@fieldline/contracts';
import { DuckDbStore } from './duckdb.store';
import { describeStoreContract } from './store.contract';

const dir = mkdtempSync(join(tmpdir(), 'fieldline-duckdb-'));
let files = 0;
/** A fresh file in a directory that does not exist yet, so every test also exercises `mkdir -p`. */
const newFile = (): string => join(dir, `db-${++files}`, 'nested', 'fieldline.duckdb');

afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

describeStoreContract('duckdb (:memory:)', () => Promise.resolve(new DuckDbStore({ path: ':memory:' })));
describeStoreContract('duckdb (file)', () => Promise.resolve(new DuckDbStore({ path: newFile() })));

describe('DuckDbStore', () => {
  const T0 = Date.UTC(2025, 5, 1);

  it('is of kind duckdb', () => {
    expect(new DuckDbStore({ path: ':memory:' }).kind).toBe('duckdb');
  });

  it('creates the parent directories and keeps data across a reopen', async () => {
    const path = newFile();
    const first = new DuckDbStore({ path });
    await first.init();
    expect(existsSync(path)).toBe(true);
    const reading: Reading = { deviceId: 'dev-1', ts: T0, seq: 1, metrics: { temp: 21.5 }, tags: { room: 'lab' } };
    await first.write([reading]);
    await first.close();

    const second = new DuckDbStore({ path });
    await second.init();
    try {
      expect(await second.since('dev-1', 0, 10)).toEqual([reading]);
      await second.write([{ deviceId: 'dev-1', ts: T0 + 1, metrics: { temp: 22 } }]);
      expect(await second.devices()).toEqual([
        { deviceId: 'dev-1', lastTs: T0 + 1, latest: { temp: 22 }, metrics: ['temp'] },
      ]);
    } finally {
      await second.close();
    }
  });

  it('keeps nothing of a batch that fails part-way, and stays usable', async () => {
    const store = new DuckDbStore({ path: ':memory:' });
    await store.init();
    try {
      // Enough rows that some are flushed (and the event loop yielded to) before the bad one.
      const batch: Reading[] = [];
      for (let i = 0; i < 6000; i++) batch.push({ deviceId: 'dev-1', ts: T0 + i, metrics: { a: i, b: i } });
      batch.push({ deviceId: 'dev-1', ts: T0 + 6000, metrics: { a: 'not a number' as unknown as number } });
      await expect(store.write(batch)).rejects.toThrow();
      expect(await store.since('dev-1', 0, 10)).toEqual([]);
      expect(await store.devices()).toEqual([]);

      await store.write(batch.slice(0, 10));
      expect(await store.since('dev-1', 0, 100)).toHaveLength(10);
    } finally {
      await store.close();
    }
  });

  it('never shows a batch half-written to a concurrent reader', async () => {
    const store = new DuckDbStore({ path: ':memory:' });
    await store.init();
    try {
      const batch: Reading[] = [];
      for (let i = 0; i < 20_000; i++) batch.push({ deviceId: 'dev-1', ts: T0 + i, metrics: { a: i } });
      const writing = store.write(batch);
      const counts: number[] = [];
      // The writer yields while appending, so these reads interleave with it.
      for (let i = 0; i < 5; i++) counts.push((await store.since('dev-1', 0, 100_000)).length);
      await writing;
      counts.push((await store.since('dev-1', 0, 100_000)).length);
      expect(counts.every((n) => n === 0 || n === 20_000)).toBe(true);
      expect(counts.at(-1)).toBe(20_000);
    } finally {
      await store.close();
    }
  });

  it('refuses use before init', async () => {
    const store = new DuckDbStore({ path: ':memory:' });
    await expect(store.ping()).rejects.toThrow(/not initialised/);
  });
});
