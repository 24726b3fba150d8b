import type { Reading } from '@fieldline/contracts';
import { WriteBuffer, WriteBufferCloseError, type WriteBufferOptions } from './write-buffer';
import { WriteOnlyTestStore } from './write-only.store.testing';

/** In-memory store whose writes can fail, take time, or hang until released. */
class FakeStore extends WriteOnlyTestStore {
  readonly kind = 'fake';
  readonly stored: Reading[] = [];
  /** Size of each write attempt, successful or not. */
  readonly attempts: number[] = [];
  /** Time of each write attempt (fake clock). */
  readonly attemptTimes: number[] = [];
  failNext = 0;
  failAlways = false;
  latencyMs = 0;
  /** When set, writes wait until `release()`. */
  gated = false;
  active = 0;
  maxActive = 0;
  private gates: (() => void)[] = [];

  async write(readings: readonly Reading[]): Promise<void> {
    this.attempts.push(readings.length);
    this.attemptTimes.push(Date.now());
    this.active++;
    this.maxActive = Math.max(this.maxActive, this.active);
    try {
      if (this.latencyMs > 0) await new Promise((r) => setTimeout(r, this.latencyMs));
      if (this.gated) await new Promise<void>((r) => this.gates.push(r));
      if (this.failAlways || this.failNext > 0) {
        this.failNext = Math.max(0, this.failNext - 1);
        throw new Error('store down');
      }
      this.stored.push(...readings);
    } finally {
      this.active--;
    }
  }

  release(): void {
    this.gated = false;
    for (const g of this.gates.splice(0)) g();
  }

  get writes(): number[] {
    return this.attempts;
  }
}

const T0 = Date.UTC(2025, 0, 1);
let nextSeq = 0;
function readings(n: number, deviceId = 'dev-1'): Reading[] {
  return Array.from({ length: n }, () => {
    const seq = nextSeq++;
    return { deviceId, ts: T0 + seq, seq, metrics: { v: seq } };
  });
}
const seqs = (rs: readonly Reading[]): (number | undefined)[] => rs.map((r) => r.seq);

function makeLog(): { warn: jest.Mock; error: jest.Mock } {
  return { warn: jest.fn(), error: jest.fn() };
}

describe('WriteBuffer', () => {
  let store: FakeStore;
  let log: ReturnType<typeof makeLog>;
  const make = (opts: Partial<WriteBufferOptions> = {}): WriteBuffer =>
    new WriteBuffer(store, { maxBatch: 100, flushIntervalMs: 100, maxPending: 1000, ...opts }, log);

  beforeEach(() => {
    jest.useFakeTimers({ now: T0 });
    store = new FakeStore();
    log = makeLog();
    nextSeq = 0;
  });

  afterEach(() => {
    jest.useRealTimers();
  });

  describe('batching', () => {
    it('writes as soon as maxBatch readings are pending, in batches of at most maxBatch', async () => {
      const buf = make({ flushIntervalMs: 10_000 });
      const all: Reading[] = [];
      for (let i = 0; i < 25; i++) {
        const rs = readings(10);
        all.push(...rs);
        expect(buf.add(rs)).toBe(true);
      }
      await jest.advanceTimersByTimeAsync(0);
      // 100 started the first write; the 150 that arrived meanwhile filled one more batch, the rest waits.
      expect(store.writes).toEqual([100, 100]);
      expect(buf.stats()).toMatchObject({ pending: 50, inFlight: 0, written: 200, batches: 2 });
      await jest.advanceTimersByTimeAsync(10_000);
      expect(store.writes).toEqual([100, 100, 50]);
      expect(seqs(store.stored)).toEqual(seqs(all));
    });

    it('writes within flushIntervalMs of the first pending reading', async () => {
      const buf = make();
      expect(jest.getTimerCount()).toBe(0);
      buf.add(readings(3));
      await jest.advanceTimersByTimeAsync(60);
      buf.add(readings(2));
      await jest.advanceTimersByTimeAsync(39);
      expect(store.writes).toEqual([]);
      await jest.advanceTimersByTimeAsync(1);
      expect(store.writes).toEqual([5]);
      // Nothing pending: no timer left armed.
      expect(jest.getTimerCount()).toBe(0);
      expect(buf.stats()).toMatchObject({ pending: 0, written: 5, batches: 1 });
    });

    it('never degrades into one write per reading, also when the store is slow', async () => {
      store.latencyMs = 7;
      const buf = make({ maxBatch: 5000, flushIntervalMs: 100 });
      const all: Reading[] = [];
      for (let i = 0; i < 1000; i++) {
        const rs = readings(1);
        all.push(...rs);
        expect(buf.add(rs)).toBe(true);
        await jest.advanceTimersByTimeAsync(1);
      }
      const flushed = buf.flush();
      await jest.advanceTimersByTimeAsync(100);
      await flushed;
      expect(seqs(store.stored)).toEqual(seqs(all));
      // 1000 ms of readings at one write per 100 ms.
      expect(store.writes.length).toBeLessThanOrEqual(11);
      expect(Math.min(...store.writes.slice(0, -1))).toBeGreaterThanOrEqual(90);
    });

    it('keeps a single write in flight', async () => {
      store.latencyMs = 50;
      const buf = make({ maxBatch: 10 });
      for (let i = 0; i < 20; i++) buf.add(readings(10));
      await jest.advanceTimersByTimeAsync(2000);
      expect(store.maxActive).toBe(1);
      expect(store.writes).toEqual(Array(20).fill(10));
    });

    it('takes an empty add without arming anything', () => {
      const buf = make();
      expect(buf.add([])).toBe(true);
      expect(jest.getTimerCount()).toBe(0);
    });
  });

  describe('failures', () => {
    it('retries a failed batch with exponential backoff, first and intact, while new readings buffer', async () => {
      store.failNext = 3;
      const buf = make({ retryBaseMs: 100, retryMaxMs: 5000 });
      const first = readings(50);
      buf.add(first);
      await jest.advanceTimersByTimeAsync(100);
      expect(store.attempts).toEqual([50]);
      expect(buf.healthy).toBe(false);
      expect(buf.stats()).toMatchObject({ failures: 1, lastError: 'store down', inFlight: 50 });

      const second = readings(70);
      expect(buf.add(second)).toBe(true);
      await jest.advanceTimersByTimeAsync(100 + 200 + 400);
      // The newer readings are overdue by then: written right after the retry, without another interval.
      expect(store.attemptTimes.map((t) => t - T0)).toEqual([100, 200, 400, 800, 800]);
      // The retried batch went first and whole; the readings that arrived meanwhile followed.
      expect(store.attempts).toEqual([50, 50, 50, 50, 70]);
      expect(seqs(store.stored)).toEqual(seqs([...first, ...second]));
      expect(buf.healthy).toBe(true);
      expect(buf.stats()).toMatchObject({ pending: 0, inFlight: 0, written: 120, failures: 3, batches: 2 });
      expect(log.warn).toHaveBeenCalledWith(expect.stringContaining('store down'));
      expect(log.warn).toHaveBeenCalledWith(expect.stringContaining('recovered'));
    });

    it('caps the backoff at retryMaxMs', async () => {
      store.failNext = 5;
      const buf = make({ retryBaseMs: 100, retryMaxMs: 300 });
      buf.add(readings(1));
      await jest.advanceTimersByTimeAsync(100 + 100 + 200 + 300 + 300 + 300);
      expect(store.attemptTimes.map((t) => t - T0)).toEqual([100, 200, 400, 700, 1000, 1300]);
      expect(store.stored).toHaveLength(1);
    });

    it('flush() rejects when the write fails, keeps the readings and retries them', async () => {
      store.failNext = 1;
      const buf = make({ retryBaseMs: 100 });
      const rs = readings(5);
      buf.add(rs);
      await expect(buf.flush()).rejects.toThrow('store down');
      expect(buf.stats()).toMatchObject({ inFlight: 5, written: 0 });
      await jest.advanceTimersByTimeAsync(100);
      expect(seqs(store.stored)).toEqual(seqs(rs));
    });

    it('flush() retries at once instead of waiting out the backoff', async () => {
      store.failNext = 1;
      const buf = make({ retryBaseMs: 5000 });
      buf.add(readings(5));
      await jest.advanceTimersByTimeAsync(100);
      expect(buf.healthy).toBe(false);
      await buf.flush();
      expect(store.stored).toHaveLength(5);
      expect(Date.now() - T0).toBe(100);
    });
  });

  describe('backpressure', () => {
    it('refuses a whole add that would exceed maxPending, counting the batch in flight', async () => {
      store.gated = true;
      const buf = make({ maxBatch: 100, maxPending: 150 });
      expect(buf.add(readings(100))).toBe(true); // starts a write: 100 in flight
      await jest.advanceTimersByTimeAsync(0);
      expect(buf.stats()).toMatchObject({ inFlight: 100, pending: 0 });
      expect(buf.add(readings(40))).toBe(true);
      expect(buf.add(readings(11))).toBe(false);
      expect(buf.stats()).toMatchObject({ inFlight: 100, pending: 40 });
      expect(buf.add(readings(10))).toBe(true);
      expect(buf.add(readings(1))).toBe(false);

      store.release();
      await jest.advanceTimersByTimeAsync(100);
      expect(store.stored).toHaveLength(150);
      expect(buf.add(readings(100))).toBe(true);
    });

    it('refuses everything while the store is down and the buffer full, then recovers', async () => {
      store.failAlways = true;
      const buf = make({ maxBatch: 10, maxPending: 30, retryBaseMs: 10, retryMaxMs: 10 });
      expect(buf.add(readings(30))).toBe(true);
      await jest.advanceTimersByTimeAsync(500);
      expect(buf.add(readings(1))).toBe(false);
      expect(store.stored).toHaveLength(0);
      store.failAlways = false;
      await jest.advanceTimersByTimeAsync(100);
      expect(store.stored).toHaveLength(30);
      expect(buf.add(readings(1))).toBe(true);
    });
  });

  describe('recent', () => {
    it('returns unconfirmed readings of one device after since, in flight first, in arrival order', async () => {
      store.gated = true;
      const buf = make({ maxBatch: 4 });
      const a = readings(4, 'dev-a'); // a write starts with these
      buf.add(a);
      await jest.advanceTimersByTimeAsync(0);
      const mixed = [...readings(2, 'dev-b'), ...readings(2, 'dev-a')];
      buf.add(mixed);
      expect(buf.stats()).toMatchObject({ inFlight: 4, pending: 4 });
      expect(seqs(buf.recent('dev-a', 0))).toEqual(seqs([...a, mixed[2], mixed[3]]));
      expect(seqs(buf.recent('dev-a', a[1].ts))).toEqual(seqs([a[2], a[3], mixed[2], mixed[3]]));
      expect(seqs(buf.recent('dev-b', 0))).toEqual(seqs(mixed.slice(0, 2)));
      expect(buf.recent('dev-c', 0)).toEqual([]);

      store.release();
      await buf.flush();
      expect(buf.recent('dev-a', 0)).toEqual([]);
    });
  });

  describe('close', () => {
    it('writes everything pending at once and refuses further readings', async () => {
      const buf = make({ flushIntervalMs: 60_000 });
      const rs = readings(30);
      buf.add(rs);
      await buf.close();
      expect(seqs(store.stored)).toEqual(seqs(rs));
      expect(Date.now()).toBe(T0);
      expect(buf.add(readings(1))).toBe(false);
      expect(jest.getTimerCount()).toBe(0);
      await expect(buf.close()).resolves.toBeUndefined();
    });

    it('writes several batches and waits for the one in flight', async () => {
      store.latencyMs = 20;
      const buf = make({ maxBatch: 100 });
      buf.add(readings(100));
      buf.add(readings(250));
      const closing = buf.close();
      await jest.advanceTimersByTimeAsync(100);
      await closing;
      expect(store.writes).toEqual([100, 100, 100, 50]);
      expect(store.stored).toHaveLength(350);
    });

    it('keeps retrying through failures until the store recovers', async () => {
      store.failNext = 3;
      const buf = make({ retryBaseMs: 100, closeTimeoutMs: 10_000 });
      buf.add(readings(5));
      const closing = buf.close();
      await jest.advanceTimersByTimeAsync(1000);
      await closing;
      expect(store.stored).toHaveLength(5);
    });

    it('rejects with the number of readings lost when the deadline passes', async () => {
      store.failAlways = true;
      const buf = make({ maxBatch: 10, retryBaseMs: 100, closeTimeoutMs: 1000 });
      buf.add(readings(25));
      const closing = buf.close();
      const outcome = expect(closing).rejects.toEqual(
        expect.objectContaining({ name: 'WriteBufferCloseError', lost: 25 }),
      );
      await jest.advanceTimersByTimeAsync(1000);
      await outcome;
      await expect(closing).rejects.toBeInstanceOf(WriteBufferCloseError);
      expect(log.error).toHaveBeenCalledWith(expect.stringContaining('25 readings not written'));
      const attempts = store.attempts.length;
      await jest.advanceTimersByTimeAsync(10_000);
      // Given up: no more retries in the background.
      expect(store.attempts.length).toBe(attempts);
      expect(jest.getTimerCount()).toBe(0);
    });

    it('resolves at once when nothing is buffered', async () => {
      const buf = make();
      await buf.close();
      expect(store.attempts).toEqual([]);
    });
  });

  it('reports stats', async () => {
    const buf = make({ maxBatch: 10 });
    expect(buf.stats()).toEqual({
      pending: 0,
      inFlight: 0,
      written: 0,
      batches: 0,
      failures: 0,
      lastFlushMs: 0,
      lastError: null,
      deadLettered: 0,
      replayed: 0,
      spool: null,
    });
    buf.add(readings(25));
    await jest.advanceTimersByTimeAsync(100);
    expect(buf.stats()).toMatchObject({
      pending: 0,
      inFlight: 0,
      written: 25,
      batches: 3,
      failures: 0,
      lastError: null,
    });
    expect(buf.healthy).toBe(true);
  });

  it('refuses nonsensical options', () => {
    expect(() => make({ maxBatch: 0 })).toThrow(/maxBatch/);
    expect(() => make({ maxPending: Number.NaN })).toThrow(/maxPending/);
  });
});
