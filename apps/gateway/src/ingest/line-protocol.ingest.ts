import { ErrorCode, FieldlineError, isValidDeviceId, LIMITS } from '@fieldline/contracts';
import type { TokenBucketLimiter } from '../common/rate-limiter';
import type { IngestPipeline } from './ingest.pipeline';
import {
  clip,
  type LineError,
  type LinePoint,
  type LinePrecision,
  metricNameOf,
  parseLines,
} from './line-protocol.parser';

/** What the caller may write for: one device (its own token) or the devices a bridge token allows. */
export type LineWriter =
  { kind: 'device'; deviceId: string } | { kind: 'bridge'; name: string; allows(id: string): boolean };

export interface LineWriteResult {
  /** Lines stored (after the spool has them, see {@link LineProtocolIngest.write}). */
  accepted: number;
  /** Lines refused, in order, each naming its line. */
  errors: (LineError & { code: ErrorCode })[];
  /** Set when the whole batch was refused, nothing of it stored (RATE_LIMITED, STORE_UNAVAILABLE, SHUTTING_DOWN). */
  retry: FieldlineError | null;
}

/** Bytes kept free in a message for the `{"readings":[...]}` envelope. */
const ENVELOPE = 32;

/** Refusals a client answers by sending the same batch again later (429 / 503 with `Retry-After`). */
const RETRYABLE: ReadonlySet<ErrorCode> = new Set([
  ErrorCode.RATE_LIMITED,
  ErrorCode.STORE_UNAVAILABLE,
  ErrorCode.SHUTTING_DOWN,
]);

/** The readings of one device in a batch, in line order. */
interface DeviceLines {
  readings: object[];
  /** Bytes of each reading's JSON form: what the message size limit counts. */
  bytes: number[];
  lines: number[];
  /** Tokens the batch costs this device: its readings, plus the writer's refused lines for a device token. */
  cost: number;
}

/**
 * Line protocol into the one ingest pipeline: each line becomes one reading of the device named by its device tag,
 * each field a metric `<measurement>_<field>`, the other tags stay tags. Lines are handed to
 * {@link IngestPipeline.ingest} as ordinary JSON batches per device (at most `maxBatch` readings and
 * `maxMessageBytes` each), so validation, limits, de-duplication, spool and fan-out are the very same as for HTTP,
 * WebSocket and MQTT; a refusal from the pipeline is mapped back to the line it came from.
 *
 * A batch is all or nothing with respect to refusals a client retries (429, 503): Telegraf and the InfluxDB clients
 * send a refused batch again whole, so a batch cut short after some lines were stored would store those twice.
 * - Rate limit: the per-device budget is checked for the whole batch, every device at once, before any line is
 *   taken; then charged. The pipeline is called without a channel device, so it does not charge again per message.
 * - Spool full / shutting down: the spool refuses an append only at its size bound or once closed, and neither
 *   changes while this synchronous call runs, so such a refusal comes at the first message or not at all.
 * Should a retryable refusal still come after lines were stored, the rest of the batch is answered as refused lines
 * (400, which clients do not retry), never as 429/503.
 */
export class LineProtocolIngest {
  constructor(
    private readonly pipeline: IngestPipeline,
    private readonly deviceTag: string,
    /** The per-device limiter of every transport; null: no limit (DEVICE_RATE=0). */
    private readonly limiter: TokenBucketLimiter | null = null,
  ) {}

  /** Parses and ingests; does not wait for durability (the controller does, before it answers). */
  write(text: string, precision: LinePrecision, writer: LineWriter, now = Date.now()): LineWriteResult {
    const { points, errors: syntax } = parseLines(text, precision);
    const errors: LineWriteResult['errors'] = syntax.map((e) => ({ ...e, code: ErrorCode.INVALID_MESSAGE }));
    const byDevice = new Map<string, DeviceLines>();
    // The store keys a point by device, metric and time, not by tags: of two lines that differ only in their tags at
    // one time (Telegraf's per-core cpu lines), it would keep one and drop the other unsaid. Refused here instead.
    const seen = new Map<string, { line: number; tags: string }>();
    for (const { line, point } of points) {
      const r = this.toReading(line, point, writer, now);
      if ('code' in r) {
        errors.push(r);
        continue;
      }
      const key = `${r.deviceId}\n${r.ts}\n${point.measurement}`;
      const first = seen.get(key);
      if (first === undefined) seen.set(key, { line, tags: r.tags });
      else if (first.tags !== r.tags) {
        errors.push({
          line,
          code: ErrorCode.CONFLICT,
          message:
            `line ${line}: ${clip(point.measurement)} of ${r.deviceId} at ${r.ts} is in line ${first.line} already, ` +
            'with other tags; a point is keyed by device, metric and time, not by tags (see docs/line-protocol.md)',
        });
        continue;
      }
      let d = byDevice.get(r.deviceId);
      if (!d) byDevice.set(r.deviceId, (d = { readings: [], bytes: [], lines: [], cost: 0 }));
      d.readings.push(r.reading);
      d.bytes.push(r.bytes);
      d.lines.push(line);
      d.cost++;
    }
    // Refused lines cost a token like a reading (as in the pipeline), charged to the device whose token sent them.
    if (writer.kind === 'device' && errors.length > 0) {
      let d = byDevice.get(writer.deviceId);
      if (!d) byDevice.set(writer.deviceId, (d = { readings: [], bytes: [], lines: [], cost: 0 }));
      d.cost += errors.length;
    }
    const limited = this.charge(byDevice);
    if (limited) {
      errors.sort((a, b) => a.line - b.line);
      return { accepted: 0, errors, retry: limited };
    }
    let accepted = 0;
    let retry: FieldlineError | null = null;
    for (const [, d] of byDevice) {
      const { readings, bytes, lines } = d;
      let i = 0;
      while (i < readings.length) {
        // One message: as many readings as fit in the limits; a reading too large alone goes alone (and is refused).
        let j = i;
        let size = ENVELOPE;
        while (
          j < readings.length &&
          j - i < LIMITS.maxBatch &&
          (j === i || size + bytes[j] + 1 <= LIMITS.maxMessageBytes)
        ) {
          size += bytes[j] + 1;
          j++;
        }
        // Handed over decoded: the pipeline validates the objects as it would their JSON, without parsing it again.
        const payload =
          j - i === 1 && size > LIMITS.maxMessageBytes
            ? { value: readings[i], bytes: bytes[i] }
            : { value: { readings: readings.slice(i, j) }, bytes: size };
        try {
          if (retry) throw retry;
          const parsed = this.pipeline.ingest(payload, 'http');
          accepted += parsed.readings.length;
          for (const e of parsed.errors) {
            const line = lines[i + e.index];
            errors.push({ line, code: e.code, message: `line ${line}: ${e.message}` });
          }
        } catch (err) {
          if (!(err instanceof FieldlineError)) throw err;
          if (RETRYABLE.has(err.code)) {
            if (accepted === 0) return { accepted: 0, errors: [], retry: err };
            retry = err;
          }
          for (let k = i; k < j; k++)
            errors.push({ line: lines[k], code: err.code, message: `line ${lines[k]}: ${err.message}` });
        }
        i = j;
      }
    }
    errors.sort((a, b) => a.line - b.line);
    return { accepted, errors, retry: null };
  }

  /**
   * Checks the whole batch against every device's budget before taking any of it; then takes it. Returns the
   * refusal (RATE_LIMITED, with the longest wait) when any device is over, having taken nothing.
   */
  private charge(byDevice: Map<string, DeviceLines>): FieldlineError | null {
    const limiter = this.limiter;
    if (!limiter) return null;
    let wait = 0;
    let over = '';
    let total = 0;
    for (const [id, d] of byDevice) {
      total += d.cost;
      const w = limiter.wait(id, d.cost);
      if (w > wait) {
        wait = w;
        over = id;
      }
    }
    if (wait > 0) {
      const stats = this.pipeline.stats;
      stats.messages.http++;
      stats.reject('http', ErrorCode.RATE_LIMITED, total);
      return new FieldlineError(
        ErrorCode.RATE_LIMITED,
        `device ${over} is over its limit of ${limiter.rate} readings/s (burst ${limiter.burst}); ` +
          `retry in ${wait} ms; nothing of this batch was stored`,
        { retryAfterMs: wait, rate: limiter.rate, burst: limiter.burst },
      );
    }
    for (const [id, d] of byDevice) limiter.take(id, d.cost);
    return null;
  }

  private toReading(
    line: number,
    p: LinePoint,
    writer: LineWriter,
    now: number,
  ):
    { deviceId: string; ts: number; tags: string; reading: object; bytes: number } | (LineError & { code: ErrorCode }) {
    const refuse = (code: ErrorCode, message: string) => ({ line, code, message: `line ${line}: ${message}` });
    let deviceId: string | undefined;
    const tags: Record<string, string> = {};
    let nTags = 0;
    for (const [k, v] of p.tags) {
      if (k === this.deviceTag) deviceId = v;
      else {
        tags[k] = v;
        nTags++;
      }
    }
    if (deviceId === undefined) {
      if (writer.kind !== 'device')
        return refuse(
          ErrorCode.INVALID_DEVICE_ID,
          `no ${this.deviceTag} tag: a bridge must name the device of every line`,
        );
      deviceId = writer.deviceId;
    }
    if (!isValidDeviceId(deviceId))
      return refuse(ErrorCode.INVALID_DEVICE_ID, `tag ${this.deviceTag} must be 1–64 characters of A-Z a-z 0-9 _ . -`);
    if (writer.kind === 'device' ? writer.deviceId !== deviceId : !writer.allows(deviceId))
      return refuse(
        ErrorCode.FORBIDDEN,
        writer.kind === 'device'
          ? `this token belongs to device ${writer.deviceId}; it may not write for ${deviceId}`
          : `bridge ${writer.name} may not write for device ${deviceId}`,
      );
    const metrics: Record<string, number> = {};
    for (const [k, v] of p.fields) {
      if (typeof v === 'object')
        return refuse(
          ErrorCode.INVALID_METRIC_VALUE,
          `field ${clip(k)} is a string; Fieldline stores numbers (integers, floats, booleans as 1/0), not strings`,
        );
      metrics[metricNameOf(p.measurement, k)] = typeof v === 'boolean' ? (v ? 1 : 0) : v;
    }
    const reading: { deviceId: string; ts: number; metrics: Record<string, number>; tags?: Record<string, string> } = {
      deviceId,
      ts: p.tsMs ?? now,
      metrics,
    };
    if (nTags > 0) reading.tags = tags;
    return {
      deviceId,
      ts: reading.ts,
      tags: nTags > 0 ? JSON.stringify(tags) : '',
      reading,
      bytes: Buffer.byteLength(JSON.stringify(reading)),
    };
  }
}
