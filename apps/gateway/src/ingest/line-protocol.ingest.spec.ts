import { ErrorCode, LIMITS, type Reading } from '@fieldline/contracts';
import { TokenBucketLimiter } from '../common/rate-limiter';
import type { PresenceService } from '../devices/presence.service';
import type { LiveFanout } from '../live/live.fanout';
import type { WriteBuffer } from '../storage/write-buffer';
import { IngestPipeline } from './ingest.pipeline';
import { IngestStats } from './ingest.stats';
import { LineProtocolIngest, type LineWriter } from './line-protocol.ingest';

const NOW = Date.UTC(2026, 11, 2, 12);
const NS = (ms: number): string => `${ms}000000`;

/** The real pipeline over a buffer that records what it is given (and can refuse, as a full spool does). */
function setup(opts: { rate?: number; burst?: number; deviceTag?: string } = {}) {
  let clock = 0;
  const stored: Reading[] = [];
  const messages: number[] = [];
  const live: Reading[] = [];
  let refuse = false;
  const buffer = {
    add: (rs: readonly Reading[]) => {
      if (refuse) return false;
      stored.push(...rs);
      messages.push(rs.length);
      return true;
    },
  } as unknown as WriteBuffer;
  const fanout = { push: (r: Reading) => live.push(r) } as unknown as LiveFanout;
  const presence = { seen: () => undefined } as unknown as PresenceService;
  const limiter = opts.rate ? new TokenBucketLimiter(opts.rate, opts.burst ?? 1000, () => clock) : null;
  const pipeline = new IngestPipeline(buffer, fanout, presence, new IngestStats(), limiter);
  const ingest = new LineProtocolIngest(pipeline, opts.deviceTag ?? 'device_id', limiter);
  return {
    ingest,
    pipeline,
    stored,
    messages,
    live,
    advance: (ms: number) => (clock += ms),
    refuseAll: (on: boolean) => (refuse = on),
    write: (text: string, writer: LineWriter) => ingest.write(text, 'ns', writer, NOW),
  };
}

const device = (deviceId: string): LineWriter => ({ kind: 'device', deviceId });
const bridge = (...prefixes: string[]): LineWriter => ({
  kind: 'bridge',
  name: 'telegraf',
  allows: (id) => prefixes.some((p) => id.startsWith(p)),
});
const lines = (n: number, dev: string, t0 = NOW - 60_000): string =>
  Array.from({ length: n }, (_, i) => `cpu,device_id=${dev} v=${i} ${NS(t0 + i)}`).join('\n');

describe('LineProtocolIngest', () => {
  it('makes a reading per line: device from its tag, <measurement>_<field> metrics, other tags kept', () => {
    const t = setup();
    const ts = NOW - 1000;
    const r = t.write(`cpu,device_id=pump-7,cpu=cpu0 usage_idle=97.5,cores=4i,ok=t,bad=f ${NS(ts)}`, device('pump-7'));
    expect(r).toEqual({ accepted: 1, errors: [], retry: null });
    expect(t.stored).toEqual([
      {
        deviceId: 'pump-7',
        ts,
        metrics: { cpu_usage_idle: 97.5, cpu_cores: 4, cpu_ok: 1, cpu_bad: 0 },
        tags: { cpu: 'cpu0' },
      },
    ]);
    expect(t.live).toEqual(t.stored);
  });

  it('takes the time of receipt for a line without a timestamp, and the token’s device without a device tag', () => {
    const t = setup();
    expect(t.write('mem used=41.5', device('pump-7')).accepted).toBe(1);
    expect(t.stored).toEqual([{ deviceId: 'pump-7', ts: NOW, metrics: { mem_used: 41.5 } }]);
  });

  it('reads the device from the configured tag (host for Telegraf), which is not kept as a tag', () => {
    const t = setup({ deviceTag: 'host' });
    t.write(`cpu,host=plc-3,device_id=x v=1 ${NS(NOW - 5)}`, bridge('plc-'));
    expect(t.stored).toEqual([{ deviceId: 'plc-3', ts: NOW - 5, metrics: { cpu_v: 1 }, tags: { device_id: 'x' } }]);
  });

  it('refuses a string field by name, keeping the other lines', () => {
    const t = setup();
    const r = t.write(`m v=1 ${NS(NOW - 2)}\nm status="ok" ${NS(NOW - 1)}`, device('d1'));
    expect(r.accepted).toBe(1);
    expect(r.errors).toEqual([
      {
        line: 2,
        code: ErrorCode.INVALID_METRIC_VALUE,
        message:
          'line 2: field status is a string; Fieldline stores numbers (integers, floats, booleans as 1/0), not strings',
      },
    ]);
  });

  it('a device token writes for its own device only; a bridge for the devices it is allowed', () => {
    const t = setup();
    const own = t.write(`m,device_id=d1 v=1 ${NS(NOW - 3)}\nm,device_id=d2 v=2 ${NS(NOW - 2)}`, device('d1'));
    expect(own.accepted).toBe(1);
    expect(own.errors).toEqual([
      {
        line: 2,
        code: ErrorCode.FORBIDDEN,
        message: 'line 2: this token belongs to device d1; it may not write for d2',
      },
    ]);
    const br = t.write(
      [`m,device_id=plc-1 v=1 ${NS(NOW - 3)}`, `m,device_id=pump-1 v=2 ${NS(NOW - 2)}`, `m v=3 ${NS(NOW - 1)}`].join(
        '\n',
      ),
      bridge('plc-'),
    );
    expect(br.accepted).toBe(1);
    expect(br.errors.map((e) => [e.line, e.code, e.message])).toEqual([
      [2, ErrorCode.FORBIDDEN, 'line 2: bridge telegraf may not write for device pump-1'],
      [3, ErrorCode.INVALID_DEVICE_ID, 'line 3: no device_id tag: a bridge must name the device of every line'],
    ]);
    expect(t.write(`m,device_id=bad/id v=1`, bridge('')).errors[0]).toMatchObject({
      code: ErrorCode.INVALID_DEVICE_ID,
      message: 'line 1: tag device_id must be 1–64 characters of A-Z a-z 0-9 _ . -',
    });
  });

  it("maps the pipeline's own validation back to the line: timestamp, metric name, tags", () => {
    const t = setup();
    const r = t.write(
      [
        `m v=1 ${NS(NOW - 1)}`,
        `m v=1 ${NS(Date.UTC(1999, 0, 1))}`,
        `m${'x'.repeat(70)} v=1 ${NS(NOW - 1)}`,
        `m,${'k'.repeat(80)}=a v=1 ${NS(NOW - 2)}`,
        `m v=2 ${NS(NOW)}`,
      ].join('\n'),
      device('d1'),
    );
    expect(r.accepted).toBe(2);
    expect(r.errors.map((e) => [e.line, e.code])).toEqual([
      [2, ErrorCode.INVALID_TIMESTAMP],
      [3, ErrorCode.INVALID_METRIC_NAME],
      [4, ErrorCode.INVALID_TAGS],
    ]);
    for (const e of r.errors) expect(e.message).toMatch(new RegExp(`^line ${e.line}: `));
  });

  it('refuses a line that differs from an earlier one only in its tags at the same time (the store keeps one)', () => {
    const t = setup({ deviceTag: 'host' });
    const ts = NS(NOW - 10_000);
    const r = t.write(
      [
        `cpu,cpu=cpu-total,host=h1 usage_idle=90 ${ts}`,
        `cpu,cpu=cpu0,host=h1 usage_idle=80 ${ts}`,
        `mem,host=h1 used=1 ${ts}`,
        `cpu,cpu=cpu-total,host=h1 usage_user=5 ${ts}`,
        `cpu,cpu=cpu0,host=h2 usage_idle=70 ${ts}`,
        `cpu,cpu=cpu0,host=h1 usage_idle=80 ${NS(NOW - 5000)}`,
      ].join('\n'),
      bridge('h'),
    );
    expect(r.errors).toEqual([
      {
        line: 2,
        code: ErrorCode.CONFLICT,
        message:
          `line 2: cpu of h1 at ${NOW - 10_000} is in line 1 already, with other tags; a point is keyed by device, ` +
          'metric and time, not by tags (see docs/line-protocol.md)',
      },
    ]);
    // Same tags at the same time (more fields of one point), another device, another time: all kept.
    expect(r.accepted).toBe(5);
  });

  it('hands a large batch to the pipeline as messages within maxBatch and maxMessageBytes (in bytes)', () => {
    const t = setup();
    expect(t.write(lines(1200, 'd1'), device('d1')).accepted).toBe(1200);
    expect(t.messages).toEqual([500, 500, 200]);
    // Tag values of 3-byte characters: counted in bytes, no message goes over the limit.
    const wide = setup();
    const v = '€'.repeat(120);
    const text = Array.from({ length: 400 }, (_, i) => `m,device_id=d1,a=${v},b=${v} v=${i} ${NS(NOW - i)}`).join('\n');
    expect(wide.write(text, device('d1'))).toMatchObject({ accepted: 400, errors: [] });
    expect(wide.messages.length).toBeGreaterThan(1);
    const perReading = Buffer.byteLength(JSON.stringify(wide.stored[0]));
    for (const n of wide.messages) expect(n * perReading).toBeLessThanOrEqual(LIMITS.maxMessageBytes);
  });

  describe('a batch is all or nothing for refusals a client retries', () => {
    it('rate limit: checks every device of the batch before taking any line; a resend then stores each once', () => {
      const t = setup({ rate: 100, burst: 100 });
      // d2 has spent its budget; d1 has its whole budget.
      expect(t.write(lines(100, 'd2'), bridge('d')).accepted).toBe(100);
      t.stored.length = 0;
      const batch = `${lines(50, 'd1')}\n${lines(50, 'd2', NOW - 30_000)}`;
      const refused = t.write(batch, bridge('d'));
      expect(refused.accepted).toBe(0);
      expect(refused.retry?.code).toBe(ErrorCode.RATE_LIMITED);
      expect(refused.retry?.message).toMatch(
        /^device d2 is over its limit of 100 readings\/s \(burst 100\); retry in 500 ms/,
      );
      expect(refused.retry?.details).toMatchObject({ retryAfterMs: 500 });
      expect(t.stored).toEqual([]);
      expect(t.pipeline.stats.rejected.http.get(ErrorCode.RATE_LIMITED)).toBe(100);
      // d1 was not charged for the refused batch: after the wait, the same batch goes through whole, once.
      t.advance(500);
      expect(t.write(batch, bridge('d'))).toMatchObject({ accepted: 100, errors: [], retry: null });
      expect(t.stored.filter((r) => r.deviceId === 'd1')).toHaveLength(50);
      expect(t.stored.filter((r) => r.deviceId === 'd2')).toHaveLength(50);
    });

    it('rate limit: a batch above the burst passes whole from a full bucket (in several messages), then waits', () => {
      const t = setup({ rate: 100, burst: 1000 });
      expect(t.write(lines(1200, 'd1'), device('d1')).accepted).toBe(1200);
      const next = t.write(lines(1, 'd1', NOW - 1), device('d1'));
      expect(next.retry?.details).toMatchObject({ retryAfterMs: 2010 }); // 200 owed + 1 needed, at 100/s
    });

    it('refused lines cost the writing device a token each, as in the other transports', () => {
      const t = setup({ rate: 1, burst: 3 });
      expect(t.write('x\ny\nz', device('d1')).errors).toHaveLength(3);
      expect(t.write(lines(1, 'd1'), device('d1')).retry?.code).toBe(ErrorCode.RATE_LIMITED);
    });

    it('a full spool refuses the whole batch; nothing is stored, the resend stores it once', () => {
      const t = setup();
      t.refuseAll(true);
      const r = t.write(`${lines(600, 'd1')}\n${lines(10, 'd2', NOW - 30_000)}`, bridge('d'));
      expect(r).toMatchObject({ accepted: 0, errors: [] });
      expect(r.retry?.code).toBe(ErrorCode.STORE_UNAVAILABLE);
      t.refuseAll(false);
      expect(t.write(`${lines(600, 'd1')}\n${lines(10, 'd2', NOW - 30_000)}`, bridge('d')).accepted).toBe(610);
      expect(t.stored).toHaveLength(610);
    });

    it('should a refusal come after lines were stored, the rest is answered as refused lines, never as a retry', () => {
      const t = setup();
      const add = t.pipeline['buffer'].add.bind(t.pipeline['buffer']);
      let calls = 0;
      // Not what the spool does (it refuses a whole event-loop turn or nothing): a guard against storing twice.
      t.pipeline['buffer'].add = (rs: readonly Reading[]) => (++calls === 1 ? add(rs) : false);
      const r = t.write(lines(700, 'd1'), device('d1'));
      expect(r.accepted).toBe(500);
      expect(r.retry).toBeNull();
      expect(r.errors).toHaveLength(200);
      expect(r.errors[0]).toMatchObject({ line: 501, code: ErrorCode.STORE_UNAVAILABLE });
    });

    it('shutting down refuses the whole batch', () => {
      const t = setup();
      t.pipeline.close();
      expect(t.write(lines(3, 'd1'), device('d1')).retry?.code).toBe(ErrorCode.SHUTTING_DOWN);
      expect(t.stored).toEqual([]);
    });
  });
});
