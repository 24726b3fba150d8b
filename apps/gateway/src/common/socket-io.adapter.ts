import type { INestApplicationContext } from '@nestjs/common';
import { IoAdapter } from '@nestjs/platform-socket.io';
import { createAdapter } from '@socket.io/redis-adapter';
import type { IncomingMessage } from 'node:http';
import type { Server, ServerOptions, Socket } from 'socket.io';
import type { RedisConnections } from './redis.connections';

/** What the adapter applies to every namespace: operator auth and the origin allowlist (built by auth/socket-auth.ts). */
export interface SocketSecurity {
  /** Namespace middleware: runs once per socket, at connect. */
  middleware: (socket: Socket, next: (err?: Error) => void) => void;
  /** engine.io `allowRequest`: the origin allowlist, for polling and WebSocket alike. */
  allowRequest: (req: IncomingMessage) => boolean;
}

/** Socket.IO options for every namespace, set in one place. */
export class GatewayIoAdapter extends IoAdapter {
  constructor(
    app: INestApplicationContext,
    private readonly corsOrigins: string[],
    private readonly maxHttpBufferSize: number,
    /** Operator auth and the origin allowlist, applied to every namespace (including ones added later). */
    private readonly security: SocketSecurity | undefined,
    /**
     * Several nodes: rooms span nodes through Redis, so an operator on any node gets the readings of a device that
     * sends to any other node; null: one node.
     */
    private readonly redis: RedisConnections | null,
  ) {
    super(app);
  }

  /**
   * Nest calls this for every socket of every gateway and builds an rxjs `disconnect$` pipeline per socket even when
   * the gateway has no `@SubscribeMessage` handler; our gateways bind their requests themselves, so skip it then.
   */
  override bindMessageHandlers(...args: Parameters<IoAdapter['bindMessageHandlers']>): void {
    if (args[1].length > 0) super.bindMessageHandlers(...args);
  }

  override createIOServer(port: number, options?: ServerOptions): Server {
    const security = this.security;
    const server = super.createIOServer(port, {
      ...options,
      // The raw `ws` ingest endpoint shares the HTTP server: engine.io must leave upgrades it does not own alone.
      destroyUpgrade: false,
      // Live telemetry is small and frequent: compression costs CPU per frame for little gain.
      perMessageDeflate: false,
      maxHttpBufferSize: this.maxHttpBufferSize,
      cors: this.corsOrigins.length ? { origin: this.corsOrigins, credentials: true } : undefined,
      serveClient: false,
      ...(security ? { allowRequest: (req, cb) => cb(null, security.allowRequest(req)) } : {}),
    } satisfies Partial<ServerOptions>) as Server;
    if (this.redis) {
      server.adapter(createAdapter(this.redis.pub, this.redis.sub, { key: this.redis.key('socket.io') }));
    }
    if (security) {
      server.use(security.middleware);
      server.on('new_namespace', (ns) => ns.use(security.middleware));
    }
    return server;
  }
}
