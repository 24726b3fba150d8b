import type { IngestReply } from '@fieldline/contracts';

/** What the gateway's answer to one message says about its readings. */
export interface Outcome {
  accepted: number;
  refused: number;
  /** Refused readings by error code. */
  codes: Record<string, number>;
  /** The first refusal, for events and logs. */
  error?: Refusal;
  /** `seq`s of readings refused one by one (a batch's per-reading errors that name their seq). */
  refusedSeqs?: number[];
  /** The gateway asked to retry after this long (`details.retryAfterMs` of a whole-message refusal). */
  retryAfterMs?: number;
}

/** One refusal as the gateway words it. */
export interface Refusal {
  code: string;
  message: string;
  seq?: number | null;
}

/** Code counted when an answer cannot be understood at all (not JSON, wrong shape). */
export const BAD_REPLY = 'BAD_REPLY';

/** Parses a WebSocket ingest frame from the gateway; null when it is not an {@link IngestReply}. */
export function parseWsReply(data: string | Buffer): IngestReply | null {
  const value = parseJson(data);
  if (!isObject(value)) return null;
  if (value.type === 'ack' && typeof value.accepted === 'number') return value as unknown as IngestReply;
  if (value.type === 'error' && typeof value.code === 'string') return value as unknown as IngestReply;
  return null;
}

/** Counts an {@link IngestReply} to a message of `count` readings. */
export function outcomeOfWsReply(reply: IngestReply, count: number): Outcome {
  if (reply.type === 'ack') {
    const out = fromErrorList(reply.errors);
    out.accepted = reply.accepted;
    return out;
  }
  const refusal: Refusal = { code: reply.code, message: reply.message, seq: reply.seq };
  return withRetryAfter(fromErrorList(errorListOf(reply.details), count, refusal), reply.details);
}

/**
 * Counts an HTTP ingest answer to a message of `count` readings: 2xx carries an `IngestResponse`, anything else an
 * `ErrorBody` (or, from a proxy in between, something that is not JSON: counted as `HTTP_<status>`).
 */
export function outcomeOfHttp(status: number, body: unknown, count: number): Outcome {
  if (status >= 200 && status < 300) {
    if (!isObject(body) || typeof body.accepted !== 'number') return { accepted: count, refused: 0, codes: {} };
    const out = fromErrorList(Array.isArray(body.errors) ? (body.errors as unknown[]) : undefined);
    out.accepted = body.accepted;
    return out;
  }
  const refusal: Refusal =
    isObject(body) && typeof body.code === 'string'
      ? { code: body.code, message: typeof body.message === 'string' ? body.message : '' }
      : { code: `HTTP_${status}`, message: `HTTP ${status}` };
  const details = isObject(body) ? body.details : undefined;
  return withRetryAfter(fromErrorList(errorListOf(details), count, refusal), details);
}

function withRetryAfter(out: Outcome, details: unknown): Outcome {
  if (isObject(details) && typeof details.retryAfterMs === 'number') out.retryAfterMs = details.retryAfterMs;
  return out;
}

/** Parses a payload from `devices/<id>/errors`: `{ code, message, seq?, index? }`; null when it is not one. */
export function parseMqttError(payload: string | Buffer): Refusal | null {
  const value = parseJson(payload);
  if (!isObject(value) || typeof value.code !== 'string') return null;
  const r: Refusal = { code: value.code, message: typeof value.message === 'string' ? value.message : '' };
  if (typeof value.seq === 'number') r.seq = value.seq;
  return r;
}

/**
 * Builds an outcome from a list of per-reading errors. When the whole message was refused without such a list
 * (malformed JSON, a batch too large), all `count` readings count under the message's code.
 */
function fromErrorList(list: unknown[] | undefined, count = 0, whole?: Refusal): Outcome {
  const out: Outcome = { accepted: 0, refused: 0, codes: {} };
  if (list && list.length) {
    for (const e of list) {
      const code = isObject(e) && typeof e.code === 'string' ? e.code : (whole?.code ?? BAD_REPLY);
      out.codes[code] = (out.codes[code] ?? 0) + 1;
      out.refused++;
      if (isObject(e) && typeof e.seq === 'number') (out.refusedSeqs ??= []).push(e.seq);
      if (!out.error && isObject(e)) {
        out.error = { code, message: typeof e.message === 'string' ? e.message : '' };
        if (typeof e.seq === 'number') out.error.seq = e.seq;
      }
    }
    if (whole) out.error = whole;
  } else if (whole) {
    const n = Math.max(1, count);
    out.codes[whole.code] = n;
    out.refused = n;
    out.error = whole;
  }
  return out;
}

function errorListOf(details: unknown): unknown[] | undefined {
  return isObject(details) && Array.isArray(details.errors) ? (details.errors as unknown[]) : undefined;
}

function parseJson(data: string | Buffer): unknown {
  try {
    return JSON.parse(typeof data === 'string' ? data : data.toString('utf8'));
  } catch {
    return undefined;
  }
}

/** A WebSocket ack that lists the accepted `seqs` of a batch (see the IngestReply contract). */
export function isAckWithSeqs(body: unknown): body is { seqs: number[] } {
  return isObject(body) && body.type === 'ack' && Array.isArray(body.seqs);
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
