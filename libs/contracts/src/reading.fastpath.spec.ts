import fc from 'fast-check';
import { LIMITS } from './limits';
import { type ChannelContext, decodeReading, decodeReadingWithSchema, parseMessage, type Reading } from './reading';

// decodeReading takes a hand-written path for well-formed readings and the zod schema for everything else. These
// properties hold the two to the same answers: over valid and invalid JSON, decodeReading (fast path, then schema)
// returns exactly what the schema path alone returns: the same reading, or the same code, message, seq and details.

const NOW = Date.UTC(2026, 10, 25, 12);
const ctx = (deviceId?: string): ChannelContext => ({ deviceId, receivedAt: NOW });

/** Both paths on separate parses of the same text, so that neither can see what the other did to its input. */
function same(text: string, channel?: string): Reading | object {
  const fast = decodeReading(JSON.parse(text), ctx(channel), 3);
  const slow = decodeReadingWithSchema(JSON.parse(text), ctx(channel), 3);
  expect(fast).toEqual(slow);
  return fast;
}

/** Strings of `c` around a length limit. */
const around = (limit: number, c = 'x') => fc.integer({ min: limit - 1, max: limit + 1 }).map((n) => c.repeat(n));
const deviceId = fc.oneof(fc.stringMatching(/^[A-Za-z0-9_.-]{1,64}$/), around(64, 'd'));
const name = fc.oneof(fc.stringMatching(/^[A-Za-z_][A-Za-z0-9_.-]{0,63}$/), around(64, 'm'));
const badName = fc.oneof(fc.string(), fc.constant('__proto__'), fc.constant('1abc'), fc.constant('a'.repeat(65)));
const value = fc.double({ noNaN: true, noDefaultInfinity: true });
const tsMs = fc.integer({ min: LIMITS.minTimestampMs - 1000, max: NOW + LIMITS.maxFutureSkewMs + 1000 });
const ts = fc.oneof(
  tsMs,
  fc.double({ min: LIMITS.minTimestampMs - 10, max: NOW + LIMITS.maxFutureSkewMs + 10 }),
  tsMs.map((ms) => new Date(ms).toISOString()),
  tsMs.map((ms) => new Date(ms).toISOString().replace('Z', '+02:00')),
  tsMs.map((ms) => new Date(ms).toISOString().slice(0, 19)),
  fc.constantFrom('2026-13-01T00:00Z', '2026-02-30T25:61Z', `2026-01-01T00:00:00.${'1'.repeat(40)}Z`),
  fc.string({ maxLength: 45 }),
  // Valid ISO-8601 text around the schema's 40-character limit.
  fc.integer({ min: 0, max: 12 }).map((n) => `2026-11-25T12:00:00.${'1'.repeat(n)}+01:00`.slice(0, 30 + n)),
  fc.integer({ min: 3, max: 15 }).map((n) => `2026-11-25T12:00:00.${'1'.repeat(n)}+01:00`),
  fc.integer(),
);
const seq = fc.oneof(fc.maxSafeNat(), fc.integer({ min: -5, max: 5 }), fc.double(), fc.constant(2 ** 53), fc.string());
/** An object of `n` distinct names around a count limit. */
const counted = <T>(limit: number, v: fc.Arbitrary<T>) =>
  fc
    .integer({ min: limit - 1, max: limit + 1 })
    .chain((n) => fc.tuple(...Array.from({ length: n }, () => v)))
    .map((vs) => Object.fromEntries(vs.map((x, i) => [`n${i}`, x])));
const metrics = fc.oneof(
  { weight: 4, arbitrary: fc.dictionary(name, value, { minKeys: 1, maxKeys: 4 }) },
  counted(LIMITS.maxMetrics, value),
  fc.dictionary(fc.oneof(name, badName), fc.oneof(value, fc.jsonValue()), { maxKeys: 4 }),
  fc.jsonValue(),
);
const tagValue = fc.oneof(fc.string({ maxLength: 8 }), around(LIMITS.maxTagValueLength, 'v'));
const tags = fc.oneof(
  fc.dictionary(name, tagValue, { maxKeys: 3 }),
  counted(LIMITS.maxTags, tagValue),
  fc.dictionary(fc.oneof(name, badName), fc.jsonValue(), { maxKeys: 3 }),
  fc.jsonValue(),
);
const reading = fc.record(
  {
    deviceId: fc.oneof({ weight: 4, arbitrary: deviceId }, fc.constant('dev-1'), fc.jsonValue()),
    ts,
    seq,
    metrics,
    tags,
    extra: fc.jsonValue(),
  },
  { requiredKeys: [] },
);
const channel = fc.option(fc.oneof(deviceId, fc.constant('dev-1')), { nil: undefined });

describe('decodeReading: fast path against the schema path', () => {
  it('gives the same answer for readings valid and invalid, on any channel', () => {
    fc.assert(
      fc.property(reading, channel, (r, ch) => {
        same(JSON.stringify(r), ch);
      }),
      { numRuns: 3000 },
    );
  });

  it('gives the same answer for arbitrary JSON', () => {
    fc.assert(
      fc.property(fc.jsonValue(), channel, (v, ch) => {
        same(JSON.stringify(v), ch);
      }),
      { numRuns: 1000 },
    );
  });

  it('gives the same answer for keys and values JSON writes but objects do not hold as plain data', () => {
    const texts = [
      '{"metrics":{"__proto__":1,"t":2}}',
      '{"metrics":{"t":1},"tags":{"__proto__":"x"}}',
      '{"metrics":{"constructor":1,"toString":2}}',
      '{"metrics":{"t":1},"tags":{"constructor":"x"}}',
      '{"__proto__":{"metrics":{"t":1}}}',
      '{"metrics":{"t":1},"seq":-0}',
      '{"metrics":{"t":-0},"ts":-0}',
      '{"metrics":{"t":1e308,"u":-1e308}}',
      '{"metrics":{"t":1e999}}',
      '{"metrics":{"t":1,"u":-1e999}}',
      '{"metrics":{"t":1},"ts":1e999}',
      '{"metrics":{"t":1},"seq":1e999}',
      '{"metrics":{"t":1},"seq":9007199254740991}',
      '{"metrics":{"t":1},"seq":9007199254740992}',
      '{"metrics":{"t":1},"seq":1.0}',
      '{"metrics":{"t":1},"ts":"2026-11-25T12:00:00.123456789+0130"}',
      '{"metrics":{"t":1},"deviceId":""}',
      '{"metrics":{"t":1},"deviceId":null}',
      '{"metrics":[1]}',
      '{"metrics":{"t":1},"tags":[]}',
      '{"metrics":{"t":1},"tags":{}}',
      '[{"metrics":{"t":1}}]',
      'null',
    ];
    for (const text of texts) for (const ch of [undefined, 'dev-1']) same(text, ch);
  });

  it('keeps the parsed metrics and tags objects of a valid reading (the fast path was taken)', () => {
    const v = JSON.parse('{"deviceId":"dev-1","seq":1,"metrics":{"t":1,"h":2},"tags":{"site":"n"}}') as {
      metrics: object;
      tags: object;
    };
    const r = decodeReading(v, ctx('dev-1')) as Reading;
    expect(r.metrics).toBe(v.metrics);
    expect(r.tags).toBe(v.tags);
    expect(r).toEqual(decodeReadingWithSchema(v, ctx('dev-1')));
  });

  it('keeps a batch answered reading by reading as before', () => {
    fc.assert(
      fc.property(fc.array(reading, { minLength: 1, maxLength: 10 }), channel, (rs, ch) => {
        const text = JSON.stringify({ readings: rs });
        const o = parseMessage(text, Buffer.byteLength(text), ctx(ch));
        const expected = rs.map((r, i) => decodeReadingWithSchema(JSON.parse(JSON.stringify(r)), ctx(ch), i));
        expect(o.readings).toEqual(expected.filter((e) => !('code' in e)));
        expect(o.errors).toEqual(expected.filter((e) => 'code' in e));
      }),
      { numRuns: 300 },
    );
  });
});
