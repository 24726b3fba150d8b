import type { IncomingMessage, Server as HttpServer } from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocketServer, type WebSocket } from 'ws';
import {
  ErrorCode,
  FieldlineError,
  INGEST_PATH,
  type IngestReply,
  isValidDeviceId,
  LIMITS,
  WsCloseCode,
} from '@fieldline/contracts';
import type { IngestPipeline } from './ingest.pipeline';

interface Logger {
  warn(msg: string): void;
}

/**
 * Raw WebSocket ingest on the gateway's HTTP port (`GET /ingest`). Not a Nest gateway: Nest allows one WebSocket
 * adapter per app and that one is Socket.IO's, so `ws` runs in `noServer` mode and this class routes `upgrade`
 * requests by path. Socket.IO's engine is told not to destroy upgrades it does not own (`destroyUpgrade: false`),
 * so upgrades for unknown paths are refused here.
 */
export class WsIngestTransport {
  private readonly wss = new WebSocketServer({
    noServer: true,
    maxPayload: LIMITS.maxMessageBytes,
    perMessageDeflate: false,
  });
  private server: HttpServer | null = null;
  private closing = false;

  constructor(
    private readonly pipeline: IngestPipeline,
    private readonly log: Logger,
    private readonly socketIoPath = '/socket.io/',
  ) {}

  attach(server: HttpServer): void {
    this.server = server;
    server.on('upgrade', this.onUpgrade);
  }

  get connections(): number {
    return this.wss.clients.size;
  }

  /** Stops taking connections and closes open ones with 1001 (going away). */
  async close(): Promise<void> {
    this.closing = true;
    this.server?.off('upgrade', this.onUpgrade);
    for (const ws of this.wss.clients) ws.close(WsCloseCode.goingAway, 'gateway shutting down');
    await new Promise<void>((resolve) => this.wss.close(() => resolve()));
    for (const ws of this.wss.clients) ws.terminate();
  }

  private readonly onUpgrade = (req: IncomingMessage, socket: Duplex, head: Buffer): void => {
    const url = new URL(req.url ?? '/', 'http://gateway');
    if (url.pathname.startsWith(this.socketIoPath)) return; // engine.io's
    if (url.pathname !== INGEST_PATH)
      return refuseUpgrade(socket, 404, ErrorCode.NOT_FOUND, `no WebSocket endpoint at ${url.pathname}`);
    if (this.closing) return refuseUpgrade(socket, 503, ErrorCode.SHUTTING_DOWN, 'the gateway is shutting down');
    const deviceId = url.searchParams.get('deviceId') ?? undefined;
    if (deviceId !== undefined && !isValidDeviceId(deviceId)) {
      return refuseUpgrade(
        socket,
        400,
        ErrorCode.INVALID_DEVICE_ID,
        'deviceId must be 1–64 characters of A-Z a-z 0-9 _ . -',
      );
    }
    this.wss.handleUpgrade(req, socket, head, (ws) => this.onConnection(ws, deviceId));
  };

  private onConnection(ws: WebSocket, deviceId: string | undefined): void {
    ws.on('error', (err) => this.log.warn(`ws ingest ${deviceId ?? '?'}: ${err.message}`));
    ws.on('message', (data: Buffer, isBinary) => {
      if (isBinary && !Buffer.isBuffer(data)) data = Buffer.concat(data);
      ws.send(JSON.stringify(this.reply(data, deviceId)));
    });
  }

  private reply(data: Buffer, deviceId: string | undefined): IngestReply {
    try {
      const parsed = this.pipeline.ingest(data, 'ws', deviceId);
      const { readings, errors } = parsed;
      if (readings.length === 0) {
        const e = errors[0];
        return parsed.batch
          ? {
              type: 'error',
              seq: null,
              code: e.code,
              message: `no reading accepted: ${e.message}`,
              details: { errors },
            }
          : {
              type: 'error',
              seq: e.seq ?? null,
              code: e.code,
              message: e.message,
              ...(e.details ? { details: e.details } : {}),
            };
      }
      if (!parsed.batch) return { type: 'ack', seq: readings[0].seq ?? null, accepted: 1 };
      const seqs: number[] = [];
      for (const r of readings) if (r.seq !== undefined) seqs.push(r.seq);
      const reply: IngestReply = {
        type: 'ack',
        seq: seqs.length ? seqs[seqs.length - 1] : null,
        seqs,
        accepted: readings.length,
      };
      if (errors.length) reply.errors = errors;
      return reply;
    } catch (err) {
      if (err instanceof FieldlineError) {
        return {
          type: 'error',
          seq: seqOf(data),
          code: err.code,
          message: err.message,
          ...(err.details ? { details: err.details } : {}),
        };
      }
      this.log.warn(`ws ingest failed: ${err instanceof Error ? err.stack : String(err)}`);
      return { type: 'error', seq: null, code: ErrorCode.INTERNAL, message: 'internal error' };
    }
  }
}

/** Best effort: a refused whole message still names its seq when it has one at the top level. */
function seqOf(data: Buffer): number | null {
  if (data.length > LIMITS.maxMessageBytes) return null;
  const m = /"seq"\s*:\s*(\d{1,15})/.exec(data.toString('utf8'));
  return m ? Number(m[1]) : null;
}

function refuseUpgrade(socket: Duplex, status: number, code: ErrorCode, message: string): void {
  const body = JSON.stringify({ code, message });
  const reason = status === 404 ? 'Not Found' : status === 400 ? 'Bad Request' : 'Service Unavailable';
  socket.end(
    `HTTP/1.1 ${status} ${reason}\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
  );
}
