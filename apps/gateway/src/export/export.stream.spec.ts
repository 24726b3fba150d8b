import { EventEmitter } from 'node:events';
import { Writable } from 'node:stream';
import type { ExportFormat, HistoryQuery, HistoryResponse, Reading } from '@fieldline/contracts';
import type { StoredDevice, TelemetryStore } from '../storage/store';
import { parseCsv } from './csv.testing';
import {
  BUCKETS_PER_WINDOW,
  CHUNK_CHARS,
  csvField,
  csvRecord,
  type CsvExtraColumn,
  type ExportSink,
  rawPages,
  streamExport,
} from './export.stream';

const T0 = Date.UTC(2026, 11, 1);
const DEV = 'pump-7';

/**
 * Readings in memory, answered with `since`'s contract (`ts > since`, `ts < before`, oldest first, ties by seq, at most
 * `limit`); counts the pages asked. `history` answers whatever `buckets` says for the window asked.
 */
class ArrayStore implements TelemetryStore {
  readonly kind = 'array';
  readonly calls: { since: number; before?: number; limit: number }[] = [];
  readonly historyCalls: HistoryQuery[] = [];
  /** Called before each page is answered: may throw (a failing store) or record state. */
  onPage: (page: number) => void = () => undefined;
  buckets: (q: HistoryQuery) => HistoryResponse['series'] = () => [];

  constructor(private readonly readings: Reading[] = []) {
    this.readings.sort((a, b) => a.ts - b.ts || (a.seq ?? -1) - (b.seq ?? -1));
  }

  async init(): Promise<void> {}
  async write(): Promise<void> {}
  devices(): Promise<StoredDevice[]> {
    return Promise.resolve([]);
  }
  async ping(): Promise<void> {}
  async close(): Promise<void> {}

  async since(deviceId: string, since: number, limit: number, before?: number): Promise<Reading[]> {
    this.calls.push({ since, before, limit });
    this.onPage(this.calls.length);
    await Promise.resolve();
    return this.readings
      .filter((r) => r.deviceId === deviceId && r.ts > since && (before === undefined || r.ts < before))
      .slice(0, limit);
  }

  async history(q: HistoryQuery): Promise<HistoryResponse> {
    this.historyCalls.push(q);
    await Promise.resolve();
    return { ...q, series: this.buckets(q), truncated: false };
  }
}

/** A consumer that takes everything at once. */
class Collect extends EventEmitter implements ExportSink {
  readonly chunks: string[] = [];
  destroyed = false;
  write(chunk: string): boolean {
    this.chunks.push(chunk);
    return true;
  }
  get text(): string {
    return this.chunks.join('');
  }
}

const raw = (over: Partial<HistoryQuery> = {}): HistoryQuery => ({
  deviceId: DEV,
  from: T0,
  to: T0 + 3_600_000,
  bucketMs: null,
  agg: 'mean',
  maxPoints: 1000,
  ...over,
});

async function exportText(
  store: ArrayStore,
  format: ExportFormat,
  metrics: string[],
  q = raw(),
  include: CsvExtraColumn[] = [],
): Promise<string> {
  const sink = new Collect();
  const { aborted } = await streamExport(store, { query: q, format, metrics, include }, sink);
  expect(aborted).toBe(false);
  return sink.text;
}

/** One reading a second from T0, metric `temp`. */
const steady = (n: number, from = T0): Reading[] =>
  Array.from({ length: n }, (_, i) => ({ deviceId: DEV, ts: from + i * 1000, seq: i, metrics: { temp: i / 10 } }));

describe('csvField / csvRecord', () => {
  it('quotes only what RFC 4180 requires, doubling quotes', () => {
    expect(csvField('plain text 1.5')).toBe('plain text 1.5');
    expect(csvField('a,b')).toBe('"a,b"');
    expect(csvField('say "hi"')).toBe('"say ""hi"""');
    expect(csvField('line\nbreak')).toBe('"line\nbreak"');
    expect(csvField('cr\rhere')).toBe('"cr\rhere"');
    expect(csvField('')).toBe('');
  });

  it('ends a record with CRLF and survives a round trip through a CSV parser', () => {
    const fields = ['x', 'a,b', '"q"', 'multi\r\nline', ''];
    expect(csvRecord(fields)).toBe('x,"a,b","""q""","multi\r\nline",\r\n');
    expect(parseCsv(csvRecord(fields) + csvRecord(['1']))).toEqual([fields, ['1']]);
  });
});

describe('streamExport, raw', () => {
  const tagged: Reading[] = [
    { deviceId: DEV, ts: T0 + 1000, seq: 1, metrics: { temp: 21.5, hum: 40 }, tags: { site: 'Hall 3, "north"' } },
    { deviceId: DEV, ts: T0 + 2000, seq: 2, metrics: { hum: 41 }, tags: { note: 'line one\nline two\r\nend' } },
    { deviceId: DEV, ts: T0 + 3000, metrics: { temp: -0.25 } },
    { deviceId: DEV, ts: T0 + 4000, seq: 4, metrics: { other: 1 } },
  ];

  it('CSV: header ts,<metrics in the order given>; empty where a reading lacks one, readings with none left out', async () => {
    expect(await exportText(new ArrayStore([...tagged]), 'csv', ['hum', 'temp'])).toBe(
      'ts,hum,temp\r\n' +
        '2026-12-01T00:00:01.000Z,40,21.5\r\n' +
        '2026-12-01T00:00:02.000Z,41,\r\n' +
        '2026-12-01T00:00:03.000Z,,-0.25\r\n',
    );
  });

  it('CSV with include=seq,tags: ts,seq,<metrics>,tags; tags as one JSON object, quoted, read back intact', async () => {
    const text = await exportText(new ArrayStore([...tagged]), 'csv', ['hum', 'temp'], raw(), ['seq', 'tags']);
    expect(text.split('\r\n')[0]).toBe('ts,seq,hum,temp,tags');
    expect(await exportText(new ArrayStore([...tagged]), 'csv', ['temp'], raw(), ['tags'])).toMatch(
      /^ts,temp,tags\r\n/,
    );
    expect(text).toBe(
      'ts,seq,hum,temp,tags\r\n' +
        '2026-12-01T00:00:01.000Z,1,40,21.5,"{""site"":""Hall 3, \\""north\\""""}"\r\n' +
        '2026-12-01T00:00:02.000Z,2,41,,"{""note"":""line one\\nline two\\r\\nend""}"\r\n' +
        '2026-12-01T00:00:03.000Z,,,-0.25,\r\n',
    );
    // A reading with none of the exported metrics (ts +4 s) is left out; a tag's line break stays inside its record.
    const rows = parseCsv(text);
    expect(rows).toHaveLength(4);
    expect(JSON.parse(rows[1][4])).toEqual(tagged[0].tags);
    expect(JSON.parse(rows[2][4])).toEqual(tagged[1].tags);
  });

  it('NDJSON: one reading per line in the shape devices send, only the exported metrics', async () => {
    const text = await exportText(new ArrayStore([...tagged]), 'ndjson', ['hum', 'temp']);
    const lines = text.split('\n');
    expect(lines.pop()).toBe('');
    expect(lines.map((l) => JSON.parse(l) as unknown)).toEqual([
      { deviceId: DEV, ts: T0 + 1000, seq: 1, metrics: { temp: 21.5, hum: 40 }, tags: { site: 'Hall 3, "north"' } },
      { deviceId: DEV, ts: T0 + 2000, seq: 2, metrics: { hum: 41 }, tags: { note: 'line one\nline two\r\nend' } },
      { deviceId: DEV, ts: T0 + 3000, metrics: { temp: -0.25 } },
    ]);
  });

  it('an empty range is the header alone (CSV) or an empty body (NDJSON)', async () => {
    const store = new ArrayStore(steady(10));
    const q = raw({ from: T0 + 3_600_000, to: T0 + 7_200_000 });
    expect(await exportText(store, 'csv', ['temp'], q)).toBe('ts,temp\r\n');
    expect(await exportText(store, 'csv', ['temp'], q, ['seq', 'tags'])).toBe('ts,seq,temp,tags\r\n');
    expect(await exportText(store, 'ndjson', ['temp'], q)).toBe('');
  });

  it('keeps metrics named like Object.prototype members (CSV and NDJSON)', async () => {
    const metrics = JSON.parse('{"__proto__":1,"constructor":2}') as Record<string, number>;
    const store = new ArrayStore([{ deviceId: DEV, ts: T0, metrics }]);
    expect(await exportText(store, 'csv', ['__proto__', 'constructor'])).toBe(
      'ts,__proto__,constructor\r\n2026-12-01T00:00:00.000Z,1,2\r\n',
    );
    const line = JSON.parse(await exportText(store, 'ndjson', ['__proto__', 'constructor'])) as Reading;
    expect(Object.entries(line.metrics)).toEqual([
      ['__proto__', 1],
      ['constructor', 2],
    ]);
  });

  it('exports [from, to): from included, to excluded', async () => {
    const text = await exportText(
      new ArrayStore(steady(10)),
      'ndjson',
      ['temp'],
      raw({ from: T0 + 2000, to: T0 + 5000 }),
    );
    expect(
      text
        .trim()
        .split('\n')
        .map((l) => (JSON.parse(l) as Reading).seq),
    ).toEqual([2, 3, 4]);
  });
});

describe('rawPages', () => {
  async function all(store: ArrayStore, from: number, to: number, pageSize: number): Promise<Reading[]> {
    const out: Reading[] = [];
    for await (const page of rawPages(store, DEV, from, to, pageSize)) {
      expect(page.length).toBeGreaterThan(0);
      expect(page.length).toBeLessThanOrEqual(pageSize);
      out.push(...page);
    }
    return out;
  }

  it('returns every reading once, in order, across page edges inside runs of one timestamp, bursts and gaps', async () => {
    const readings: Reading[] = [];
    let seq = 0;
    const add = (ts: number, n = 1): void => {
      for (let i = 0; i < n; i++) readings.push({ deviceId: DEV, ts, seq: seq++, metrics: { v: seq } });
    };
    for (let i = 0; i < 200; i++) add(T0 + i * 1000); // 1 Hz
    for (let i = 0; i < 30; i++) add(T0 + 200_000 + i * 3, 1 + (i % 4)); // a burst: several readings per ms
    add(T0 + 30 * 86_400_000, 7); // a month of silence, then a run longer than half a page
    for (let i = 0; i < 50; i++) add(T0 + 31 * 86_400_000 + i * 60_000); // one a minute
    readings.push({ deviceId: 'someone-else', ts: T0 + 5000, metrics: { v: 0 } });
    const store = new ArrayStore([...readings]);
    const got = await all(store, T0, T0 + 40 * 86_400_000, 8);
    expect(got.map((r) => r.seq)).toEqual(readings.filter((r) => r.deviceId === DEV).map((r) => r.seq));
    // Every call is bounded by a window, and the month of silence costs a handful of calls, not one per window.
    expect(store.calls.every((c) => c.before !== undefined && c.before <= T0 + 40 * 86_400_000)).toBe(true);
    expect(store.calls.length).toBeLessThan(got.length / 2);
  });

  it('takes a page as it is when one timestamp holds more than a page (and does not loop)', async () => {
    const readings = Array.from({ length: 12 }, (_, i) => ({ deviceId: DEV, ts: T0, seq: i, metrics: { v: i } }));
    const got = await all(new ArrayStore([...readings, ...steady(3, T0 + 1000)]), T0, T0 + 10_000, 5);
    expect(got.map((r) => [r.ts - T0, r.seq])).toEqual([
      ...[0, 1, 2, 3, 4].map((s) => [0, s]),
      [1000, 0],
      [2000, 1],
      [3000, 2],
    ]);
  });
});

describe('streamExport, aggregated', () => {
  const HOUR = 3_600_000;
  const bucketed = (q: HistoryQuery): HistoryResponse['series'] => {
    const points = (metric: string, scale: number) => {
      const out = [];
      for (let t = q.from - (q.from % q.bucketMs!); t < q.to; t += q.bucketMs!)
        out.push({ ts: t, value: ((t - T0) / HOUR) * scale, min: 0, max: scale, count: 60 });
      return { metric, points: out };
    };
    return [points('temp', 1), points('hum', 10)];
  };

  it('CSV: ts then the chosen aggregation per metric, one row per bucket', async () => {
    const store = new ArrayStore();
    store.buckets = bucketed;
    const q = raw({ bucketMs: HOUR, to: T0 + 3 * HOUR });
    expect(await exportText(store, 'csv', ['hum', 'temp'], q)).toBe(
      'ts,hum,temp\r\n2026-12-01T00:00:00.000Z,0,0\r\n2026-12-01T01:00:00.000Z,10,1\r\n2026-12-01T02:00:00.000Z,20,2\r\n',
    );
  });

  it('NDJSON: one bucket per line with value, min, max and count', async () => {
    const store = new ArrayStore();
    store.buckets = bucketed;
    const text = await exportText(store, 'ndjson', ['temp'], raw({ bucketMs: HOUR, to: T0 + 2 * HOUR }));
    expect(
      text
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l) as unknown),
    ).toEqual([
      { ts: T0, metrics: { temp: { value: 0, min: 0, max: 1, count: 60 } } },
      { ts: T0 + HOUR, metrics: { temp: { value: 1, min: 0, max: 1, count: 60 } } },
    ]);
  });

  it('asks the store in windows of whole buckets, never splitting one', async () => {
    const store = new ArrayStore();
    store.buckets = bucketed;
    const bucket = 60_000;
    const from = T0 + 30_000; // mid-bucket
    const to = from + 2.5 * BUCKETS_PER_WINDOW * bucket;
    const text = await exportText(store, 'csv', ['temp'], raw({ bucketMs: bucket, from, to }));
    expect(store.historyCalls.length).toBe(3);
    for (const c of store.historyCalls.slice(1)) expect(c.from % bucket).toBe(0);
    expect(store.historyCalls.map((c) => c.to - c.from).every((w) => w <= BUCKETS_PER_WINDOW * bucket)).toBe(true);
    expect(store.historyCalls[store.historyCalls.length - 1].to).toBe(to);
    // One row per bucket start, none twice.
    const ts = parseCsv(text)
      .slice(1)
      .map((r) => r[0]);
    expect(new Set(ts).size).toBe(ts.length);
  });
});

describe('streamExport, backpressure and failures', () => {
  /** A consumer slower than the store: a 16 KiB buffer it empties one chunk per 2 ms. */
  function slowConsumer(): Writable & { received: number } {
    const w = new Writable({
      highWaterMark: 16 * 1024,
      decodeStrings: false,
      write(chunk: string, _enc, done) {
        w.received += chunk.length;
        setTimeout(done, 2);
      },
    }) as Writable & { received: number };
    w.received = 0;
    return w;
  }

  it('asks for the next page only once the consumer drained what was written', async () => {
    const store = new ArrayStore(steady(40_000));
    const sink = slowConsumer();
    const unread: number[] = [];
    store.onPage = () => unread.push(sink.writableLength);
    const { rows, aborted } = await streamExport(
      store,
      { query: raw({ to: T0 + 40_000_000 }), format: 'csv', metrics: ['temp'] },
      sink,
    );
    expect({ rows, aborted }).toEqual({ rows: 40_000, aborted: false });
    expect(store.calls.length).toBeGreaterThan(5);
    // At each page asked, what was written before had been taken by the consumer (nothing left in its buffer).
    expect(unread.filter((n) => n > 0)).toEqual([]);
    // Pages were larger than a chunk, so the consumer pushed back within each page, not only between pages.
    expect(sink.received / store.calls.length).toBeGreaterThan(CHUNK_CHARS);
  });

  it('stops asking the store while the consumer does not drain, and gives up when it leaves', async () => {
    const store = new ArrayStore(steady(40_000));
    const sink = Object.assign(new EventEmitter(), {
      writes: 0,
      destroyed: false,
      write: () => (sink.writes++, false),
    });
    const done = streamExport(
      store,
      { query: raw({ to: T0 + 40_000_000 }), format: 'ndjson', metrics: ['temp'] },
      sink,
    );
    await new Promise((r) => setTimeout(r, 50));
    const pages = store.calls.length;
    expect(sink.writes).toBe(1);
    await new Promise((r) => setTimeout(r, 50));
    expect(store.calls.length).toBe(pages);
    sink.emit('drain');
    await new Promise((r) => setTimeout(r, 50));
    expect(sink.writes).toBe(2);
    sink.emit('close');
    sink.destroyed = true;
    const res = await done;
    expect(res.aborted).toBe(true);
    expect(res.rows).toBeLessThan(40_000);
    const after = store.calls.length;
    await new Promise((r) => setTimeout(r, 20));
    expect(store.calls.length).toBe(after);
  });

  it('a store error on the first page rejects before anything is written (an HTTP error can still be sent)', async () => {
    const store = new ArrayStore(steady(100));
    store.onPage = () => {
      throw new Error('disk on fire');
    };
    const sink = new Collect();
    await expect(streamExport(store, { query: raw(), format: 'csv', metrics: ['temp'] }, sink)).rejects.toThrow(
      'disk on fire',
    );
    expect(sink.chunks).toEqual([]);
  });

  it('a store error mid-stream rejects after whole records went out: the caller must cut the transfer', async () => {
    const store = new ArrayStore(steady(40_000));
    store.onPage = (n) => {
      if (n === 6) throw new Error('disk on fire');
    };
    const sink = new Collect();
    await expect(
      streamExport(store, { query: raw({ to: T0 + 40_000_000 }), format: 'csv', metrics: ['temp'] }, sink),
    ).rejects.toThrow('disk on fire');
    expect(sink.chunks.length).toBeGreaterThan(0);
    // What went out ends at a record boundary and is shorter than the full export: only a cut transfer tells.
    expect(sink.text.endsWith('\r\n')).toBe(true);
    expect(parseCsv(sink.text).length - 1).toBeLessThan(40_000);
  });
});
