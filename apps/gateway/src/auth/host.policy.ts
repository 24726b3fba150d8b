import { type IncomingMessage, type Server as HttpServer, type ServerResponse, STATUS_CODES } from 'node:http';
import { isIPv4, isIPv6 } from 'node:net';
import type { Duplex } from 'node:stream';
import { ErrorCode, HTTP_STATUS_OF, REQUEST_ID_HEADER } from '@fieldline/contracts';
import { requestIdFor } from '../common/request-id';
import type { AllowedHosts } from '../config/server.config';

/**
 * Whether the gateway answers to `host` (a `Host` header: `name`, `name:port`, `1.2.3.4:80`, `[::1]:3000`).
 *
 * DNS rebinding makes a page from the attacker's domain same-origin with the gateway (the name is re-pointed at the
 * gateway's address), so the browser's `Origin` and `Host` agree and carry the attacker's name. The one thing it cannot
 * forge is that name, so the name is what is checked: IP addresses and `localhost` (`*.localhost` too, which browsers
 * resolve to loopback) cannot be the attacker's and always pass; any other name must be configured. A missing `Host`
 * (HTTP/1.0 scripts) is no browser's and passes.
 */
export function hostAllowed(host: string | undefined, allowed: AllowedHosts): boolean {
  if (allowed.any || host === undefined) return true;
  const h = host.trim().toLowerCase();
  if (h.startsWith('[')) {
    const end = h.indexOf(']');
    return end > 0 && isIPv6(h.slice(1, end)) && /^(:\d{1,5})?$/.test(h.slice(end + 1));
  }
  const colon = h.lastIndexOf(':');
  const name = (colon < 0 ? h : h.slice(0, colon)).replace(/\.$/, '');
  const port = colon < 0 ? '' : h.slice(colon + 1);
  if (port !== '' && !/^\d{1,5}$/.test(port)) return false;
  if (isIPv4(name) || name === 'localhost' || name.endsWith('.localhost')) return true;
  for (const entry of allowed.names) {
    if (entry.startsWith('.')) {
      if (name === entry.slice(1) || name.endsWith(entry)) return true;
    } else if (entry.includes(':')) {
      if (entry === `${name}:${port}`) return true;
    } else if (entry.replace(/\.$/, '') === name) return true;
  }
  return false;
}

/** Counts of requests refused for their `Host`, by how they came (a plain request or a WebSocket upgrade). */
export interface HostRefusals {
  http: number;
  upgrade: number;
}

/**
 * Refuses every HTTP request and upgrade whose `Host` is not allowed with `421 HOST_NOT_ALLOWED {code, message}`,
 * before any listener sees it: Express (and so every route, body parser and guard), engine.io (Socket.IO handshakes,
 * polling and upgrades) and the `/ingest` upgrade all hang off the server's `request` and `upgrade` events, and they
 * attach at different moments (Nest at create, engine.io at init, `/ingest` at start), so the check sits on the
 * events' dispatch itself rather than racing them for the first listener. Returns the refusal counts.
 */
export function refuseUnknownHosts(server: HttpServer, allowed: AllowedHosts): HostRefusals {
  const refused: HostRefusals = { http: 0, upgrade: 0 };
  if (allowed.any) return refused;
  const emit = server.emit.bind(server) as (event: string | symbol, ...args: unknown[]) => boolean;
  server.emit = function (event: string | symbol, ...args: unknown[]): boolean {
    if (event === 'request' || event === 'upgrade') {
      const req = args[0] as IncomingMessage;
      if (!hostAllowed(req.headers.host, allowed)) {
        const body = JSON.stringify({ code: ErrorCode.HOST_NOT_ALLOWED, message: refusal(req.headers.host) });
        if (event === 'request') {
          refused.http++;
          answer(req, args[1] as ServerResponse, body);
        } else {
          refused.upgrade++;
          answerUpgrade(args[1] as Duplex, body);
        }
        return true;
      }
    }
    return emit(event, ...args);
  } as HttpServer['emit'];
  return refused;
}

const STATUS = HTTP_STATUS_OF[ErrorCode.HOST_NOT_ALLOWED];

function refusal(host: string | undefined): string {
  // The name is the client's: bounded, and JSON-escaped by the body it goes into.
  return `this gateway does not answer to the host name ${JSON.stringify(String(host).slice(0, 100))}; its operator lists the names it does in PUBLIC_URL or ALLOWED_HOSTS`;
}

function answer(req: IncomingMessage, res: ServerResponse, body: string): void {
  // The connection is closed after the answer: a body the client sends on is not read, and it gets no second try.
  res.writeHead(STATUS, {
    connection: 'close',
    [REQUEST_ID_HEADER]: requestIdFor(req.headers),
    'content-type': 'application/json; charset=utf-8',
    'content-length': Buffer.byteLength(body),
  });
  res.end(body);
}

function answerUpgrade(socket: Duplex, body: string): void {
  // Node leaves an upgrade's socket without an error listener; a reset before the answer is out is not ours to raise.
  socket.on('error', () => socket.destroy());
  socket.end(
    `HTTP/1.1 ${STATUS} ${STATUS_CODES[STATUS]}\r\nConnection: close\r\nContent-Type: application/json; charset=utf-8\r\n` +
      `Content-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
  );
}
