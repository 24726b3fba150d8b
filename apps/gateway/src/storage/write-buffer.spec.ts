import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Reading } from '@fieldline/contracts';
import { DeadLetter } from './dead-letter';
import type { Journal } from './journal';
import { MemoryJournal } from './memory.journal.testing';
import { Spool } from './spool';
import { PermanentStoreError } from './store';
import { WriteBuffer, type WriteBufferOptions } from './write-buffer';
import { WriteOnlyTestStore } from './write-only.store.testing';

/*
 * The write buffer's behaviour, run over each journal it can sit on: the spool (files in a temp dir, as in the
 * gateway) and the in-memory journal. Specs that need the spool to read back from its files use real timers (file
 * I/O does not follow a fake clock); the others use a fake clock for exact timings.
 */

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
  /** Readings with this metric value are refused for good. */
  poison: number | null = null;
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
      if (this.poison !== null && readings.some((r) => r.metrics.v === this.poison)) {
        throw new PermanentStoreError('field type conflict');
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

/** A real event-loop turn (the fake clock does not move). */
const tick = (): Promise<void> => new Promise((r) => setImmediate(r));

async function until(cond: () => boolean, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 5));
  }
}

const root = mkdtempSync(join(tmpdir(), 'fieldline-write-buffer-'));
let dirs = 0;
afterAll(() => rmSync(root, { recursive: true, force: true }));

interface JournalFixture {
  name: string;
  /** A new, empty journal, not yet opened. */
  create(maxBytes?: number): Journal;
  /** A journal holding what `journal` left, as the next run (after a crash or a close) finds it. */
  reopen(journal: Journal): Journal;
}

const spoolDirs = new Map<Journal, string>();
const spoolIn = (dir: string, maxBytes: number): Spool => {
  // Small segments: the spool seals and trims files during these specs, as it does under load.
  const spool = new Spool({ dir, maxBytes, segmentBytes: 1024 });
  spoolDirs.set(spool, dir);
  return spool;
};
const fixtures: JournalFixture[] = [
  {
    name: 'Spool',
    create: (maxBytes = 64 << 20) => spoolIn(join(root, `d${++dirs}`), maxBytes),
    reopen: (journal) => spoolIn(spoolDirs.get(journal)!, journal.maxBytes),
  },
  {
    name: 'MemoryJournal',
    create: (maxBytes = 64 << 20) => new MemoryJournal(maxBytes),
    reopen: (journal) => (journal as MemoryJournal).restart(),
  },
];

describe.each(fixtures)('WriteBuffer over a $name', (fixture) => {
  let store: FakeStore;
  let log: ReturnType<typeof makeLog>;
  let journals: Journal[];
  let journal: Journal;
  const make = (opts: Partial<WriteBufferOptions> = {}, maxBytes?: number): WriteBuffer => {
    journal = fixture.create(maxBytes);
    journals.push(journal);
    return new WriteBuffer(store, journal, { maxBatch: 100, flushIntervalMs: 100, maxPending: 1000, ...opts }, log);
  };
  /** What the next run finds in the journal. */
  const leftAfter = (previous: Journal): Journal => {
    const next = fixture.reopen(previous);
    journals.push(next);
    return next;
  };

  beforeEach(() => {
    jest.useFakeTimers({ now: T0 });
    store = new FakeStore();
    log = makeLog();
    journals = [];
    nextSeq = 0;
  });

  afterEach(() => {
    jest.useRealTimers();
    for (const j of journals) j.close();
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
    beforeEach(() => jest.useRealTimers());

    it('holds at most maxPending readings in memory, counting the batch in flight; the rest waits in the journal, in order', async () => {
      store.gated = true;
      const buf = make({ maxBatch: 100, maxPending: 150 });
      const all = readings(100);
      expect(buf.add(all)).toBe(true); // starts a write: 100 in flight
      await tick();
      expect(buf.stats()).toMatchObject({ inFlight: 100, pending: 0 });
      for (const n of [40, 11, 10, 1]) {
        const rs = readings(n);
        all.push(...rs);
        expect(buf.add(rs)).toBe(true);
        await tick();
      }
      // 100 + 40 fit; the 11 would not, so they and everything after them (order) wait in the journal only.
      expect(buf.stats()).toMatchObject({
        inFlight: 100,
        pending: 40,
        spool: expect.objectContaining({ backlog: 22 }),
      });
      expect(buf.spooling).toBe(true);

      store.release();
      await until(() => store.stored.length === 162);
      expect(seqs(store.stored)).toEqual(seqs(all));
      expect(buf.spooling).toBe(false);
      expect(buf.add(readings(100))).toBe(true);
      await buf.close();
    });

    it('refuses readings beyond the journal bound while the store is down, memory staying bounded, then recovers', async () => {
      store.failAlways = true;
      const buf = make({ maxBatch: 10, maxPending: 30, retryBaseMs: 10, retryMaxMs: 10 }, 8000);
      const accepted: Reading[] = [];
      let refused = false;
      for (let i = 0; i < 1000 && !refused; i++) {
        const rs = readings(5);
        if (buf.add(rs)) accepted.push(...rs);
        else refused = true;
        await tick();
      }
      // The caller answers STORE_UNAVAILABLE; everything accepted before is in the journal, memory holds maxPending.
      expect(refused).toBe(true);
      expect(accepted.length).toBeGreaterThan(30);
      const s = buf.stats();
      expect(s.pending + s.inFlight).toBeLessThanOrEqual(30);
      expect(s.spool.bytes).toBeGreaterThanOrEqual(8000);
      expect(store.stored).toHaveLength(0);
      store.failAlways = false;
      await until(() => store.stored.length === accepted.length);
      expect(seqs(store.stored)).toEqual(seqs(accepted));
      expect(buf.add(readings(1))).toBe(true);
      await buf.close();
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
      await jest.advanceTimersByTimeAsync(0); // the group commit
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

    it('gives up on the store when the deadline passes, leaving what it lacks in the journal for the next start', async () => {
      store.failAlways = true;
      const buf = make({ maxBatch: 10, retryBaseMs: 100, closeTimeoutMs: 1000 });
      const rs = readings(25);
      buf.add(rs);
      const closing = buf.close();
      let done = false;
      void closing.then(() => (done = true));
      await jest.advanceTimersByTimeAsync(999);
      expect(done).toBe(false);
      await jest.advanceTimersByTimeAsync(1);
      await expect(closing).resolves.toBeUndefined();
      expect(log.warn).toHaveBeenCalledWith(expect.stringContaining('~25 readings not yet stored'));
      const attempts = store.attempts.length;
      await jest.advanceTimersByTimeAsync(10_000);
      // Given up: no more retries in the background.
      expect(store.attempts.length).toBe(attempts);
      expect(jest.getTimerCount()).toBe(0);

      // Not lost: the next run stores them.
      jest.useRealTimers();
      const next = new FakeStore();
      const again = new WriteBuffer(
        next,
        leftAfter(journal),
        { maxBatch: 10, flushIntervalMs: 5, maxPending: 100 },
        log,
      );
      again.resume();
      await until(() => next.stored.length === 25);
      expect(seqs(next.stored)).toEqual(seqs(rs));
      expect(again.stats()).toMatchObject({ replayed: 25, written: 0 });
      await again.close();
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
      spool: { bytes: 0, segments: 0, oldestAgeMs: 0, backlog: 0, groups: 0, appended: 0, skipped: 0 },
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
      spool: expect.objectContaining({ backlog: 0, groups: 1, appended: 25 }),
    });
    expect(buf.healthy).toBe(true);
  });

  it('refuses nonsensical options', () => {
    expect(() => make({ maxBatch: 0 })).toThrow(/maxBatch/);
    expect(() => make({ maxPending: Number.NaN })).toThrow(/maxPending/);
  });
  describe('the journal', () => {
    const opts = { maxBatch: 50, flushIntervalMs: 5, maxPending: 100, retryBaseMs: 5, retryMaxMs: 20 };
    beforeEach(() => jest.useRealTimers());

    /** The next run finds nothing to replay. */
    const expectEmptyAfter = (previous: Journal): void => {
      const next = leftAfter(previous);
      next.open(() => undefined);
      expect(next.behind).toBe(false);
      expect(next.stats()).toMatchObject({ bytes: 0, segments: 0 });
    };

    it('acks a reading once committed, one callback per group', async () => {
      const buf = make(opts);
      const calls: (Error | undefined)[] = [];
      buf.add(readings(3));
      buf.afterDurable((err) => calls.push(err));
      buf.add(readings(2));
      buf.afterDurable((err) => calls.push(err));
      expect(calls).toEqual([]);
      await tick();
      expect(calls).toEqual([undefined, undefined]);
      expect(buf.stats().spool).toMatchObject({ groups: 1, appended: 5 });
      // Nothing open: at once.
      buf.afterDurable((err) => calls.push(err));
      expect(calls).toHaveLength(3);
      await buf.close();
    });

    it('keeps memory bounded while the store is down, and stores everything in order once it is back', async () => {
      store.latencyMs = 1;
      store.failAlways = true;
      const buf = make(opts);
      const all: Reading[] = [];
      for (let i = 0; i < 20; i++) {
        const rs = readings(50);
        all.push(...rs);
        expect(buf.add(rs)).toBe(true);
        await tick();
      }
      const s = buf.stats();
      expect(s.pending + s.inFlight).toBeLessThanOrEqual(100);
      expect(buf.spooling).toBe(true);
      expect(s.spool.bytes).toBeGreaterThan(0);
      store.failAlways = false;
      await until(() => buf.stats().written === 1000);
      expect(seqs(store.stored)).toEqual(seqs(all));
      expect(buf.spooling).toBe(false);
      await buf.close();
      expectEmptyAfter(journal);
    });

    it('survives a crash: a new buffer on what the journal kept stores every accepted reading', async () => {
      store.failAlways = true;
      const first = make({ ...opts, closeTimeoutMs: 0 });
      const all: Reading[] = [];
      let acked = 0;
      for (let i = 0; i < 10; i++) {
        const rs = readings(30);
        all.push(...rs);
        first.add(rs);
        first.afterDurable((err) => {
          if (!err) acked += 30;
        });
        await tick();
      }
      expect(acked).toBe(300);
      // SIGKILL: nothing more of `first` counts.
      const next = new FakeStore();
      const kept = leftAfter(journal);
      const second = new WriteBuffer(next, kept, opts, log);
      second.resume();
      const later = readings(10);
      second.add(later);
      await until(() => next.stored.length === 310);
      expect(seqs(next.stored)).toEqual(seqs([...all, ...later]));
      expect(second.stats()).toMatchObject({ replayed: 300, written: 10 });
      await second.close();
      expectEmptyAfter(kept);
      // Stops the dead run's retries (its journal is not used again).
      await first.close();
    });

    it('moves only the readings the store refuses for good to the dead letter, and goes on', async () => {
      const dir = join(root, `dead-${++dirs}`);
      store.poison = 7;
      const dead = new DeadLetter(dir, 'fake');
      journal = fixture.create();
      journals.push(journal);
      const buf = new WriteBuffer(store, journal, { ...opts, maxBatch: 5 }, log, dead);
      const all = readings(20);
      buf.add(all);
      await until(() => buf.stats().written === 20);
      // The rest of the refused batch is stored (the batch is split until the bad reading is alone), in order.
      expect(seqs(store.stored)).toEqual(seqs(all.filter((r) => r.seq !== 7)));
      expect(buf.stats().deadLettered).toBe(1);
      expect(dead.readings).toBe(1);
      const [file] = readdirSync(dir);
      const lines = readFileSync(join(dir, file), 'utf8').trim().split('\n');
      expect(lines).toHaveLength(1);
      expect(JSON.parse(lines[0])).toMatchObject({ store: 'fake', reason: 'field type conflict', reading: all[7] });
      await buf.close();
      expectEmptyAfter(journal);
    });
  });
});
