import { createHash, timingSafeEqual } from 'node:crypto';
import { createGunzip } from 'node:zlib';
import { Controller, Get, HttpCode, Inject, Logger, Post, Req, Res } from '@nestjs/common';
import type { Request, Response } from 'express';
import { ErrorCode, errorMessage, FieldlineError, HTTP_STATUS_OF } from '@fieldline/contracts';
import { Public } from '../common/access';
import { DeviceAuth } from '../auth/device-auth.service';
import { CONFIG, type GatewayConfig } from '../config/config';
import { bridgeAllows, type LineBridge } from '../config/line-protocol.config';
import { IngestPipeline } from './ingest.pipeline';
import { LineProtocolIngest, type LineWriter } from './line-protocol.ingest';
import { LINE_PRECISIONS, type LinePrecision } from './line-protocol.parser';

/** Largest line-protocol body, after gzip: about 40,000 Telegraf lines (Telegraf sends 1,000 per batch by default). */
export const LINE_PROTOCOL_MAX_BODY_BYTES = 8 * 1024 * 1024;

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
  ) {
    this.ingest = new LineProtocolIngest(pipeline, config.lineProtocol.deviceTag);
    this.bridges = config.lineProtocol.bridges;
  }

  @Public()
  @Get('ping')
  @HttpCode(204)
  ping(@Res({ passthrough: true }) res: Response): void {
    res.setHeader('X-Influxdb-Version', '1.8-fieldline');
  }

  /** Telegraf and the influx CLI send `CREATE DATABASE` (and `SHOW DATABASES`); the store needs neither. */
  @Public()
  @Post('query')
  query(): { results: { statement_id: number }[] } {
    return { results: [{ statement_id: 0 }] };
  }

  @Public()
  @Post('write')
  async writeV1(@Req() req: Request, @Res() res: Response): Promise<void> {
    await this.write(req, res, 'v1');
  }

  @Public()
  @Post('api/v2/write')
  async writeV2(@Req() req: Request, @Res() res: Response): Promise<void> {
    await this.write(req, res, 'v2');
  }

  private async write(req: Request, res: Response, api: 'v1' | 'v2'): Promise<void> {
    try {
      const writer = await this.writer(req);
      const precision = precisionOf(req.query.precision, api);
      const text = await readBody(req);
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
      if (retry) {
        const s = Math.max(1, Math.ceil(Number(retry.details?.retryAfterMs ?? 1000) / 1000));
        throw new LineHttpError(
          HTTP_STATUS_OF[retry.code],
          `${retry.message}${accepted > 0 ? ` (${accepted} lines before it were stored)` : ''}`,
          retry.code,
          s,
        );
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
    if (token === null)
      throw new LineHttpError(
        401,
        'authorization failed: send the device or bridge token as Authorization: Token <token> (or Basic, or u/p)',
        ErrorCode.UNAUTHORIZED,
      );
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
  if (typeof p === 'string' && (LINE_PRECISIONS as readonly string[]).includes(p)) return p as LinePrecision;
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
async function readBody(req: Request): Promise<string> {
  if (Buffer.isBuffer(req.body)) return req.body.toString('utf8');
  if ((req as { _body?: boolean })._body === true)
    throw new LineHttpError(400, 'send line protocol as text/plain, not as JSON', ErrorCode.INVALID_REQUEST);
  const enc = String(req.headers['content-encoding'] ?? 'identity').toLowerCase();
  if (enc !== 'gzip' && enc !== 'identity')
    throw new LineHttpError(
      400,
      `unsupported Content-Encoding ${enc.slice(0, 20)}: gzip or none`,
      ErrorCode.INVALID_REQUEST,
    );
  const declared = Number(req.headers['content-length']);
  if (Number.isFinite(declared) && declared > LINE_PROTOCOL_MAX_BODY_BYTES) throw tooLarge();
  const source = enc === 'gzip' ? req.pipe(createGunzip()) : req;
  const chunks: Buffer[] = [];
  let size = 0;
  try {
    for await (const chunk of source as AsyncIterable<Buffer>) {
      size += chunk.length;
      if (size > LINE_PROTOCOL_MAX_BODY_BYTES) {
        req.unpipe();
        req.resume();
        throw tooLarge();
      }
      chunks.push(chunk);
    }
  } catch (err) {
    if (err instanceof LineHttpError) throw err;
    throw new LineHttpError(400, `unreadable body: ${errorMessage(err)}`, ErrorCode.INVALID_REQUEST);
  }
  return Buffer.concat(chunks).toString('utf8');
}

const tooLarge = (): LineHttpError =>
  new LineHttpError(
    413,
    `request body too large: at most ${LINE_PROTOCOL_MAX_BODY_BYTES} bytes (after gzip); send smaller batches`,
    ErrorCode.MESSAGE_TOO_LARGE,
  );

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
