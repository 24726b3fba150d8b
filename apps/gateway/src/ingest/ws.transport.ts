import type { IncomingMessage, Server as HttpServer } from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocketServer, type WebSocket } from 'ws';
import {
  CommandFrameType,
  COMMAND_LIMITS,
  type DeviceMessage,
  type DeviceMessageFrame,
  ErrorCode,
  FieldlineError,
  INGEST_PATH,
  type IngestReply,
  isValidDeviceId,
  LIMITS,
  type SendOutcome,
  WsCloseCode,
  errorMessage,
} from '@fieldline/contracts';
import { bearerToken } from '../auth/bearer-token';
import type { DeviceAuth } from '../auth/device-auth.service';
import { originAllowed, type OriginRules, SAME_ORIGIN_ANY_HOST } from '../auth/origin.policy';
import { rawSocketOf } from '../common/third-party.patches';
import type { DeviceEvents } from './device-events';
import type { DeviceTransport, TransportContext } from './device-transport';
import type { IngestPipeline } from './ingest.pipeline';
import { WS_CLOSE_OPTIONS, type WsHeartbeat } from './ws.heartbeat';
import type { Logger as AppLogger } from '../common/logger';

/** What this part logs with: a subset of the gateway's one logger (`logger()`), so tests pass a stub. */
type Logger = Pick<AppLogger, 'warn'>;

/**
 * Raw WebSocket ingest on the gateway's HTTP port (`GET /ingest`). Not a Nest gateway: Nest allows one WebSocket
 * adapter per app and that one is Socket.IO's, so `ws` runs in `noServer` mode and this class routes `upgrade`
 * requests by path. Socket.IO's engine is told not to destroy upgrades it does not own (`destroyUpgrade: false`),
 * so upgrades for unknown paths are refused here.
 *
 * The device token (`Authorization: Bearer` or `?token=`) is checked once, at the upgrade; the connection is then
 * bound to that device: every reading on it is that device's (a payload naming another device is refused with
 * DEVICE_ID_MISMATCH). Refusals at the upgrade are plain HTTP answers: 401 (no or bad token), 403 (the `deviceId`
 * query names another device, or a browser origin not allowed), 429 (the device already holds `connections` open
 * connections). A token revoked or rotated later closes the connection with 1008.
 *
 * Replies the device leaves unread (acks and error replies alike) are bounded: past `replyBufferBytes` waiting in the
 * gateway the connection is closed with 4008 (counted in {@link backlogCloses}); other connections are not touched.
 */
export class WsIngestTransport implements DeviceTransport {
  readonly kind = 'ws';
  readonly name = 'ws';
  private readonly wss = new WebSocketServer({
    noServer: true,
    maxPayload: LIMITS.maxMessageBytes,
    perMessageDeflate: false,
    ...WS_CLOSE_OPTIONS,
  });
  private server: HttpServer | null = null;
  private closing = false;
  private readonly byDevice = new Map<string, Set<WebSocket>>();
  private readonly unlisten: () => void;
  /** Connections closed because their device did not read its replies. */
  backlogCloses = 0;

  constructor(
    private readonly pipeline: IngestPipeline,
    private readonly log: Logger,
    private readonly devices: DeviceAuth,
    private readonly origins: OriginRules = SAME_ORIGIN_ANY_HOST,
    /** Pings connections and cuts silent ones (see ws.heartbeat.ts); null: no heartbeat. */
    private readonly heartbeat: WsHeartbeat | null = null,
    private readonly socketIoPath = '/socket.io/',
    private readonly budget: WsBudget = { connections: 10, replyBufferBytes: 1024 ** 2 },
    /** Where command acks and results go, and who hears of new connections; null: commands are not answered. */
    private readonly events: DeviceEvents | null = null,
  ) {
    this.unlisten = devices.onRevoked((deviceId) => {
      for (const ws of this.byDevice.get(deviceId) ?? []) ws.close(WsCloseCode.policy, 'device token revoked');
    });
  }

  /** Routes the HTTP server's upgrade requests for `/ingest` here. */
  start({ httpServer }: TransportContext): Promise<void> {
    this.server = httpServer;
    httpServer.on('upgrade', this.onUpgrade);
    return Promise.resolve();
  }

  get ready(): boolean {
    return this.server !== null && !this.closing;
  }

  get connections(): number {
    return this.wss.clients.size;
  }

  /** Shutdown, first step: refuses new upgrades (503 SHUTTING_DOWN); open connections stay until {@link close}. */
  stopAccepting(): void {
    this.closing = true;
  }

  /** Resolves once the replies to every frame received so far are out (they wait for the spool's group commit). */
  drain(): Promise<void> {
    return new Promise((resolve) => this.pipeline.afterDurable(() => resolve()));
  }

  /** A `{type: 'message'}` frame on each of the device's open connections. */
  send(deviceId: string, message: DeviceMessage): Promise<SendOutcome> {
    const sockets = this.byDevice.get(deviceId);
    if (!sockets || sockets.size === 0) return Promise.resolve('offline');
    const frame: DeviceMessageFrame = { type: 'message', ...message };
    const text = JSON.stringify(frame);
    for (const ws of sockets) {
      ws.send(text);
      this.checkBacklog(ws, deviceId);
    }
    return Promise.resolve('sent');
  }

  /** Stops taking connections and closes open ones with 1001 (going away). */
  async close(): Promise<void> {
    this.closing = true;
    this.unlisten();
    this.heartbeat?.stop();
    this.server?.off('upgrade', this.onUpgrade);
    for (const ws of this.wss.clients) ws.close(WsCloseCode.goingAway, 'gateway shutting down');
    await new Promise<void>((resolve) => this.wss.close(() => resolve()));
    for (const ws of this.wss.clients) ws.terminate();
  }

  private readonly onUpgrade = (req: IncomingMessage, socket: Duplex, head: Buffer): void => {
    // One owner per path, decided on the path as sent, the way engine.io decides (a prefix test on the raw URL):
    // `/socket.io/../ingest` is engine.io's alone, and `/ingest/../ingest` names no endpoint of ours.
    const rawPath = (req.url ?? '/').split('?', 1)[0];
    if (rawPath.startsWith(this.socketIoPath)) return; // engine.io's
    const url = new URL(req.url ?? '/', 'http://gateway');
    // Node leaves an upgraded socket without an error listener; until `ws` takes it over, a reset is ours to swallow.
    const onError = (): void => void socket.destroy();
    socket.on('error', onError);
    if (rawPath !== INGEST_PATH)
      return refuseUpgrade(socket, 404, ErrorCode.NOT_FOUND, `no WebSocket endpoint at ${url.pathname}`);
    if (this.closing) return refuseUpgrade(socket, 503, ErrorCode.SHUTTING_DOWN, 'the gateway is shutting down');
    if (!originAllowed(req.headers, this.origins)) {
      return this.refuse(socket, 403, ErrorCode.FORBIDDEN, `origin ${String(req.headers.origin)} is not allowed`);
    }
    const claimed = url.searchParams.get('deviceId') ?? undefined;
    if (claimed !== undefined && !isValidDeviceId(claimed)) {
      return this.refuse(
        socket,
        400,
        ErrorCode.INVALID_DEVICE_ID,
        'deviceId must be 1–64 characters of A-Z a-z 0-9 _ . -',
      );
    }
    const token = bearerToken(req.headers.authorization) ?? url.searchParams.get('token');
    this.devices.verify(token).then(
      (deviceId) => {
        if (socket.destroyed) return;
        if (this.closing) return refuseUpgrade(socket, 503, ErrorCode.SHUTTING_DOWN, 'the gateway is shutting down');
        if (deviceId === null) {
          const message =
            token === null ? 'a device token is required (Authorization: Bearer or ?token=)' : 'invalid device token';
          return this.refuse(socket, 401, ErrorCode.UNAUTHORIZED, message);
        }
        if (claimed !== undefined && claimed !== deviceId) {
          return this.refuse(socket, 403, ErrorCode.FORBIDDEN, `this token belongs to another device than ${claimed}`);
        }
        const held = this.byDevice.get(deviceId)?.size ?? 0;
        if (held >= this.budget.connections) {
          return this.refuse(
            socket,
            429,
            ErrorCode.RATE_LIMITED,
            `device ${deviceId} already holds ${held} WebSocket connections (DEVICE_WS_CONNECTIONS=${this.budget.connections})`,
          );
        }
        socket.off('error', onError);
        // handleUpgrade calls onConnection synchronously, so the next upgrade's check sees this connection.
        this.wss.handleUpgrade(req, socket, head, (ws) => this.onConnection(ws, deviceId));
      },
      (err: unknown) => {
        // The registry is unreachable (its store is down) for a token the cache has never seen: retry later.
        const code = err instanceof FieldlineError ? err.code : ErrorCode.INTERNAL;
        this.log.warn(`ws ingest token check failed: ${errorMessage(err)}`, { transport: 'ws', code });
        refuseUpgrade(socket, 503, code, 'the device registry is unavailable; try again later');
      },
    );
  };

  private refuse(socket: Duplex, status: number, code: ErrorCode, message: string): void {
    this.pipeline.refuse('ws', code);
    refuseUpgrade(socket, status, code, message);
  }

  private onConnection(ws: WebSocket, deviceId: string): void {
    let set = this.byDevice.get(deviceId);
    if (!set) this.byDevice.set(deviceId, (set = new Set()));
    set.add(ws);
    this.heartbeat?.track(ws, deviceId);
    ws.once('close', () => {
      set.delete(ws);
      if (set.size === 0 && this.byDevice.get(deviceId) === set) this.byDevice.delete(deviceId);
    });
    ws.on('error', (err) => this.log.warn(`ws ingest ${deviceId}: ${err.message}`, { transport: 'ws', deviceId }));
    // Replies wait, in frame order, until the readings they ack are in the spool (one callback per group commit).
    let queued: string[] | null = null;
    let paused = false;
    const release = (err?: Error): void => {
      const q = queued!;
      queued = null;
      if (ws.readyState !== ws.OPEN) return;
      if (err) {
        // Not durable: no ack. The device resends what it holds unacknowledged on its next connection.
        ws.close(WS_INTERNAL_ERROR, 'store unavailable');
        return;
      }
      // One write for the whole group's replies, not one syscall per frame.
      const socket = rawSocketOf(ws);
      socket.cork();
      for (let i = 0; i < q.length; i++) ws.send(q[i]);
      process.nextTick(uncork, socket);
      if (this.checkBacklog(ws, deviceId)) return;
      if (paused) {
        paused = false;
        ws.resume();
      }
    };
    ws.on('message', (data: Buffer, isBinary) => {
      if (isBinary && !Buffer.isBuffer(data)) data = Buffer.concat(data);
      // Readings are the hot path: a command frame costs them one byte search, and is parsed only on a match.
      if (
        data.length <= MAX_COMMAND_FRAME_BYTES &&
        data.includes(COMMAND_FRAME_MARK) &&
        this.commandFrame(ws, data, deviceId)
      )
        return;
      const reply = this.reply(data, deviceId);
      const text = JSON.stringify(reply);
      if (queued === null) {
        if (reply.type !== 'ack') {
          // An error reply goes out at once; a device that never reads them is cut here, not buffered for.
          ws.send(text);
          this.checkBacklog(ws, deviceId);
          return;
        }
        queued = [text];
        this.pipeline.afterDurable(release);
      } else {
        queued.push(text);
        // Backpressure: a device that outruns the group commit stops being read until its acks are out.
        if (queued.length >= WS_MAX_UNACKED && !paused) {
          paused = true;
          ws.pause();
        }
      }
    });
    this.events?.connected(deviceId);
  }

  /**
   * A `command_ack` or `command_result` frame: handed to the command service, answered only when refused (an `error`
   * reply). False when the frame is not one (a reading that merely contains the marker): the pipeline takes it.
   */
  private commandFrame(ws: WebSocket, data: Buffer, deviceId: string): boolean {
    let frame: unknown;
    try {
      frame = JSON.parse(data.toString('utf8'));
    } catch {
      return false;
    }
    if (typeof frame !== 'object' || frame === null) return false;
    const { type, id } = frame as { type?: unknown; id?: unknown };
    if (type !== CommandFrameType.ack && type !== CommandFrameType.result) return false;
    if (!this.events) return true;
    let refusal: ReturnType<DeviceEvents['reply']> = null;
    if (typeof id !== 'string' || id.length === 0 || id.length > 64) {
      refusal = { code: ErrorCode.INVALID_MESSAGE, message: `a ${type} frame needs the command's id` };
      this.events.refusedReplies++;
    } else if (type === CommandFrameType.ack) this.events.ack(deviceId, id);
    else refusal = this.events.reply(deviceId, id, frame);
    if (refusal) {
      this.pipeline.refuse('ws', refusal.code);
      ws.send(JSON.stringify({ type: 'error', seq: null, ...refusal } satisfies IngestReply));
      this.checkBacklog(ws, deviceId);
    }
    return true;
  }

  /**
   * Closes `ws` with 4008 when more than `replyBufferBytes` of what was sent on it is still in the gateway (the
   * device does not read). Its socket is cut after the close timeout if the close frame cannot get out either.
   */
  private checkBacklog(ws: WebSocket, deviceId: string): boolean {
    if (ws.bufferedAmount <= this.budget.replyBufferBytes || ws.readyState !== ws.OPEN) return false;
    this.backlogCloses++;
    this.log.warn(`ws ingest ${deviceId}: ${ws.bufferedAmount} bytes of replies unread; connection closed`);
    ws.pause();
    ws.close(WsCloseCode.repliesWaiting, 'too many replies waiting');
    return true;
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
      this.log.warn(`ws ingest failed: ${err instanceof Error ? err.stack : String(err)}`, {
        transport: 'ws',
        code: ErrorCode.INTERNAL,
      });
      return { type: 'error', seq: null, code: ErrorCode.INTERNAL, message: 'internal error' };
    }
  }
}

/** What one device may hold on WebSocket ingest. */
export interface WsBudget {
  /** Open connections per device; one more upgrade is answered 429. */
  connections: number;
  /** Bytes of replies a connection may leave unread before it is closed with 4008. */
  replyBufferBytes: number;
}

/** Close code 1011 (internal error): the spool could not take the readings; nothing on the connection was acked. */
const WS_INTERNAL_ERROR = 1011;

/** Marks a frame that may be a command ack or result (`"type": "command_ack" | "command_result"`). */
const COMMAND_FRAME_MARK = Buffer.from('"command_'); // bytes once: a string marker is encoded on every search
/** Larger frames are never command frames (a result is bounded). */
const MAX_COMMAND_FRAME_BYTES = COMMAND_LIMITS.maxResultBytes + 1024;

/** Frames of one connection awaiting the group commit before the socket is paused. */
const WS_MAX_UNACKED = 1000;

/** Best effort: a refused whole message still names its seq when it has one at the top level. */
function seqOf(data: Buffer): number | null {
  if (data.length > LIMITS.maxMessageBytes) return null;
  const m = /"seq"\s*:\s*(\d{1,15})/.exec(data.toString('utf8'));
  return m ? Number(m[1]) : null;
}

const STATUS_TEXT: Record<number, string> = {
  400: 'Bad Request',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'Not Found',
  429: 'Too Many Requests',
  503: 'Service Unavailable',
};

function refuseUpgrade(socket: Duplex, status: number, code: ErrorCode, message: string): void {
  const body = JSON.stringify({ code, message });
  const auth = status === 401 ? 'WWW-Authenticate: Bearer realm="fieldline-devices"\r\n' : '';
  socket.end(
    `HTTP/1.1 ${status} ${STATUS_TEXT[status] ?? 'Error'}\r\nConnection: close\r\n${auth}Content-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
  );
}

const uncork = (socket: Duplex): void => socket.uncork();
