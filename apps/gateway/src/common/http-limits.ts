import type { Server as HttpServer } from 'node:http';
import type { Socket } from 'node:net';
import { ErrorCode } from '@fieldline/contracts';
import type { HttpLimits } from '../config/server.config';
import type { ClientAddresses } from './client-address';

/** How often Node checks the header and request timeouts (its default, 30 s, would let a 10 s timeout run to 40 s). */
const TIMEOUT_CHECK_MS = 1000;

const BUSY_BODY = JSON.stringify({
  code: ErrorCode.RATE_LIMITED,
  message: 'too many open connections from this address (HTTP_CONNECTIONS_PER_ADDRESS)',
});
const BUSY = `HTTP/1.1 503 Service Unavailable\r\nConnection: close\r\nRetry-After: 1\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(BUSY_BODY)}\r\n\r\n${BUSY_BODY}`;

/** Connections refused by {@link limitHttpServer}'s per-address cap. */
export interface HttpLimitStats {
  refusedConnections: number;
}

/**
 * Bounds what a peer holds on the HTTP port before it authenticates: the request line and headers must arrive within
 * `headersTimeoutMs` and the whole request within `requestTimeoutMs` (Node answers 408 and closes; a slowloris client
 * is cut), idle kept-alive connections close after `keepAliveTimeoutMs`, and one remote address may hold at most
 * `connectionsPerAddress` connections that are not upgraded; one more is answered 503 and closed at once, before any
 * of it is parsed. An upgraded connection (WebSocket ingest, Socket.IO) leaves the count: it is authenticated then,
 * and bounded per device or operator instead. A trusted proxy (TRUSTED_PROXIES) is not capped: its connections carry
 * many clients, whose limits are the proxy's. Call before the server listens.
 */
export function limitHttpServer(server: HttpServer, limits: HttpLimits, addresses: ClientAddresses): HttpLimitStats {
  server.headersTimeout = limits.headersTimeoutMs;
  server.requestTimeout = limits.requestTimeoutMs;
  server.keepAliveTimeout = limits.keepAliveTimeoutMs;
  // Read when the server starts listening (Node 20 and 24), so it may be set on an existing server.
  (server as HttpServer & { connectionsCheckingInterval: number }).connectionsCheckingInterval = TIMEOUT_CHECK_MS;
  const stats: HttpLimitStats = { refusedConnections: 0 };
  const open = new Map<string, number>();
  const counted = new WeakMap<Socket, string>();
  const release = (socket: Socket): void => {
    const address = counted.get(socket);
    if (address === undefined) return;
    counted.delete(socket);
    const n = (open.get(address) ?? 1) - 1;
    if (n > 0) open.set(address, n);
    else open.delete(address);
  };
  // Listeners added before Nest's and the transports' ones: a refused socket is gone before anyone parses it.
  server.prependListener('connection', (socket: Socket) => {
    const address = socket.remoteAddress ?? '';
    if (addresses.isProxy(address)) return;
    const n = open.get(address) ?? 0;
    if (n >= limits.connectionsPerAddress) {
      stats.refusedConnections++;
      socket.on('error', () => socket.destroy());
      // Destroyed once the answer is written (before the next read), so Node's parser never sees its request.
      socket.write(BUSY, () => socket.destroy());
      return;
    }
    open.set(address, n + 1);
    counted.set(socket, address);
    socket.once('close', () => release(socket));
  });
  server.prependListener('upgrade', (_req, socket: Socket) => release(socket));
  return stats;
}
