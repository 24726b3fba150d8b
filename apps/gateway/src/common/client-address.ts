import type { IncomingHttpHeaders } from 'node:http';
import { BlockList, isIP } from 'node:net';
import type { TrustProxy } from '../config/server.config';

/** `::ffff:10.1.2.3` (an IPv4 client on a dual-stack socket) is the IPv4 address it carries. */
function plain(address: string): string {
  const a = address.trim();
  return a.toLowerCase().startsWith('::ffff:') && isIP(a.slice(7)) === 4 ? a.slice(7) : a;
}

/**
 * The address a request comes from, for per-address limits. Without a trusted proxy it is the socket's: a client can
 * write any header it likes, so none is believed. With one (TRUST_PROXY_HEADER, TRUSTED_PROXIES), a request whose
 * socket is a trusted proxy names its client in the header; the list is read from the right (each proxy appends the
 * address it saw) past the trusted proxies, so what a client wrote on the left is never taken.
 */
export class ClientAddresses {
  private readonly trusted: BlockList | null = null;

  constructor(private readonly trust: TrustProxy | null) {
    if (!trust) return;
    this.trusted = new BlockList();
    for (const b of trust.proxies) this.trusted.addSubnet(b.address, b.prefix, b.family);
  }

  of(socketAddress: string | undefined, headers: IncomingHttpHeaders): string {
    const socket = plain(socketAddress ?? '');
    if (!this.trust || !this.isTrusted(socket)) return socket;
    const raw = headers[this.trust.header];
    const hops = (Array.isArray(raw) ? raw.join(',') : (raw ?? '')).split(',').map(plain).filter(Boolean);
    let client = socket;
    for (let i = hops.length - 1; i >= 0; i--) {
      // An entry that is no address ends the walk: the last proxy that spoke is the best we know.
      if (isIP(hops[i]) === 0) break;
      client = hops[i];
      if (!this.isTrusted(client)) break;
    }
    return client;
  }

  /** Whether the client reached us over TLS: the socket's own, or a trusted proxy's `X-Forwarded-Proto: https`. */
  isTls(socket: { remoteAddress?: string; encrypted?: boolean }, headers: IncomingHttpHeaders): boolean {
    if (socket.encrypted) return true;
    if (!this.trust || !this.isTrusted(plain(socket.remoteAddress ?? ''))) return false;
    return (
      String(headers['x-forwarded-proto'] ?? '')
        .split(',')[0]
        .trim() === 'https'
    );
  }

  /** Whether a socket's address is one of the trusted proxies (TRUSTED_PROXIES). */
  isProxy(socketAddress: string | undefined): boolean {
    return this.trust !== null && this.isTrusted(plain(socketAddress ?? ''));
  }

  private isTrusted(address: string): boolean {
    const family = isIP(address);
    return family !== 0 && this.trusted!.check(address, family === 4 ? 'ipv4' : 'ipv6');
  }
}
