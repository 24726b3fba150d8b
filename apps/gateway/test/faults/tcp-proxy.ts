import { createConnection, createServer, type Server, type Socket } from 'node:net';

/**
 * A TCP proxy on a loopback port in front of `target`, for cutting a client's network: `cut()` destroys every
 * connection through it (both sides see the TCP connection drop, as with a dropped Wi-Fi) and refuses new ones until
 * `restore()`.
 */
export class TcpProxy {
  private server: Server | null = null;
  private readonly sockets = new Set<Socket>();
  private down = false;
  port = 0;
  /** Connections accepted, and refused while cut. */
  accepted = 0;
  refused = 0;

  constructor(
    private readonly targetPort: number,
    private readonly targetHost = '127.0.0.1',
  ) {}

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  async listen(): Promise<this> {
    const server = createServer((client) => this.onConnection(client));
    this.server = server;
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    this.port = (server.address() as { port: number }).port;
    return this;
  }

  cut(): void {
    this.down = true;
    for (const s of this.sockets) s.destroy();
    this.sockets.clear();
  }

  restore(): void {
    this.down = false;
  }

  async close(): Promise<void> {
    this.cut();
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
  }

  private onConnection(client: Socket): void {
    if (this.down) {
      this.refused++;
      client.destroy();
      return;
    }
    this.accepted++;
    const upstream = createConnection({ port: this.targetPort, host: this.targetHost });
    for (const [a, b] of [
      [client, upstream],
      [upstream, client],
    ] as const) {
      this.sockets.add(a);
      a.on('error', () => b.destroy());
      a.on('close', () => {
        this.sockets.delete(a);
        b.destroy();
      });
    }
    client.pipe(upstream);
    upstream.pipe(client);
  }
}
