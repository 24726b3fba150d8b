import type { INestApplicationContext } from '@nestjs/common';
import { IoAdapter } from '@nestjs/platform-socket.io';
import type { Server, ServerOptions } from 'socket.io';

/** Socket.IO options for every namespace, set in one place. */
export class GatewayIoAdapter extends IoAdapter {
  constructor(
    app: INestApplicationContext,
    private readonly corsOrigins: string[],
    private readonly maxHttpBufferSize: number,
  ) {
    super(app);
  }

  override createIOServer(port: number, options?: ServerOptions): Server {
    return super.createIOServer(port, {
      ...options,
      // The raw `ws` ingest endpoint shares the HTTP server: engine.io must leave upgrades it does not own alone.
      destroyUpgrade: false,
      // Live telemetry is small and frequent: compression costs CPU per frame for little gain.
      perMessageDeflate: false,
      maxHttpBufferSize: this.maxHttpBufferSize,
      cors: this.corsOrigins.length ? { origin: this.corsOrigins, credentials: true } : undefined,
      serveClient: false,
    }) as Server;
  }
}
