import { createHash, timingSafeEqual } from 'node:crypto';
import { createGunzip } from 'node:zlib';
import { Controller, Get, HttpCode, Inject, Logger, Post, Query, Req, Res } from '@nestjs/common';
import type { Request, Response } from 'express';
import {
  ErrorCode,
  errorMessage,
  FieldlineError,
  HTTP_STATUS_OF,
  LineProtocolPath,
  RestRoute,
} from '@fieldline/contracts';
import { DEVICE_LIMITER } from '../auth/auth.module';
import { Public } from '../common/access';
import { DeviceAuth } from '../auth/device-auth.service';
import type { TokenBucketLimiter } from '../common/rate-limiter';
import { CONFIG, type GatewayConfig } from '../config/config';
import { bridgeAllows, type LineBridge } from '../config/line-protocol.config';
import { IngestPipeline } from './ingest.pipeline';
import { LineProtocolIngest, type LineWriter } from './line-protocol.ingest';
import { LINE_PRECISIONS, type LinePrecision } from './line-protocol.parser';

/** Largest line-protocol body, inflated: about 40,000 Telegraf lines (Telegraf sends 1,000 a batch by default). */
export const LINE_PROTOCOL_MAX_BODY_BYTES = 8 * 1024 * 1024;

/** A `/query` body: one statement in a form. */
const QUERY_MAX_BODY_BYTES = 16 * 1024;

/** What `/ping` says in `X-Influxdb-Version`: the 1.x API it speaks (clients pick their protocol by it). */
const INFLUX_VERSION = '1.8-fieldline';

/** Statements the query stub answers with an empty result (what Telegraf and client libraries send unasked). */
const HARMLESS_QUERY =
  /^\s*(CREATE\s+(DATABASE|RETENTION\s+POLICY)|SHOW\s+(DATABASES|RETENTION\s+POLICIES|MEASUREMENTS))\b/i;

/** At most this many refused lines are named in a 400 answer; the count says how many there were. */
const MAX_NAMED_ERRORS = 5;

/** Why a request is answered before its lines are looked at; leaves as InfluxDB's `{"error": ...}`. */
class LineHttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly code: ErrorCode,
    readonly retryAfterS?: number,
  ) {
    super(message);
  }
}

/**
 * InfluxDB-compatible writes, so that Telegraf (`outputs.influxdb`, `outputs.influxdb_v2`) and InfluxDB client
 * libraries can point at the gateway: `POST /write` (1.x), `POST /api/v2/write` (2.x), `GET|HEAD /ping`, and
 * `POST /query` answering `CREATE DATABASE` (Telegraf sends it at start). Answers as InfluxDB does: 204 once the
 * lines are durable; 400 `{"error"}` naming the bad lines after keeping the good ones; 401, 403, 413; 429 and 503
 * with `Retry-After`. See docs/line-protocol.md.
 */
@Controller()
export class LineProtocolController {
  private readonly ingest: LineProtocolIngest;
  private readonly bridges: readonly LineBridge[];

  constructor(
    @Inject(IngestPipeline) private readonly pipeline: IngestPipeline,
    @Inject(DeviceAuth) private readonly devices: DeviceAuth,
    @Inject(CONFIG) config: GatewayConfig,
    @Inject(DEVICE_LIMITER) limiter: TokenBucketLimiter | null,
  ) {
    this.ingest = new LineProtocolIngest(pipeline, config.lineProtocol.deviceTag, limiter);
    this.bridges = config.lineProtocol.bridges;
  }

  /** Express answers `HEAD` from the `GET` route (same status and headers, no body). */
  @Public()
  @Get(LineProtocolPath.ping)
  @HttpCode(204)
  ping(@Res({ passthrough: true }) res: Response): void {
    res.setHeader('X-Influxdb-Version', INFLUX_VERSION);
  }

  /**
   * Telegraf sends `CREATE DATABASE` at start (in a form body), client libraries `SHOW DATABASES`: the store needs
   * neither, so both answer an empty result. Anything else is refused: readings are read through the history API.
   */
  @Public()
  @Get(LineProtocolPath.query)
  queryGet(@Query('q') q: unknown, @Res() res: Response): void {
    answerQuery(res, typeof q === 'string' ? q : '');
  }

  @Public()
  @Post(LineProtocolPath.query)
  async queryPost(@Req() req: Request, @Res() res: Response): Promise<void> {
    try {
      let q = typeof req.query.q === 'string' ? req.query.q : '';
      if (q === '') q = new URLSearchParams(await readBody(req, QUERY_MAX_BODY_BYTES)).get('q') ?? '';
      answerQuery(res, q);
    } catch (err) {
      answerError(res, err);
    }
  }

  @Public()
  @Post(LineProtocolPath.write)
  async writeV1(@Req() req: Request, @Res() res: Response): Promise<void> {
    await this.write(req, res, 'v1');
  }

  @Public()
  @Post(LineProtocolPath.writeV2)
  async writeV2(@Req() req: Request, @Res() res: Response): Promise<void> {
    await this.write(req, res, 'v2');
  }

  private async write(req: Request, res: Response, api: 'v1' | 'v2'): Promise<void> {
    try {
      const writer = await this.writer(req);
      const precision = precisionOf(req.query.precision, api);
      const text = await readBody(req, LINE_PROTOCOL_MAX_BODY_BYTES);
      const { accepted, errors, retry } = this.ingest.write(text, precision, writer);
      // Nothing is answered before what was kept is in the spool.
      if (accepted > 0)
        await this.pipeline.durable().catch((err: unknown) => {
          throw new LineHttpError(
            503,
            `the lines could not be stored; retry later (${errorMessage(err)})`,
            ErrorCode.STORE_UNAVAILABLE,
            1,
          );
        });
      // The whole batch was refused, nothing of it stored (line-protocol.ingest.ts): the client sends it again.
      if (retry) {
        const s = Math.max(1, Math.ceil(Number(retry.details?.retryAfterMs ?? 1000) / 1000));
        throw new LineHttpError(HTTP_STATUS_OF[retry.code], retry.message, retry.code, s);
      }
      if (errors.length === 0) {
        res.status(204).end();
        return;
      }
      const named = errors.slice(0, MAX_NAMED_ERRORS).map((e) => e.message);
      const more = errors.length > MAX_NAMED_ERRORS ? `; and ${errors.length - MAX_NAMED_ERRORS} more` : '';
      const message = `partial write: ${named.join('; ')}${more} dropped=${errors.length}`;
      // Every line refused for the writer's rights: 403, as InfluxDB answers a write it may not make.
      const status = accepted === 0 && errors.every((e) => e.code === ErrorCode.FORBIDDEN) ? 403 : 400;
      res.status(status).json({ error: message, code: status === 403 ? ErrorCode.FORBIDDEN : errors[0].code });
    } catch (err) {
      answerError(res, err);
    }
  }

  /** The token from `Authorization: Token|Bearer|Basic` or the `p` query parameter (1.x), resolved to a writer. */
  private async writer(req: Request): Promise<LineWriter> {
    const token = tokenOf(req);
    if (token === null) {
      this.pipeline.refuse('http', ErrorCode.UNAUTHORIZED);
      throw new LineHttpError(
        401,
        'authorization failed: send the device or bridge token as Authorization: Token <token> (or Basic, or u/p)',
        ErrorCode.UNAUTHORIZED,
      );
    }
    const deviceId = await this.devices.verify(token);
    if (deviceId !== null) return { kind: 'device', deviceId };
    const hash = createHash('sha256').update(token).digest();
    for (const b of this.bridges) {
      if (timingSafeEqual(hash, Buffer.from(b.tokenSha256, 'hex')))
        return { kind: 'bridge', name: b.name, allows: (id) => bridgeAllows(b, id) };
    }
    this.pipeline.refuse('http', ErrorCode.UNAUTHORIZED);
    throw new LineHttpError(401, 'authorization failed: unknown token', ErrorCode.UNAUTHORIZED);
  }
}

function precisionOf(raw: unknown, api: 'v1' | 'v2'): LinePrecision {
  if (raw === undefined || raw === '') return 'ns';
  // The 2.x API spells microseconds `us`; 1.x `u` (and accepts `us` and `n` too).
  const p = raw === 'us' ? 'u' : raw === 'n' ? 'ns' : raw;
  // The 2.x API has no minutes or hours.
  if (
    typeof p === 'string' &&
    (LINE_PRECISIONS as readonly string[]).includes(p) &&
    (api === 'v1' || !/^[mh]$/.test(p))
  )
    return p as LinePrecision;
  throw new LineHttpError(
    400,
    `invalid precision ${JSON.stringify((typeof raw === 'string' ? raw : JSON.stringify(raw)).slice(0, 20))}: one of ns, ${api === 'v2' ? 'us' : 'u'}, ms, s${api === 'v1' ? ', m, h' : ''}`,
    ErrorCode.INVALID_REQUEST,
  );
}

function tokenOf(req: Request): string | null {
  const h = req.headers.authorization;
  if (typeof h === 'string') {
    const sp = h.indexOf(' ');
    const scheme = sp < 0 ? '' : h.slice(0, sp).toLowerCase();
    const value = sp < 0 ? '' : h.slice(sp + 1).trim();
    if ((scheme === 'token' || scheme === 'bearer') && value !== '') return value;
    if (scheme === 'basic') {
      const decoded = Buffer.from(value, 'base64').toString('utf8');
      const colon = decoded.indexOf(':');
      const pass = colon < 0 ? '' : decoded.slice(colon + 1);
      if (pass !== '') return pass;
    }
  }
  const p = req.query.p;
  return typeof p === 'string' && p !== '' ? p : null;
}

/** The body, gunzipped when `Content-Encoding: gzip`, refused with 413 beyond the limit (also when inflated). */
async function readBody(req: Request, limit: number): Promise<string> {
  if (Buffer.isBuffer(req.body)) return req.body.toString('utf8');
  // The app's JSON parser runs before the routes: an object here was a JSON body.
  if (typeof req.body === 'object' && req.body !== null)
    throw new LineHttpError(400, 'send line protocol as text/plain, not as JSON', ErrorCode.INVALID_REQUEST);
  const enc = String(req.headers['content-encoding'] ?? 'identity').toLowerCase();
  if (enc !== 'gzip' && enc !== 'identity')
    throw new LineHttpError(
      400,
      `unsupported Content-Encoding ${enc.slice(0, 20)}: gzip or none`,
      ErrorCode.INVALID_REQUEST,
    );
  const declared = Number(req.headers['content-length']);
  if (Number.isFinite(declared) && declared > limit) throw tooLarge(limit);
  const source = enc === 'gzip' ? req.pipe(createGunzip()) : req;
  const chunks: Buffer[] = [];
  let size = 0;
  try {
    for await (const chunk of source as AsyncIterable<Buffer>) {
      size += chunk.length;
      if (size > limit) {
        // Stop inflating at once (a gzip bomb costs at most `limit` bytes) and let the rest of the upload drain.
        req.unpipe();
        req.resume();
        throw tooLarge(limit);
      }
      chunks.push(chunk);
    }
  } catch (err) {
    if (err instanceof LineHttpError) throw err;
    throw new LineHttpError(400, `unreadable body: ${errorMessage(err)}`, ErrorCode.INVALID_REQUEST);
  }
  return Buffer.concat(chunks).toString('utf8');
}

const tooLarge = (limit: number): LineHttpError =>
  new LineHttpError(
    413,
    `request body too large: at most ${limit} bytes (after gunzip); send smaller batches`,
    ErrorCode.MESSAGE_TOO_LARGE,
  );

function answerQuery(res: Response, q: string): void {
  if (HARMLESS_QUERY.test(q)) {
    res.status(200).json({ results: [{ statement_id: 0 }] });
    return;
  }
  res.status(400).json({
    error:
      'Fieldline takes writes only: CREATE DATABASE and SHOW statements answer an empty result; read readings ' +
      `through GET ${RestRoute.readings}`,
    code: ErrorCode.INVALID_REQUEST,
  });
}

function answerError(res: Response, err: unknown): void {
  if (res.headersSent) return;
  if (err instanceof LineHttpError) {
    if (err.retryAfterS !== undefined) res.setHeader('Retry-After', String(err.retryAfterS));
    if (err.status === 401) res.setHeader('WWW-Authenticate', 'Token realm="fieldline-devices"');
    res.status(err.status).json({ error: err.message, code: err.code });
    return;
  }
  if (err instanceof FieldlineError) {
    const status = HTTP_STATUS_OF[err.code];
    if (status === 429 || status === 503) res.setHeader('Retry-After', '1');
    res.status(status).json({ error: err.message, code: err.code });
    return;
  }
  Logger.error(err instanceof Error ? (err.stack ?? err.message) : errorMessage(err), 'LineProtocol');
  res.status(500).json({ error: 'internal error', code: ErrorCode.INTERNAL });
}
