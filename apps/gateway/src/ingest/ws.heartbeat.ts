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
 * ping with a pong by the next tick is terminated (no close handshake: the peer is gone or stuck). When a device's
 * last open connection closes, for whatever reason (the device closed it, the network cut it, the heartbeat did),
 * the device is reported gone, so presence shows it offline at once rather than after DEVICE_OFFLINE_AFTER_MS of
 * silence. A peer is given between one and two intervals to answer.
 */
export class WsHeartbeat {
  private readonly alive = new WeakMap<WebSocket, boolean>();
  /** Open connections and the device each speaks for. */
  private readonly sockets = new Map<WebSocket, string>();
  /** Open connections per device. */
  private readonly perDevice = new Map<string, number>();
  private timer: NodeJS.Timeout | null = null;

  constructor(
    private readonly intervalMs: number,
    /** Told when a device's last open connection closed: the device is gone. */
    private readonly onDead: (deviceId: string) => void = () => {},
  ) {}

  /** Watches one connection until it closes. */
  track(ws: WebSocket, deviceId: string): void {
    this.alive.set(ws, true);
    this.sockets.set(ws, deviceId);
    ws.on('pong', () => this.alive.set(ws, true));
    this.perDevice.set(deviceId, (this.perDevice.get(deviceId) ?? 0) + 1);
    ws.once('close', () => {
      this.sockets.delete(ws);
      const left = (this.perDevice.get(deviceId) ?? 1) - 1;
      if (left > 0) {
        this.perDevice.set(deviceId, left);
        return;
      }
      this.perDevice.delete(deviceId);
      this.onDead(deviceId);
    });
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

  /** One round: cut the connections that did not answer the last ping (their close reports the device), ping the others. */
  tick(): void {
    for (const [ws] of this.sockets) {
      if (ws.readyState !== ws.OPEN) continue;
      if (this.alive.get(ws) !== true) {
        ws.terminate();
        continue;
      }
      this.alive.set(ws, false);
      ws.ping();
    }
    if (this.sockets.size === 0) this.stop();
  }
}
