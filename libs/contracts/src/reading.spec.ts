import { ErrorCode, type FieldlineError } from './errors';
import { LIMITS } from './limits';
import { decodeMessage, parseMessage, type ReadingError } from './reading';

const now = Date.UTC(2026, 10, 25, 12);
const ctx = { receivedAt: now };
const parse = (value: unknown, deviceId?: string) => {
  const text = typeof value === 'string' ? value : JSON.stringify(value);
  return parseMessage(text, Buffer.byteLength(text), { deviceId, receivedAt: now });
};
const codeOf = (fn: () => unknown): string => {
  try {
    fn();
  } catch (err) {
    return (err as FieldlineError).code;
  }
  throw new Error('did not throw');
};
const errorOf = (value: unknown, deviceId?: string): ReadingError => {
  const { errors, readings } = parse(value, deviceId);
  expect(readings).toHaveLength(0);
  return errors[0];
};

describe('parseMessage', () => {
  it('accepts a full reading and keeps its fields', () => {
    const { readings, errors, batch } = parse({
      deviceId: 'd-1',
      ts: now - 5,
      seq: 7,
      metrics: { t: 21.5, h: 40 },
      tags: { site: 'a' },
    });
    expect(errors).toEqual([]);
    expect(batch).toBe(false);
    expect(readings).toEqual([
      { deviceId: 'd-1', ts: now - 5, seq: 7, metrics: { t: 21.5, h: 40 }, tags: { site: 'a' } },
    ]);
  });

  it('fills a missing ts with the time of receipt and the device id from the channel', () => {
    const { readings } = parse({ metrics: { t: 1 } }, 'dev.A_1');
    expect(readings[0]).toEqual({ deviceId: 'dev.A_1', ts: now, metrics: { t: 1 } });
  });

  it('takes ISO-8601 timestamps with a zone', () => {
    const { readings } = parse({ deviceId: 'd', ts: '2026-11-25T11:00:00.250+01:00', metrics: { t: 1 } });
    expect(readings[0].ts).toBe(Date.UTC(2026, 10, 25, 10, 0, 0, 250));
  });

  it('splits a batch into accepted readings and per-reading errors', () => {
    const { readings, errors, batch } = parse({
      readings: [
        { deviceId: 'a', seq: 1, metrics: { t: 1 } },
        { deviceId: 'a', seq: 2, metrics: { t: 'hot' } },
        { deviceId: 'a', seq: 3, metrics: { t: 3 } },
      ],
    });
    expect(batch).toBe(true);
    expect(readings.map((r) => r.seq)).toEqual([1, 3]);
    expect(errors).toEqual([expect.objectContaining({ index: 1, seq: 2, code: ErrorCode.INVALID_METRIC_VALUE })]);
  });

  it.each([
    ['malformed JSON', '{"metrics": {', ErrorCode.MALFORMED_JSON],
    ['a JSON array', '[1,2]', ErrorCode.INVALID_MESSAGE],
    ['a JSON string', '"hi"', ErrorCode.INVALID_MESSAGE],
    ['null', 'null', ErrorCode.INVALID_MESSAGE],
    ['readings not an array', '{"readings": 3}', ErrorCode.INVALID_MESSAGE],
    ['an empty batch', '{"readings": []}', ErrorCode.EMPTY_BATCH],
  ])('refuses %s as a whole', (_name, text, code) => {
    expect(codeOf(() => parse(text))).toBe(code);
  });

  it('refuses a batch over the limit and a message over the size limit', () => {
    const readings = Array.from({ length: LIMITS.maxBatch + 1 }, (_, i) => ({
      deviceId: 'a',
      seq: i,
      metrics: { t: i },
    }));
    expect(codeOf(() => parse({ readings }))).toBe(ErrorCode.BATCH_TOO_LARGE);
    expect(codeOf(() => parseMessage('{}', LIMITS.maxMessageBytes + 1, ctx))).toBe(ErrorCode.MESSAGE_TOO_LARGE);
  });

  it.each([
    ['a bad device id', { deviceId: 'no spaces', metrics: { t: 1 } }, ErrorCode.INVALID_DEVICE_ID],
    ['a too long device id', { deviceId: 'x'.repeat(65), metrics: { t: 1 } }, ErrorCode.INVALID_DEVICE_ID],
    ['a device id of the wrong type', { deviceId: 5, metrics: { t: 1 } }, ErrorCode.INVALID_DEVICE_ID],
    ['no device id on a channel without one', { metrics: { t: 1 } }, ErrorCode.INVALID_DEVICE_ID],
    ['missing metrics', { deviceId: 'a' }, ErrorCode.NO_METRICS],
    ['empty metrics', { deviceId: 'a', metrics: {} }, ErrorCode.NO_METRICS],
    ['metrics as an array', { deviceId: 'a', metrics: [1] }, ErrorCode.NO_METRICS],
    ['a string value', { deviceId: 'a', metrics: { t: '1' } }, ErrorCode.INVALID_METRIC_VALUE],
    ['a null value', { deviceId: 'a', metrics: { t: null } }, ErrorCode.INVALID_METRIC_VALUE],
    ['a bad metric name', { deviceId: 'a', metrics: { '1bad name': 1 } }, ErrorCode.INVALID_METRIC_NAME],
    ['a timestamp in seconds', { deviceId: 'a', ts: 1_764_072_000, metrics: { t: 1 } }, ErrorCode.INVALID_TIMESTAMP],
    [
      'a timestamp far in the future',
      { deviceId: 'a', ts: now + 2 * 86_400_000, metrics: { t: 1 } },
      ErrorCode.INVALID_TIMESTAMP,
    ],
    ['a zoneless date', { deviceId: 'a', ts: '2026-11-25 10:00', metrics: { t: 1 } }, ErrorCode.INVALID_TIMESTAMP],
    ['a boolean ts', { deviceId: 'a', ts: true, metrics: { t: 1 } }, ErrorCode.INVALID_TIMESTAMP],
    ['a negative seq', { deviceId: 'a', seq: -1, metrics: { t: 1 } }, ErrorCode.INVALID_SEQ],
    ['a fractional seq', { deviceId: 'a', seq: 1.5, metrics: { t: 1 } }, ErrorCode.INVALID_SEQ],
    ['tags with a number value', { deviceId: 'a', metrics: { t: 1 }, tags: { k: 1 } }, ErrorCode.INVALID_TAGS],
  ])('refuses %s', (_name, value, code) => {
    expect(errorOf(value).code).toBe(code);
  });

  it('refuses Infinity (1e999 in JSON) as a metric value', () => {
    expect(errorOf('{"deviceId":"a","metrics":{"t":1e999}}').code).toBe(ErrorCode.INVALID_METRIC_VALUE);
  });

  it('refuses more metrics than the limit, and accepts exactly the limit', () => {
    const metrics = (n: number) => Object.fromEntries(Array.from({ length: n }, (_, i) => [`m${i}`, i]));
    expect(errorOf({ deviceId: 'a', metrics: metrics(LIMITS.maxMetrics + 1) }).code).toBe(ErrorCode.TOO_MANY_METRICS);
    expect(parse({ deviceId: 'a', metrics: metrics(LIMITS.maxMetrics) }).readings).toHaveLength(1);
  });

  it('refuses a payload device id that differs from the channel, keeping the seq in the error', () => {
    const e = errorOf({ deviceId: 'b', seq: 4, metrics: { t: 1 } }, 'a');
    expect(e).toMatchObject({ code: ErrorCode.DEVICE_ID_MISMATCH, seq: 4, index: 0 });
  });

  it('decodeMessage reports a non-object batch entry', () => {
    const { errors } = decodeMessage({ readings: [42] }, ctx);
    expect(errors[0]).toMatchObject({ index: 0, code: ErrorCode.INVALID_READING });
  });
});
