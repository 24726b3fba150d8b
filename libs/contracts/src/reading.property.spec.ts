import fc from 'fast-check';
import { ErrorCode, FieldlineError } from './errors';
import { DEVICE_ID_PATTERN, LIMITS, METRIC_NAME_PATTERN } from './limits';
import { parseMessage, type ParsedMessage, type Reading } from './reading';

// Property-based tests of the reading parser: whatever bytes arrive, the parser answers with readings that keep every
// rule, or with known error codes, and never with anything else.

const NOW = Date.UTC(2026, 10, 25, 12);
const CODES = new Set<string>(Object.values(ErrorCode));

const parse = (text: string, deviceId?: string): ParsedMessage =>
  parseMessage(text, Buffer.byteLength(text), { deviceId, receivedAt: NOW });

/** Parses, turning a whole-message refusal into its code; anything else thrown fails the property. */
function outcome(text: string, deviceId?: string): ParsedMessage | string {
  try {
    return parse(text, deviceId);
  } catch (err) {
    if (err instanceof FieldlineError && CODES.has(err.code)) return err.code;
    throw err;
  }
}

const deviceId = fc.stringMatching(/^[A-Za-z0-9_.-]{1,64}$/);
const name = fc.stringMatching(/^[A-Za-z_][A-Za-z0-9_.-]{0,63}$/).filter((n) => n !== '__proto__');
// JSON has no -0: it comes back as 0.
const value = fc.double({ noNaN: true, noDefaultInfinity: true }).map((v) => (Object.is(v, -0) ? 0 : v));
const tsMs = fc.integer({ min: LIMITS.minTimestampMs, max: NOW + LIMITS.maxFutureSkewMs });
const validReading = fc.record(
  {
    deviceId,
    ts: fc.oneof(
      tsMs,
      tsMs.map((ms) => new Date(ms).toISOString()),
      // A zone offset other than Z, whole minutes.
      fc.tuple(tsMs, fc.integer({ min: -12 * 60, max: 14 * 60 })).map(([ms, off]) => {
        const local = new Date(ms + off * 60_000).toISOString().slice(0, 23);
        const sign = off < 0 ? '-' : '+';
        const a = Math.abs(off);
        return `${local}${sign}${String(Math.floor(a / 60)).padStart(2, '0')}:${String(a % 60).padStart(2, '0')}`;
      }),
    ),
    seq: fc.maxSafeNat(),
    metrics: fc.dictionary(name, value, { minKeys: 1, maxKeys: LIMITS.maxMetrics }),
    tags: fc.dictionary(name, fc.string({ maxLength: LIMITS.maxTagValueLength }), { maxKeys: LIMITS.maxTags }),
  },
  { requiredKeys: ['metrics'] },
);
type Input = typeof validReading extends fc.Arbitrary<infer T> ? T : never;

/** What the parser should make of a valid input on a channel that names `channel` (if any). */
function expected(r: Input, channel: string): Reading {
  const out: Reading = {
    deviceId: r.deviceId ?? channel,
    ts: r.ts === undefined ? NOW : typeof r.ts === 'number' ? r.ts : Date.parse(r.ts),
    metrics: r.metrics,
  };
  if (r.seq !== undefined) out.seq = r.seq;
  if (r.tags !== undefined) out.tags = r.tags;
  return out;
}

/** Every rule an accepted reading must keep. */
function wellFormed(r: Reading): boolean {
  const names = Object.keys(r.metrics);
  return (
    DEVICE_ID_PATTERN.test(r.deviceId) &&
    Number.isInteger(r.ts) &&
    r.ts >= LIMITS.minTimestampMs &&
    r.ts <= NOW + LIMITS.maxFutureSkewMs &&
    (r.seq === undefined || (Number.isSafeInteger(r.seq) && r.seq >= 0)) &&
    names.length >= 1 &&
    names.length <= LIMITS.maxMetrics &&
    names.every((n) => METRIC_NAME_PATTERN.test(n) && Number.isFinite(r.metrics[n])) &&
    (r.tags === undefined ||
      (Object.keys(r.tags).length <= LIMITS.maxTags &&
        Object.values(r.tags).every((v) => typeof v === 'string' && v.length <= LIMITS.maxTagValueLength)))
  );
}

function consistent(o: ParsedMessage | string, entries: number): boolean {
  if (typeof o === 'string') return true;
  if (!o.readings.every(wellFormed)) return false;
  if (!o.errors.every((e) => CODES.has(e.code) && typeof e.message === 'string')) return false;
  const idx = o.errors.map((e) => e.index);
  if (!idx.every((i, k) => i >= 0 && i < entries && (k === 0 || i > idx[k - 1]))) return false;
  return o.readings.length + o.errors.length === entries;
}

describe('parseMessage (properties)', () => {
  it('never throws anything but a coded refusal, for any text', () => {
    fc.assert(
      fc.property(fc.oneof(fc.string(), fc.string({ unit: 'binary' }), fc.json()), (text) => {
        const o = outcome(text);
        return consistent(o, typeof o === 'string' || !o.batch ? 1 : o.readings.length + o.errors.length);
      }),
      { numRuns: 1000 },
    );
  });

  it('keeps every rule for arbitrary objects shaped like readings', () => {
    const anyField = fc.oneof(fc.anything(), value, fc.string(), fc.constant(null));
    const shaped = fc.record(
      {
        deviceId: fc.oneof(deviceId, anyField),
        ts: fc.oneof(tsMs, fc.integer(), anyField),
        seq: fc.oneof(fc.integer(), fc.double(), anyField),
        metrics: fc.oneof(fc.dictionary(fc.string(), fc.oneof(value, anyField)), anyField),
        tags: fc.oneof(fc.dictionary(fc.string(), fc.oneof(fc.string(), anyField)), anyField),
      },
      { requiredKeys: [] },
    );
    fc.assert(
      fc.property(fc.oneof(shaped, fc.array(shaped, { minLength: 1, maxLength: 20 })), fc.option(deviceId), (v, ch) => {
        const batch = Array.isArray(v);
        const o = outcome(JSON.stringify(batch ? { readings: v } : v), ch ?? undefined);
        if (typeof o !== 'string' && o.readings.some((r) => ch !== null && r.deviceId !== ch)) return false;
        return consistent(o, batch ? v.length : 1);
      }),
      { numRuns: 1000 },
    );
  });

  it('accepts every valid reading and returns it normalised', () => {
    fc.assert(
      fc.property(validReading, (r) => {
        const o = parse(JSON.stringify(r), r.deviceId === undefined ? 'chan-1' : undefined);
        expect(o.errors).toEqual([]);
        expect(o.readings).toEqual([expected(r, 'chan-1')]);
      }),
      { numRuns: 500 },
    );
  });

  it('accepts a batch of valid readings in order, and keeps the valid ones of a mixed batch', () => {
    const entry = fc.oneof(
      { weight: 3, arbitrary: validReading.map((r) => ({ ok: true as const, r })) },
      {
        weight: 1,
        arbitrary: fc
          .oneof(
            fc.constant(42),
            fc.constant({ metrics: {} }),
            fc.constant({ metrics: { t: 'x' } }),
            fc.constant({ seq: -1, metrics: { t: 1 } }),
          )
          .map((r) => ({ ok: false as const, r })),
      },
    );
    fc.assert(
      fc.property(fc.array(entry, { minLength: 1, maxLength: 30 }), (entries) => {
        const text = JSON.stringify({ readings: entries.map((e) => e.r) });
        if (Buffer.byteLength(text) > LIMITS.maxMessageBytes) return;
        const o = parse(text, 'chan-2');
        expect(o.batch).toBe(true);
        // On a channel that names the device, a reading naming another device is refused (DEVICE_ID_MISMATCH).
        const keep = (e: (typeof entries)[number]) => e.ok && (e.r.deviceId === undefined || e.r.deviceId === 'chan-2');
        expect(o.readings).toEqual(entries.filter(keep).map((e) => expected(e.r as Input, 'chan-2')));
        expect(o.errors.map((e) => e.index)).toEqual(entries.flatMap((e, i) => (keep(e) ? [] : [i])));
      }),
      { numRuns: 300 },
    );
  });

  it('refuses a payload naming another device than the channel, and nothing of it is kept', () => {
    fc.assert(
      fc.property(validReading, deviceId, (r, channel) => {
        fc.pre(r.deviceId !== undefined && r.deviceId !== channel);
        const o = parse(JSON.stringify(r), channel);
        expect(o.readings).toEqual([]);
        expect(o.errors).toEqual([expect.objectContaining({ code: ErrorCode.DEVICE_ID_MISMATCH, index: 0 })]);
        expect(o.errors[0].seq).toBe(r.seq);
      }),
    );
  });

  it('maps one broken field to its code', () => {
    const broken: [fc.Arbitrary<unknown>, string, ErrorCode][] = [
      [fc.oneof(fc.string(), fc.boolean(), fc.constant(null), fc.object()), 'metric', ErrorCode.INVALID_METRIC_VALUE],
      [fc.integer({ min: -1e12, max: LIMITS.minTimestampMs - 1 }), 'ts', ErrorCode.INVALID_TIMESTAMP],
      [fc.integer({ min: NOW + LIMITS.maxFutureSkewMs + 1000, max: 8.64e15 }), 'ts', ErrorCode.INVALID_TIMESTAMP],
      [
        fc.oneof(fc.integer({ max: -1 }), fc.double({ min: 0.1, max: 1e6, noInteger: true }), fc.string()),
        'seq',
        ErrorCode.INVALID_SEQ,
      ],
      [fc.stringMatching(/^[0-9 !#$%&*+/:;<=>?@^`{|}~][^"\\]{0,10}$/), 'name', ErrorCode.INVALID_METRIC_NAME],
    ];
    for (const [bad, field, code] of broken) {
      fc.assert(
        fc.property(validReading, bad, (r, b) => {
          const v: Record<string, unknown> = { ...r, metrics: { ...r.metrics } };
          const metrics = v.metrics as Record<string, unknown>;
          if (field === 'metric') metrics[Object.keys(metrics)[0]] = b;
          else if (field === 'name') metrics[b as string] = 1;
          else v[field] = b;
          if (field === 'name' && Object.keys(metrics).length > LIMITS.maxMetrics) return;
          const o = parse(JSON.stringify(v), r.deviceId ?? 'chan-3');
          expect([field, o.readings.length, o.errors[0]?.code]).toEqual([field, 0, code]);
        }),
        { numRuns: 200 },
      );
    }
  });

  it('refuses anything over the size limit before reading it', () => {
    fc.assert(
      fc.property(fc.string(), fc.integer({ min: LIMITS.maxMessageBytes + 1, max: 1e9 }), (text, bytes) => {
        expect(() => parseMessage(text, bytes, { receivedAt: NOW })).toThrow(
          expect.objectContaining({ code: ErrorCode.MESSAGE_TOO_LARGE }),
        );
      }),
    );
  });
});
