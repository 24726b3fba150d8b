import { z } from 'zod';
import { type ErrorBody, ErrorCode, FieldlineError } from './errors';
import { DEVICE_ID_PATTERN, LIMITS, METRIC_NAME_PATTERN, TAG_KEY_PATTERN } from './limits';

/** A metric value: a finite number (zod 4 refuses NaN and ±Infinity). */
const MetricValueSchema = z.number();

/** A reading as a device sends it. `deviceId` may be left out where the channel names the device. */
export const ReadingInputSchema = z.object({
  deviceId: z.string().regex(DEVICE_ID_PATTERN).optional(),
  ts: z.union([z.number(), z.string().max(40)]).optional(),
  seq: z.number().int().min(0).max(Number.MAX_SAFE_INTEGER).optional(),
  metrics: z.record(z.string().regex(METRIC_NAME_PATTERN), MetricValueSchema).check((ctx) => {
    const n = Object.keys(ctx.value).length;
    if (n === 0)
      ctx.issues.push({
        code: 'custom',
        input: ctx.value,
        message: 'no metrics',
        params: { fl: ErrorCode.NO_METRICS },
      });
    else if (n > LIMITS.maxMetrics)
      ctx.issues.push({
        code: 'custom',
        input: ctx.value,
        message: 'too many metrics',
        params: { fl: ErrorCode.TOO_MANY_METRICS },
      });
  }),
  tags: z
    .record(z.string().regex(TAG_KEY_PATTERN), z.string().max(LIMITS.maxTagValueLength))
    .refine((t) => Object.keys(t).length <= LIMITS.maxTags, 'too many tags')
    .optional(),
});
/** A reading as a device sends it. */
export type ReadingInput = z.infer<typeof ReadingInputSchema>;

/** A message: one reading, or a batch of readings. */
export const MessageSchema = z.union([
  z.object({ readings: z.array(z.unknown()).min(1).max(LIMITS.maxBatch) }),
  ReadingInputSchema,
]);

/** A reading after validation: device id known, `ts` in epoch milliseconds. What is stored and sent to operators. */
export interface Reading {
  deviceId: string;
  /** Epoch milliseconds (the device's clock, or the time of receipt when the device sent none). */
  ts: number;
  seq?: number;
  metrics: Record<string, number>;
  tags?: Record<string, string>;
}

/** Why one reading of a message was refused. */
export interface ReadingError extends ErrorBody {
  /** Position in the batch (0 for a single reading). */
  index: number;
  /** The reading's `seq`, when it had a usable one. */
  seq?: number;
}

/** The readings of one message, split into accepted and refused. */
export interface ParsedMessage {
  /** Whether the message was a `{ readings: [...] }` batch. */
  batch: boolean;
  readings: Reading[];
  errors: ReadingError[];
}

/** Where a message came from: the device the channel speaks for (topic, URL, connection), and the time of receipt. */
export interface ChannelContext {
  deviceId?: string;
  receivedAt: number;
}

const ISO_8601 = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}:?\d{2})$/;

/**
 * Parses and validates one message into readings. `byteLength` is the payload's size on the wire (checked against
 * the limit before parsing). Throws {@link FieldlineError} when the whole message is refused.
 */
export function parseMessage(text: string, byteLength: number, ctx: ChannelContext): ParsedMessage {
  checkMessageSize(byteLength);
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw new FieldlineError(ErrorCode.MALFORMED_JSON, 'message is not valid JSON');
  }
  return decodeMessage(value, ctx);
}

/**
 * {@link parseMessage} for a message a transport decoded itself (InfluxDB line protocol): the same size limit, on
 * the bytes its JSON form takes, and the same validation, without a JSON text to parse.
 */
export function decodeSizedMessage(value: unknown, byteLength: number, ctx: ChannelContext): ParsedMessage {
  checkMessageSize(byteLength);
  return decodeMessage(value, ctx);
}

function checkMessageSize(byteLength: number): void {
  if (byteLength > LIMITS.maxMessageBytes) {
    throw new FieldlineError(
      ErrorCode.MESSAGE_TOO_LARGE,
      `message is ${byteLength} bytes; the limit is ${LIMITS.maxMessageBytes}`,
      {
        limit: LIMITS.maxMessageBytes,
      },
    );
  }
}

/** Validates an already parsed JSON value as a message (one reading or a batch). */
export function decodeMessage(value: unknown, ctx: ChannelContext): ParsedMessage {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new FieldlineError(ErrorCode.INVALID_MESSAGE, 'message must be a reading object or { "readings": [...] }');
  }
  const readings: Reading[] = [];
  const errors: ReadingError[] = [];
  if ('readings' in value) {
    const list = value.readings;
    if (!Array.isArray(list)) throw new FieldlineError(ErrorCode.INVALID_MESSAGE, '"readings" must be an array');
    if (list.length === 0) throw new FieldlineError(ErrorCode.EMPTY_BATCH, 'batch holds no reading');
    if (list.length > LIMITS.maxBatch) {
      throw new FieldlineError(
        ErrorCode.BATCH_TOO_LARGE,
        `batch holds ${list.length} readings; the limit is ${LIMITS.maxBatch}`,
        {
          limit: LIMITS.maxBatch,
        },
      );
    }
    for (let i = 0; i < list.length; i++) {
      const r = decodeReading(list[i], ctx, i);
      if ('code' in r) errors.push(r);
      else readings.push(r);
    }
    return { batch: true, readings, errors };
  }
  const r = decodeReading(value, ctx, 0);
  if ('code' in r) errors.push(r);
  else readings.push(r);
  return { batch: false, readings, errors };
}

/**
 * Validates and normalises one reading; returns the reading or why it was refused. A well-formed reading takes a
 * hand-written path that keeps the parsed `metrics` and `tags` objects; anything else goes through the schema, which
 * words the refusal. Both accept exactly the same readings (held to it by reading.fastpath.spec.ts).
 */
export function decodeReading(value: unknown, ctx: ChannelContext, index = 0): Reading | ReadingError {
  return decodeWellFormed(value, ctx) ?? decodeReadingWithSchema(value, ctx, index);
}

/** Names that passed their pattern, so that a device's usual names pay the regex once; bounded against name churn. */
class NameCache {
  private readonly known = new Set<string>();
  constructor(
    private readonly pattern: RegExp,
    private readonly max = 4096,
  ) {}
  valid(name: string): boolean {
    if (this.known.has(name)) return true;
    // `__proto__` matches the pattern but the schema would drop it silently: the schema path refuses it instead.
    if (name === '__proto__' || !this.pattern.test(name)) return false;
    if (this.known.size >= this.max) this.known.clear();
    this.known.add(name);
    return true;
  }
}
const metricNames = new NameCache(METRIC_NAME_PATTERN);
const tagNames = TAG_KEY_PATTERN === METRIC_NAME_PATTERN ? metricNames : new NameCache(TAG_KEY_PATTERN);

/** The JSON objects the schema takes as a record: no array, no class instance. */
function isJsonObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && Object.getPrototypeOf(v) === Object.prototype;
}

/**
 * The fast path: the reading when `value` is a reading the schema would accept as it stands, else `undefined` (never
 * a refusal: the schema path words those). Allocates the reading and nothing per metric.
 */
function decodeWellFormed(value: unknown, ctx: ChannelContext): Reading | undefined {
  if (!isJsonObject(value)) return undefined;
  const { deviceId: rawId, ts: rawTs, seq, metrics, tags } = value;
  let deviceId = ctx.deviceId;
  if (rawId !== undefined) {
    if (typeof rawId !== 'string' || !DEVICE_ID_PATTERN.test(rawId)) return undefined;
    if (deviceId !== undefined && rawId !== deviceId) return undefined;
    deviceId = rawId;
  }
  if (deviceId === undefined) return undefined;
  let ts = ctx.receivedAt;
  if (rawTs !== undefined) {
    let ms: number | string;
    if (typeof rawTs === 'number' && Number.isFinite(rawTs)) ms = normaliseTimestamp(rawTs, ctx.receivedAt);
    else if (typeof rawTs === 'string' && rawTs.length <= 40) ms = normaliseTimestamp(rawTs, ctx.receivedAt);
    else return undefined;
    if (typeof ms === 'string') return undefined;
    ts = ms;
  }
  if (seq !== undefined && !(typeof seq === 'number' && Number.isSafeInteger(seq) && seq >= 0)) return undefined;
  if (!isJsonObject(metrics)) return undefined;
  let n = 0;
  for (const name in metrics) {
    const v = metrics[name];
    if (typeof v !== 'number' || !Number.isFinite(v) || ++n > LIMITS.maxMetrics || !metricNames.valid(name)) {
      return undefined;
    }
  }
  if (n === 0) return undefined;
  if (tags !== undefined) {
    if (!isJsonObject(tags)) return undefined;
    let t = 0;
    for (const name in tags) {
      const v = tags[name];
      if (typeof v !== 'string' || v.length > LIMITS.maxTagValueLength || ++t > LIMITS.maxTags) return undefined;
      if (!tagNames.valid(name)) return undefined;
    }
  }
  const reading: Reading = { deviceId, ts, metrics: metrics as Record<string, number> };
  if (seq !== undefined) reading.seq = seq;
  if (tags !== undefined) reading.tags = tags as Record<string, string>;
  return reading;
}

/**
 * The schema path of {@link decodeReading}: validates with zod and words every refusal. Slower; exported so that the
 * property test can hold the fast path to it.
 */
export function decodeReadingWithSchema(value: unknown, ctx: ChannelContext, index = 0): Reading | ReadingError {
  const rawSeq = typeof value === 'object' && value !== null ? (value as { seq?: unknown }).seq : undefined;
  const seq = typeof rawSeq === 'number' && Number.isSafeInteger(rawSeq) && rawSeq >= 0 ? rawSeq : undefined;
  const fail = (code: ErrorCode, message: string, details?: Record<string, unknown>): ReadingError => {
    const e: ReadingError = { index, code, message };
    if (seq !== undefined) e.seq = seq;
    if (details) e.details = details;
    return e;
  };
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    return fail(ErrorCode.INVALID_READING, 'a reading must be an object');
  }
  // JSON.parse keeps `"__proto__"` as an own key; the schema would silently drop it. Refuse it instead.
  const raw = value as { metrics?: unknown; tags?: unknown };
  if (hasOwnProto(raw.metrics)) return fail(ErrorCode.INVALID_METRIC_NAME, 'metric name "__proto__" is invalid');
  if (hasOwnProto(raw.tags)) return fail(ErrorCode.INVALID_TAGS, 'tag name "__proto__" is invalid');
  const parsed = ReadingInputSchema.safeParse(value);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const { code, message } = codeOfIssue(issue);
    return fail(code, message, { path: issue.path.map(String).join('.') || undefined });
  }
  const input = parsed.data;
  let deviceId = input.deviceId;
  if (ctx.deviceId !== undefined) {
    if (deviceId !== undefined && deviceId !== ctx.deviceId) {
      return fail(
        ErrorCode.DEVICE_ID_MISMATCH,
        `payload deviceId "${deviceId}" differs from the channel's device "${ctx.deviceId}"`,
      );
    }
    deviceId = ctx.deviceId;
  }
  if (deviceId === undefined) return fail(ErrorCode.INVALID_DEVICE_ID, 'deviceId is required on this channel');
  const ts = normaliseTimestamp(input.ts, ctx.receivedAt);
  if (typeof ts === 'string') return fail(ErrorCode.INVALID_TIMESTAMP, ts);
  const reading: Reading = { deviceId, ts, metrics: input.metrics };
  if (input.seq !== undefined) reading.seq = input.seq;
  if (input.tags !== undefined) reading.tags = input.tags;
  return reading;
}

function hasOwnProto(v: unknown): boolean {
  return typeof v === 'object' && v !== null && Object.prototype.hasOwnProperty.call(v, '__proto__');
}

/** Turns a device timestamp into epoch ms, or returns why it is refused. */
export function normaliseTimestamp(ts: number | string | undefined, receivedAt: number): number | string {
  if (ts === undefined) return receivedAt;
  let ms: number;
  if (typeof ts === 'number') {
    ms = Math.floor(ts);
  } else {
    if (!ISO_8601.test(ts)) return 'ts must be epoch milliseconds or an ISO-8601 date-time with a zone';
    ms = Date.parse(ts);
    if (Number.isNaN(ms)) return 'ts is not a valid date-time';
  }
  if (ms < LIMITS.minTimestampMs) return 'ts lies before 2000-01-01 (is it in seconds? ts is in milliseconds)';
  if (ms > receivedAt + LIMITS.maxFutureSkewMs) return 'ts lies more than 24 h in the future';
  return ms;
}

function codeOfIssue(issue: z.core.$ZodIssue): { code: ErrorCode; message: string } {
  const [field] = issue.path;
  switch (field) {
    case 'deviceId':
      return { code: ErrorCode.INVALID_DEVICE_ID, message: 'deviceId must be 1–64 characters of A-Z a-z 0-9 _ . -' };
    case 'ts':
      return { code: ErrorCode.INVALID_TIMESTAMP, message: 'ts must be epoch milliseconds or an ISO-8601 date-time' };
    case 'seq':
      return { code: ErrorCode.INVALID_SEQ, message: 'seq must be a non-negative integer' };
    case 'tags':
      return {
        code: ErrorCode.INVALID_TAGS,
        message: `tags must be at most ${LIMITS.maxTags} names with string values`,
      };
    case 'metrics': {
      if (issue.code === 'custom') {
        const fl = (issue.params as { fl?: ErrorCode } | undefined)?.fl;
        if (fl === ErrorCode.TOO_MANY_METRICS)
          return { code: fl, message: `a reading carries at most ${LIMITS.maxMetrics} metrics` };
        return { code: ErrorCode.NO_METRICS, message: 'metrics must hold at least one metric' };
      }
      if (issue.path.length === 1)
        return { code: ErrorCode.NO_METRICS, message: 'metrics must be an object of name: number' };
      if (issue.code === 'invalid_key')
        return { code: ErrorCode.INVALID_METRIC_NAME, message: `metric name "${String(issue.path[1])}" is invalid` };
      return {
        code: ErrorCode.INVALID_METRIC_VALUE,
        message: `metric "${String(issue.path[1])}" must be a finite number`,
      };
    }
    default:
      return { code: ErrorCode.INVALID_READING, message: issue.message };
  }
}
