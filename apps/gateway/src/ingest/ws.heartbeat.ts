import type { WebSocket } from 'ws';

/**
 * How long a WebSocket close handshake may take before the socket is cut. `ws` waits 30 s by default for a peer that
 * never answers the close frame (a device that lost its network): that would hold a shutdown or a token revocation.
 */
export const WS_CLOSE_TIMEOUT_MS = 2000;

/** `WebSocketServer` option (ws 8.19+; not yet in @types/ws) bounding every close handshake. */
export const WS_CLOSE_OPTIONS: { closeTimeout: number } = { closeTimeout: WS_CLOSE_TIMEOUT_MS };

/**
 * Pings every open WebSocket ingest connection each `intervalMs`; a connection that has not answered the previous
 * ping with a pong by the next tick is terminated (no close handshake: the peer is gone or stuck). The transport's
 * `close` handler then runs as for any other close, so the device goes offline in presence at once, not after
 * DEVICE_OFFLINE_AFTER_MS of silence. A peer is given between one and two intervals to answer.
 */
export class WsHeartbeat {
  private readonly alive = new WeakMap<WebSocket, boolean>();
  /** Open connections and the device each speaks for. */
  private readonly sockets = new Map<WebSocket, string>();
  private timer: NodeJS.Timeout | null = null;

  constructor(
    private readonly intervalMs: number,
    /** Told when the heartbeat cut a device's last open connection: the device is gone. */
    private readonly onDead: (deviceId: string) => void = () => {},
  ) {}

  /** Watches one connection until it closes. */
  track(ws: WebSocket, deviceId: string): void {
    this.alive.set(ws, true);
    this.sockets.set(ws, deviceId);
    ws.on('pong', () => this.alive.set(ws, true));
    ws.once('close', () => this.sockets.delete(ws));
    if (this.timer === null && this.intervalMs > 0) {
      this.timer = setInterval(() => this.tick(), this.intervalMs);
      this.timer.unref();
    }
  }

  get size(): number {
    return this.sockets.size;
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }

  /** One round: cut the connections that did not answer the last ping, ping the others. */
  tick(): void {
    const dead: string[] = [];
    for (const [ws, deviceId] of this.sockets) {
      if (ws.readyState !== ws.OPEN) continue;
      if (this.alive.get(ws) !== true) {
        this.sockets.delete(ws);
        ws.terminate();
        dead.push(deviceId);
        continue;
      }
      this.alive.set(ws, false);
      ws.ping();
    }
    // A device with another connection that still answers is not gone.
    const live = new Set(this.sockets.values());
    for (const deviceId of new Set(dead)) if (!live.has(deviceId)) this.onDead(deviceId);
    if (this.sockets.size === 0) this.stop();
  }
}
