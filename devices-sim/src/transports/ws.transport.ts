import WebSocket from 'ws';
import {
  Backoff,
  CommandFrameType,
  type DeviceMessageFrame,
  type ReconnectOptions,
  INGEST_PATH,
} from '@fieldline/contracts';
import { type CommandResponder, parseDelivery } from '../commands';
import { Deque } from '../deque';
import { BAD_REPLY, outcomeOfWsReply, parseWsReply } from '../replies';
import { type OutMessage, sleepMs, type Transport, TransportError, type TransportSink, waitFor } from './transport';

export interface WsTransportOptions {
  /** Gateway HTTP base URL, e.g. `http://127.0.0.1:3000` (ws:// and wss:// work too). */
  url: string;
  /** Device token: sent as `Authorization: Bearer` and `?token=`. */
  token?: string;
  /** Frames written and not answered before the device holds back. Default 1000. */
  maxInFlight?: number;
  /** Bytes queued in the socket before the device holds back. Default 1 MiB. */
  maxBufferedBytes?: number;
  /** Reconnect backoff. */
  reconnect?: ReconnectOptions;
  /** Answers `message` frames of the `commands` channel; absent: they are counted as unexpected. */
  commands?: CommandResponder;
}

/** Builds the ingest URL of a device: `ws(s)://host/ingest?deviceId=<id>[&token=...]`. */
export function ingestUrl(base: string, deviceId: string, token?: string): URL {
  const u = new URL(INGEST_PATH, base.replace(/^http/i, 'ws'));
  u.searchParams.set('deviceId', deviceId);
  if (token) u.searchParams.set('token', token);
  return u;
}

/**
 * One WebSocket per device. The gateway answers every frame in order, so answers are matched to frames first in,
 * first out. Frames unanswered when the socket drops are resent (same `seq`) after reconnecting.
 */
export class WsTransport implements Transport {
  private ws: WebSocket | null = null;
  private readonly inFlight = new Deque<OutMessage>();
  private readonly maxInFlight: number;
  private readonly maxBufferedBytes: number;
  private closing = false;
  /** Set by {@link drop}: the close it causes is not counted as a transport error. */
  private dropping = false;
  private readonly backoff: Backoff;
  private reconnectTimer: NodeJS.Timeout | null = null;
  private readonly openWaiters = new Set<() => void>();

  constructor(
    private readonly sink: TransportSink,
    private readonly options: WsTransportOptions,
  ) {
    this.maxInFlight = options.maxInFlight ?? 1000;
    this.maxBufferedBytes = options.maxBufferedBytes ?? 1 << 20;
    this.backoff = new Backoff(options.reconnect);
  }

  get connected(): boolean {
    return this.ws?.readyState === WebSocket.OPEN;
  }

  get writable(): boolean {
    const ws = this.ws;
    return (
      ws !== null &&
      ws.readyState === WebSocket.OPEN &&
      this.inFlight.length < this.maxInFlight &&
      ws.bufferedAmount < this.maxBufferedBytes
    );
  }

  connect(timeoutMs: number): Promise<boolean> {
    this.closing = false;
    if (!this.ws) this.open();
    if (this.connected) return Promise.resolve(true);
    return waitFor((finish) => {
      const onOpen = (): void => finish(true);
      this.openWaiters.add(onOpen);
      return () => this.openWaiters.delete(onOpen);
    }, timeoutMs);
  }

  send(msg: OutMessage): void {
    const ws = this.ws;
    if (!ws || ws.readyState !== WebSocket.OPEN) {
      this.sink.failed([msg], TransportError.NO_REPLY, true);
      return;
    }
    this.inFlight.push(msg);
    ws.send(msg.payload);
  }

  drop(): void {
    if (this.ws?.readyState !== WebSocket.OPEN) return;
    this.dropping = true;
    this.ws.terminate();
  }

  async close(): Promise<void> {
    this.closing = true;
    if (this.reconnectTimer) clearTimeout(this.reconnectTimer);
    this.reconnectTimer = null;
    const ws = this.ws;
    if (!ws) return;
    if (ws.readyState === WebSocket.CLOSED) return;
    const closed = new Promise<void>((resolve) => ws.once('close', () => resolve()));
    if (ws.readyState === WebSocket.OPEN) ws.close(1000, 'device stopping');
    else ws.terminate();
    if (!(await Promise.race([closed.then(() => true), sleepMs(2000).then(() => false)]))) ws.terminate();
  }

  private open(): void {
    const { token } = this.options;
    const ws = new WebSocket(ingestUrl(this.options.url, this.sink.id, token), {
      perMessageDeflate: false,
      handshakeTimeout: 10_000,
      ...(token ? { headers: { Authorization: `Bearer ${token}` } } : {}),
    });
    this.ws = ws;
    let opened = false;
    ws.on('open', () => {
      opened = true;
      this.backoff.up();
      for (const w of [...this.openWaiters]) w();
      this.sink.connected();
    });
    ws.on('message', (data: Buffer) => this.onReply(data));
    ws.on('error', (err) => {
      // Before the upgrade: refused, timed out, or an HTTP answer such as 401 ("Unexpected server response: 401").
      if (opened) return this.sink.error(TransportError.CONNECTION_ERROR);
      const status = /Unexpected server response: (\d{3})/.exec(err.message)?.[1];
      this.sink.error(
        status === '401' ? TransportError.UNAUTHORIZED : status ? `HTTP_${status}` : TransportError.CONNECT_FAILED,
      );
    });
    ws.on('close', (code) => {
      if (this.ws !== ws) return;
      const unanswered = this.inFlight.drain();
      if (opened) {
        this.backoff.down();
        if (!this.closing && !this.dropping && code !== 1000) this.sink.error(`WS_CLOSE_${code}`);
        this.dropping = false;
        this.sink.failed(unanswered, TransportError.NO_REPLY, true, `WS_CLOSE_${code}`);
        this.sink.disconnected(`closed with ${code}`);
      }
      if (!this.closing) this.scheduleReconnect();
    });
  }

  /** A `{type: 'message', channel: 'commands'}` frame: ack at once, result after the delay, on this socket. */
  private onCommand(responder: CommandResponder, data: Buffer): boolean {
    let frame: Partial<DeviceMessageFrame>;
    try {
      frame = JSON.parse(data.toString()) as Partial<DeviceMessageFrame>;
    } catch {
      return false;
    }
    if (frame.type !== 'message' || frame.channel !== 'commands') return false;
    const cmd = parseDelivery(frame.payload);
    const ws = this.ws;
    if (!cmd || !ws) return true;
    const { ack, reply } = responder.answer(cmd);
    if (ack) ws.send(JSON.stringify({ type: CommandFrameType.ack, id: cmd.id }));
    if (reply) {
      responder.later(() => {
        if (ws.readyState === WebSocket.OPEN)
          ws.send(JSON.stringify({ type: CommandFrameType.result, id: cmd.id, ...reply }));
      });
    }
    return true;
  }

  private onReply(data: Buffer): void {
    // Command frames are the gateway's own messages, not answers to a frame of ours.
    if (this.options.commands && data.includes('"message"') && this.onCommand(this.options.commands, data)) return;
    const msg = this.inFlight.shift();
    if (!msg) return this.sink.error(TransportError.UNEXPECTED_REPLY);
    const reply = parseWsReply(data);
    if (reply) this.sink.answered(msg, outcomeOfWsReply(reply, msg.count), { body: reply });
    else this.sink.failed([msg], BAD_REPLY, false);
    this.sink.drained();
  }

  private scheduleReconnect(): void {
    if (this.reconnectTimer) return;
    this.reconnectTimer = setTimeout(() => {
      this.reconnectTimer = null;
      if (!this.closing) this.open();
    }, this.backoff.next());
  }
}
