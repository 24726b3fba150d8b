import type { IncomingHttpHeaders } from 'node:http';

/**
 * The origin allowlist. A request without an `Origin` header (devices, scripts, server-side clients) is not a
 * browser's cross-site request and passes; one with an `Origin` passes when it is the gateway's own origin (same
 * host as the `Host` header, or `X-Forwarded-Host` behind a proxy) or listed in CORS_ORIGINS.
 */
export function originAllowed(headers: IncomingHttpHeaders, allowlist: readonly string[]): boolean {
  const origin = headers.origin;
  if (origin === undefined) return true;
  if (allowlist.includes(origin)) return true;
  let host: string;
  try {
    const u = new URL(origin);
    if (u.protocol !== 'http:' && u.protocol !== 'https:') return false;
    host = u.host;
  } catch {
    return false; // includes the literal "null" origin of sandboxed frames and file:// pages
  }
  const forwarded = headers['x-forwarded-host'];
  const own = [headers.host, ...(typeof forwarded === 'string' ? forwarded.split(',') : [])];
  return own.some((h) => h !== undefined && h.trim().toLowerCase() === host.toLowerCase());
}
