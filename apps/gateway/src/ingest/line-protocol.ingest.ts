import { ErrorCode, FieldlineError, isValidDeviceId, LIMITS } from '@fieldline/contracts';
import type { IngestPipeline } from './ingest.pipeline';
import { type LineError, type LinePoint, type LinePrecision, metricNameOf, parseLines } from './line-protocol.parser';

/** What the caller may write for: one device (its own token) or the devices a bridge token allows. */
export type LineWriter =
  { kind: 'device'; deviceId: string } | { kind: 'bridge'; name: string; allows(id: string): boolean };

export interface LineWriteResult {
  /** Lines stored (after the spool has them, see {@link LineProtocolIngest.write}). */
  accepted: number;
  /** Lines refused, in order, each naming its line. */
  errors: (LineError & { code: ErrorCode })[];
  /** Set when a batch was cut short by a retryable refusal (RATE_LIMITED, STORE_UNAVAILABLE, SHUTTING_DOWN). */
  retry: FieldlineError | null;
}

/** Bytes kept free in a message for the `{"readings":[...]}` envelope. */
const ENVELOPE = 32;

/**
 * Line protocol into the one ingest pipeline: each line becomes one reading of the device named by its device tag,
 * each field a metric `<measurement>_<field>`, the other tags stay tags. Lines are handed to
 * {@link IngestPipeline.ingest} as ordinary JSON batches per device (at most `maxBatch` readings and
 * `maxMessageBytes` each), so validation, limits, rate limits, de-duplication, spool and fan-out are the very same
 * as for HTTP, WebSocket and MQTT; a refusal from the pipeline is mapped back to the line it came from.
 */
export class LineProtocolIngest {
  constructor(
    private readonly pipeline: IngestPipeline,
    private readonly deviceTag: string,
  ) {}

  /** Parses and ingests; does not wait for durability (the controller does, before it answers). */
  write(text: string, precision: LinePrecision, writer: LineWriter, now = Date.now()): LineWriteResult {
    const { points, errors: syntax } = parseLines(text, precision);
    const errors: LineWriteResult['errors'] = syntax.map((e) => ({ ...e, code: ErrorCode.INVALID_MESSAGE }));
    // Per device, in order: the JSON of each reading and its line.
    const byDevice = new Map<string, { json: string[]; lines: number[] }>();
    for (const { line, point } of points) {
      const r = this.toReading(line, point, writer, now);
      if ('code' in r) {
        errors.push(r);
        continue;
      }
      let d = byDevice.get(r.deviceId);
      if (!d) byDevice.set(r.deviceId, (d = { json: [], lines: [] }));
      d.json.push(r.json);
      d.lines.push(line);
    }
    let accepted = 0;
    let retry: FieldlineError | null = null;
    outer: for (const [deviceId, { json, lines }] of byDevice) {
      let i = 0;
      while (i < json.length) {
        // One message: as many readings as fit in the limits; a reading too large alone goes alone (and is refused).
        let j = i;
        let bytes = ENVELOPE;
        while (
          j < json.length &&
          j - i < LIMITS.maxBatch &&
          (j === i || bytes + json[j].length + 1 <= LIMITS.maxMessageBytes)
        ) {
          bytes += json[j].length + 1;
          j++;
        }
        const payload =
          j - i === 1 && bytes > LIMITS.maxMessageBytes ? json[i] : `{"readings":[${json.slice(i, j).join(',')}]}`;
        try {
          const parsed = this.pipeline.ingest(payload, 'http', deviceId);
          accepted += parsed.readings.length;
          for (const e of parsed.errors)
            errors.push({
              line: lines[i + e.index],
              code: e.code,
              message: `line ${lines[i + e.index]}: ${e.message}`,
            });
        } catch (err) {
          if (!(err instanceof FieldlineError)) throw err;
          if (
            err.code === ErrorCode.RATE_LIMITED ||
            err.code === ErrorCode.STORE_UNAVAILABLE ||
            err.code === ErrorCode.SHUTTING_DOWN
          ) {
            retry = err;
            break outer;
          }
          for (let k = i; k < j; k++)
            errors.push({ line: lines[k], code: err.code, message: `line ${lines[k]}: ${err.message}` });
        }
        i = j;
      }
    }
    errors.sort((a, b) => a.line - b.line);
    return { accepted, errors, retry };
  }

  private toReading(
    line: number,
    p: LinePoint,
    writer: LineWriter,
    now: number,
  ): { deviceId: string; json: string } | (LineError & { code: ErrorCode }) {
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
          `field ${k} is a string; Fieldline stores numbers (integers, floats, booleans as 1/0), not strings`,
        );
      metrics[metricNameOf(p.measurement, k)] = typeof v === 'boolean' ? (v ? 1 : 0) : v;
    }
    const reading: { deviceId: string; ts: number; metrics: Record<string, number>; tags?: Record<string, string> } = {
      deviceId,
      ts: p.tsMs ?? now,
      metrics,
    };
    if (nTags > 0) reading.tags = tags;
    return { deviceId, json: JSON.stringify(reading) };
  }
}
